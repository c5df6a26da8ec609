"""Base64 that goes on after its padding makes the letter at least ลับ (leak red team,
30 Nov 2026).

A part encoded in chunks, each padded, and joined ("QUJD" "RA==" "RUZH..."): Python's
decoder stops at the first padding, so the gateway read the first chunk only, while a
client that decodes on shows the rest, a ลับที่สุด line or the PDF page after it. The
gateway cannot know which the clerk's client shows, so it cannot say the letter is not
classified. Since session 41 the rest is read too (a ลับที่สุด there is refused)."""
from __future__ import annotations

import base64

from gateway.secrecy.markings import classify_raw
from tests.secrecy.test_mime_hidden_markings import HEAD, subject


def body_in_chunks(*chunks: str) -> bytes:
    encoded = b"\r\n".join(base64.b64encode(chunk.encode()) for chunk in chunks)
    return (HEAD + subject("ขอส่งแผนการปฏิบัติงาน") + b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n")


def test_base64_after_its_padding_makes_the_letter_at_least_confidential():
    found = classify_raw(body_in_chunks("เรียน ผู้อำนวยการเขตลาดกระบัง\n", "ขอส่งแผน\n"))
    assert (found.level, found.certain) == ("confidential", False)


def test_what_the_rest_says_is_read_since_session_41():
    """tests/secrecy/test_past_padding_session41.py: the rest is decoded and read too."""
    raw = body_in_chunks("เรียน ผู้อำนวยการเขตลาดกระบัง\n", "ขอส่งแผน\nลับที่สุด\n")
    assert classify_raw(raw).level == "top_secret"


def test_base64_padded_only_at_its_end_reads_as_before():
    raw = body_in_chunks("เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งแผน\nลับมาก\n")
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True)
    found = classify_raw(body_in_chunks("เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งแผน\n"))
    assert (found.level, found.certain) == ("none", True)
