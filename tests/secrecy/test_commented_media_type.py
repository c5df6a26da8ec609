"""A comment before or after a media type (red team of 7 Dec 2026).

`Content-Type: (x)multipart/mixed; boundary=BB` is a multipart to Dovecot 2.3 (its
BODYSTRUCTURE showed the text and the PDF, found by comparing its reading with the
gateway's on generated letters), and `(x)message/rfc822` a forwarded letter. Python took
"(x)multipart" for a type it does not know and read the whole letter as one text, its PDF
as base64 letters: a ลับที่สุด PDF so sent was ordinary and certain, taken with a 250
and filed in the unit's folder in plaintext."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
HEAD = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
        b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <commented-type@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n")


def _pdf_part(pdf: bytes) -> bytes:
    return (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n\r\n'
            + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"\r\n")


def _letter(content_type: bytes, pdf: bytes) -> bytes:
    return (HEAD + b"Content-Type: " + content_type + b"\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"see the file\r\n--BB\r\n" + _pdf_part(pdf) + b"--BB--\r\n")


def _nested(content_type: bytes, pdf: bytes) -> bytes:
    return (HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\n"
            b"see the file\r\n--BB\r\nContent-Type: " + content_type + b"\r\n\r\n--CC\r\n" + _pdf_part(pdf)
            + b"--CC--\r\n--BB--\r\n")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("content_type", [b"(x)multipart/mixed; boundary=BB", b" (x) multipart/mixed; boundary=BB",
                                          b"\r\n\t(x)multipart/mixed; boundary=BB", b"((x)y)multipart/mixed; boundary=BB"],
                         ids=["comment", "spaced", "folded", "nested comment"])
def test_a_multipart_with_a_comment_before_its_type_is_read_part_by_part(secret_pdf, content_type):
    raw = _letter(content_type, secret_pdf)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), found
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


def test_a_nested_multipart_so_written_is_read(secret_pdf):
    assert classify_raw(_nested(b"(x)multipart/mixed; boundary=CC", secret_pdf)).level == "secret"
    assert classify_raw(_nested(b"multipart/mixed (x); boundary=CC", secret_pdf)).level == "secret"


def test_a_forwarded_letter_so_typed_is_read():
    raw = (HEAD + b"Content-Type: multipart/mixed; boundary=OO\r\n\r\n--OO\r\nContent-Type: text/plain\r\n\r\nfwd\r\n"
           b"--OO\r\nContent-Type: (x)message/rfc822\r\n\r\nSubject: " + "ลับมาก แผนงาน".encode()
           + b"\r\nFrom: saraban.dds@bangkok.go.th\r\n\r\nsee\r\n--OO--\r\n")
    assert classify_raw(raw).level == "secret"


def test_over_smtp_a_top_secret_pdf_under_a_commented_type_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter(b"(x)multipart/mixed; boundary=BB", thai_pdf(top="ลับที่สุด")), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
