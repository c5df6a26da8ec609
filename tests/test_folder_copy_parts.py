"""The stamped letter added to a folder copy is a part every client shows: inside the
multipart body, never after its closing boundary (the epilogue, which no client shows),
whatever newlines the sender's message uses (gateway/pipeline/mime_attach.py)."""
from __future__ import annotations

import email
import email.policy

import pytest

from gateway.delivery.folder_copy import build_folder_copy
from gateway.delivery.wire import on_the_wire
from gateway.pipeline.mime_attach import add_attachment

LF = (b'From: a@b\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BB"\n\n'
      b"--BB\nContent-Type: text/plain\n\nhello\n--BB\nContent-Type: application/pdf\n"
      b'Content-Disposition: attachment; filename="a.pdf"\n\nJVBERi0=\n--BB--\n')
CRLF = LF.replace(b"\n", b"\r\n")

SHAPES = {
    "bare LF": LF,
    "CRLF": CRLF,
    # smtplib ends a bare-LF message with the CRLF of its terminator: a CRLF near the
    # start no longer makes the whole message CRLF (no blank line was then found).
    "bare LF ending in CRLF": LF + b"\r\n",
    # An epilogue that repeats the closing line: the first one closes the body.
    "epilogue repeating the closing line": CRLF + b"epilogue\r\n--BB--\r\n",
    "epilogue repeating it, bare LF": LF + b"more\n--BB--  \n",
    # A line that only starts like the closing delimiter is not one.
    "a line starting with the closing delimiter": CRLF.replace(
        b"hello\r\n", b"hello\r\n--BB--not-the-end\r\n"),
}


def _files(data: bytes) -> list[str | None]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    return [part.get_filename() for part in message.walk() if not part.is_multipart()]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_stamped_letter_is_a_part_of_the_folder_copy_a_client_shows(shape):
    copy = build_folder_copy(SHAPES[shape], "1/2569", "saraban.latkrabang", "general", "x", "q" * 24)
    stamped = add_attachment(copy, "a.stamped.pdf", b"%PDF-1.4 stamped")
    for data in (stamped, on_the_wire(stamped)):  # the Maildir copy and the IMAP one
        files = _files(data)
        assert files[-1] == "a.stamped.pdf" and "a.pdf" in files, (shape, files)
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert not (message.epilogue or "").count("stamped"), shape
