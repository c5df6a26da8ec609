"""DATA as the protocol reads it: wherever the network splits the bytes, the message
ends at the first <CRLF>.<CRLF> and nowhere else, over the size limit too."""
from __future__ import annotations

import asyncio

import pytest

from gateway.intake.smtp_protocol import MemorySink, read_data, unstuff

MESSAGES = [
    b"Subject: a\r\n\r\nline one\r\nends with a dot.\r\n..stuffed\r\nlast\r\n",
    b"",  # an empty message is just ".\r\n"
    b"\r\n",  # one empty line
    b".\r\n" * 3,  # stuffed lone dots (on the wire: "..\r\n")
    b"x.\r\n.\r\nnot\r\n",  # stuffed
]


def _stuff(message: bytes) -> bytes:
    return (b"\r\n" + message).replace(b"\r\n.", b"\r\n..")[2:]


async def _read(pieces: list[bytes], limit: int | None) -> tuple[bool, MemorySink, bytes]:
    reader = asyncio.StreamReader(limit=1 << 16)
    sink = MemorySink()
    task = asyncio.create_task(read_data(reader, sink, limit))
    for piece in pieces:
        reader.feed_data(piece)
        await asyncio.sleep(0)  # each piece is one read
    reader.feed_eof()
    complete = await task
    rest = await reader.read()
    return complete, sink, rest


@pytest.mark.parametrize("message", MESSAGES)
def test_every_split_point_gives_the_message_and_leaves_the_next_command(message):
    wire = _stuff(message) + b".\r\nNOOP\r\n"
    for cut in range(len(wire) + 1):
        for second in (cut, min(len(wire), cut + 1), min(len(wire), cut + 3)):
            pieces = [wire[:cut], wire[cut:second], wire[second:]]
            complete, sink, rest = asyncio.run(_read([p for p in pieces if p], None))
            assert complete
            assert sink.getvalue() == message, (cut, second)
            assert rest == b"NOOP\r\n", (cut, second)


def test_a_dot_at_a_read_boundary_past_the_size_limit_does_not_end_the_message():
    # The old reader kept only the last 4 bytes behind a fake CRLF once over the limit:
    # a read ending "abc.\r\nX" looked like a terminator and the rest became commands.
    head = b"Subject: big\r\n\r\n" + b"A" * 3000 + b"\r\n"
    smuggled = b"RSET\r\nMAIL FROM:<evil@example.org>\r\n"
    pieces = [head + b"abc.\r\nX", b"YZ\r\n" + smuggled + b"tail\r\n.\r\nQUIT\r\n"]
    complete, sink, rest = asyncio.run(_read(pieces, limit=1024))
    assert complete
    assert sink.size > 1024  # refused as too big, after reading to the real terminator
    assert rest == b"QUIT\r\n"


def test_over_the_limit_nothing_more_is_kept_than_the_limit():
    body = b"Subject: x\r\n\r\n" + (b"B" * 998 + b"\r\n") * 200
    pieces = [body[i:i + 5000] for i in range(0, len(body), 5000)] + [b".\r\n"]
    complete, sink, _ = asyncio.run(_read(pieces, limit=10_000))
    assert complete and sink.size == len(body)
    assert len(sink.getvalue()) <= 10_000


def test_a_client_gone_mid_message_is_not_complete():
    complete, _, _ = asyncio.run(_read([b"Subject: half\r\n\r\nhalf a letter"], None))
    assert not complete


def test_unstuff_matches_the_stream():
    assert unstuff(_stuff(MESSAGES[0])) == MESSAGES[0]
