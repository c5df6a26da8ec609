"""Session 55: a refused letter's Message-ID was read in the event loop that serves every
SMTP session, with the email package's parser over its whole header block and a decode
of the whole value, to keep 998 characters of it.

A ลับที่สุด (top secret) letter is refused at the end of DATA and its Message-ID kept
in the record of the refusal. A Message-ID of 26,000 encoded words in an unknown
charset (234 KB, under the header limit) cost that read ~0.1-0.4 s each; attackers
repeating such letters from a few addresses held the loop most of the time, and an
honest sender's small letter took 2.7-4.7 s to its 250 instead of ~0.1 s. Now the
header is found by a regular expression and only its first 8 KiB decoded."""
from __future__ import annotations

import email
import email.policy
import threading
import time

import pytest

from tests.classified.helpers import db_rows
from tests.hostile.smtp_raw import Raw

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
FLOOD_ID = b"=?x?q?a?=" * 26000  # 234 KB of encoded words in a charset no one knows


def _top_secret(message_id: bytes) -> bytes:
    return (b"From: someone@example.org\r\nMessage-ID: " + message_id
            + "\r\nSubject: ลับที่สุด เรื่อง ทดสอบ\r\n\r\nbody\r\n.\r\n".encode("utf-8"))


def _session(port: int, source: str, data: bytes) -> bytes:
    with Raw(port, source=source) as client:
        assert client.reply().startswith(b"220")
        assert client.cmd("EHLO hostile.example").startswith(b"250")
        assert client.cmd("MAIL FROM:<someone@example.org>").startswith(b"250")
        assert client.cmd(f"RCPT TO:<{LATKRABANG}>").startswith(b"250")
        assert client.cmd("DATA").startswith(b"354")
        client.send(data)
        said = client.reply()
        client.cmd("QUIT")
        return said


def test_refusing_letters_with_a_huge_message_id_does_not_hold_other_senders(daemon_factory):
    d = daemon_factory().start()
    refused: list[bytes] = []
    stop = threading.Event()

    def attacker(source: str) -> None:
        while not stop.is_set():
            refused.append(_session(d.port, source, _top_secret(FLOOD_ID)))

    attackers = [threading.Thread(target=attacker, args=(f"127.0.1.{i}",)) for i in range(1, 9)]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(1.0)
        took = []
        for i in range(5):
            started = time.monotonic()
            said = _session(d.port, "127.0.0.9",
                            b"From: saraban.dds@bangkok.go.th\r\nSubject: ordinary %d\r\n\r\nx\r\n.\r\n" % i)
            took.append(time.monotonic() - started)
            assert said.startswith(b"250 2.0.0 queued as"), said
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in attackers:
            thread.join()

    assert refused and all(r.startswith(b"550 5.7.0 top-secret") and r.isascii() for r in refused), set(refused)
    # Measured, not asserted (the suite's machine is shared): before, 2.7-4.7 s each on a
    # 2-core machine; now about what a short Message-ID costs (0.1-0.4 s). What bounds it
    # is asserted below (test_only_the_head_of_a_huge_message_id_is_decoded).

    # Every refusal is recorded, and a readable Message-ID with it.
    assert _session(d.port, "127.0.0.9", _top_secret(b"<ts-55@example.org>")).startswith(b"550 5.7.0")
    d.wait_for(lambda: db_rows(d, "select 1 from refusals where message_id = '<ts-55@example.org>'"),
               what="the refusal with its Message-ID recorded")
    d.wait_for(lambda: len(db_rows(d, "select 1 from refusals where reason = 'top_secret'")) == len(refused) + 1,
               what="every refusal recorded")


HEADERS = [
    b"From: a\r\nMessage-ID: <abc@x>\r\n\r\nb",
    b"From: a\r\nmessage-id:<abc@x>\r\n\r\nb",
    b"From: a\r\nMessage-ID:\r\n <abc@x>\r\n\r\nb",
    b"From: a\r\nMessage-ID: <a\r\n\tbc@x>\r\nX: y\r\n\r\nb",
    b"From: a\nMessage-ID: <abc@x>\n\nb",
    b"From: a\rMessage-ID: <cr@x>\r\rb",
    b"From: a\r\nMessage-ID: =?utf-8?b?4Lil4Lix4Lia?=\r\n\r\nb",
    b"From: a\r\nMessage-ID: <\xe0\xb8\xa5@x>\r\n\r\nb",
    b"From: a\r\nX-Message-ID: <no@x>\r\n\r\nb",
    b"From: a\r\nMessage-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\nb",
    b"From: a\r\nSubject: x\r\n\r\nMessage-ID: <in-the-body@x>\r\n",
    b"From: a\r\nMessage-ID: \r\n\r\nb",
    b"From: a@b\r\n" + b"X: y\r\n" * 20000 + b"Message-ID: <late@x>\r\n\r\nb",
]


@pytest.mark.parametrize("raw", HEADERS, ids=range(len(HEADERS)))
def test_the_message_id_read_is_the_email_packages(raw):
    from email.header import decode_header, make_header

    from gateway.intake.smtp_handler import _header

    value = email.message_from_bytes(raw, policy=email.policy.compat32).get("message-id")
    expected = str(make_header(decode_header(value)))[:998] if value and str(value).strip() else None
    assert _header(raw, "message-id") == expected


def test_only_the_head_of_a_huge_message_id_is_decoded(monkeypatch):
    """What the refusal's record costs is bounded whatever the Message-ID: its value is
    found by one search and at most _HEADER_DECODED bytes of it are decoded (the whole
    234 KB of encoded words were, by the email package, 0.1-0.4 s a refusal)."""
    from gateway.intake import smtp_handler

    decoded: list[int] = []
    real = smtp_handler.decode_header
    monkeypatch.setattr(smtp_handler, "decode_header", lambda value: decoded.append(len(value)) or real(value))
    monkeypatch.setattr(email, "message_from_bytes", lambda *a, **k: pytest.fail("the whole block parsed"))
    for flood in (FLOOD_ID, b"=?utf-8?q?a?=" * 26000):  # a charset no one knows, and UTF-8
        decoded.clear()
        said = smtp_handler._header(_top_secret(flood), "message-id")
        assert said is None or 0 < len(said) <= 998
        assert decoded and max(decoded) <= smtp_handler._HEADER_DECODED < len(flood) // 10
    assert said == "a" * len(said) and len(said) >= 600  # whole words only: no "=?" left of a cut one
