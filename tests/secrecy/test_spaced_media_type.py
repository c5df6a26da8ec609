"""A media type with white space or a comment at its slash (red team of 7 Dec 2026).

`Content-Type: multipart /mixed; boundary=BB` is a multipart to Dovecot (its
BODYSTRUCTURE showed the PDF part, as for a tab, a folded line or a comment before the
slash), and `message/ rfc822` a forwarded letter. Python took the first for a type it
does not know ("multipart " is no multipart) and read the whole body as text, the PDF's
base64 letters with it; the second's letter was no forwarded letter to the gateway. A
ลับมาก PDF or a forwarded ลับมาก letter so sent was registered ordinary and filed in
plaintext, a ลับที่สุด one taken with a 250. The header blocks are read as Dovecot reads
them: the type and subtype around the slash without white space or comments."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
HEAD = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
        b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <spaced-type@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n")
TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n"


def _with_pdf(content_type: bytes, pdf: bytes) -> bytes:
    data = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return (HEAD + b"Content-Type: " + content_type + b"\r\n\r\n--BB\r\n" + TEXT
            + b'--BB\r\nContent-Type: application/pdf; name="2569_dds_0403_57.pdf"\r\n'
              b"Content-Transfer-Encoding: base64\r\n\r\n" + data + b"\r\n--BB--\r\n")


def _forwarding(content_type: bytes, inner: bytes) -> bytes:
    return (HEAD + b"Content-Type: multipart/mixed; boundary=OO\r\n\r\n--OO\r\n" + TEXT
            + b"--OO\r\nContent-Type: " + content_type + b"\r\n\r\n" + inner + b"\r\n--OO--\r\n")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("content_type", [b"multipart /mixed; boundary=BB", b"multipart\t/\tmixed; boundary=BB",
                                          b"multipart\r\n /mixed; boundary=BB", b"multipart(x)/mixed; boundary=BB",
                                          b"multipart /mixed;\r\n boundary=BB"],
                         ids=["space", "tabs", "folded", "comment", "folded after"])
def test_a_multipart_so_written_is_read_part_by_part(secret_pdf, content_type):
    raw = _with_pdf(content_type, secret_pdf)
    assert classify_raw(raw).level == "secret"
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


def test_a_forwarded_letter_so_written_is_read():
    inner = letter(subject="ลับมาก แผนรักษาความปลอดภัย")
    assert classify_raw(_forwarding(b"message/ rfc822", inner)).level == "secret"
    assert classify_raw(_forwarding(b"message /rfc822", inner)).level == "secret"


def test_a_body_line_that_looks_like_such_a_header_is_not_changed(secret_pdf):
    """Only header blocks are read again: a text file's line is its own."""
    note = b"Content-Type: multipart /mixed\r\n boundary=CC"
    raw = (HEAD + b"Content-Type: multipart /mixed; boundary=BB\r\n\r\n--BB\r\n"
           b'Content-Type: text/plain; name="note.txt"\r\nContent-Disposition: attachment; filename="note.txt"\r\n\r\n'
           + note + b"\r\n--BB--\r\n")
    assert [a.data for a in parse_mail(raw).attachments] == [note]


def test_over_smtp_a_top_secret_pdf_in_such_a_multipart_is_refused_at_data(tmp_path):
    raw = _with_pdf(b"multipart /mixed; boundary=BB", thai_pdf(top="ลับที่สุด"))
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(raw, LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
