"""Comments within comments, and a quoted-pair in a comment (red team of 7 Dec 2026).

RFC 5322 lets a comment hold another and a quoted-pair (`((x))`, `(\\))`), and Dovecot
2.3 skips them so (its BINARY fetch gave the PDF, found by comparing it with the
gateway's reading on generated letters). The gateway took a comment to end at its first
`)`: `Content-Transfer-Encoding: ((x))base64` read as ") base64", no encoding it knows,
and a PDF so sent was its base64 letters; `Content-Type: (\\))multipart/mixed` was one
text. A ลับที่สุด PDF either way was ordinary and certain, taken with a 250 and filed in
plaintext."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.secrecy.test_commented_media_type import HEAD, LAT, _letter


def _encoded(encoding: bytes, pdf: bytes) -> bytes:
    return (HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\n"
            b"see the file\r\n--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: " + encoding
            + b'\r\nContent-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n\r\n'
            + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"\r\n--BB--\r\n")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("encoding", [b"((x))base64", b"(\\))base64", b"base64((x))", b"(x) ((y)) base64"])
def test_a_transfer_encoding_behind_nested_comments_is_decoded(secret_pdf, encoding):
    raw = _encoded(encoding, secret_pdf)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), found
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


@pytest.mark.parametrize("content_type", [b"(\\))multipart/mixed; boundary=BB", b"multipart(\\))/mixed; boundary=BB",
                                          b"((x))multipart/mixed; boundary=BB"])
def test_a_media_type_behind_nested_comments_is_read(secret_pdf, content_type):
    raw = _letter(content_type, secret_pdf)
    assert (classify_raw(raw).level, [a.data for a in parse_mail(raw).attachments]) == ("secret", [secret_pdf])


def test_over_smtp_a_top_secret_pdf_so_encoded_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_encoded(b"((x))base64", thai_pdf(top="ลับที่สุด")), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
