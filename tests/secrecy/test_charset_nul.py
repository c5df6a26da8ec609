"""A NUL or an 8-bit byte in a charset label (red team of 7 Dec 2026).

`codecs.lookup` raises ValueError, not LookupError, on a label holding a NUL, and the
gateway's label reader let it through: a text part labelled `charset="utf-8\\0"` made
the whole letter's parse fail (at least ลับ, uncertain: a ลับที่สุด PDF beside it was taken
with a 250, and an ordinary letter was sealed and held as unreadable), and a file name
`filename*=utf-8\\0''%E0...` was no name at all, its ลับที่สุด unread: ordinary and
certain. Dovecot and Thunderbird end the label at the NUL (a C string) and read UTF-8."""
from __future__ import annotations

import base64

import pytest

from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.letters import make_pdf
from tests.secrecy.test_commented_media_type import HEAD, LAT


def _letter(text_part_header: bytes, pdf: bytes, pdf_disposition: bytes = b"attachment") -> bytes:
    return (HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + text_part_header
            + b"\r\n\r\nsee the file\r\n--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
              b"Content-Disposition: " + pdf_disposition + b"\r\n\r\n"
            + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"\r\n--BB--\r\n")


NAME = "ลับที่สุด_2569_dds_0403_57.pdf".encode()


@pytest.mark.parametrize("label", [b'"utf-8\x00"', b"\x00", b'"windows-874\x00x"'])
def test_a_text_part_so_labelled_leaves_the_letter_readable(label):
    raw = _letter(b"Content-Type: text/plain; charset=" + label, thai_pdf(top="ลับที่สุด"))
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("top_secret", True), found
    ordinary = classify_raw(_letter(b"Content-Type: text/plain; charset=" + label, make_pdf("cover letter")))
    assert (ordinary.level, ordinary.certain) == ("none", True), ordinary


def test_a_file_name_so_labelled_is_read():
    quoted = "".join(f"%{b:02X}" for b in NAME).encode()
    raw = _letter(b"Content-Type: text/plain", make_pdf("cover letter"),
                  b"attachment; filename*=utf-8\x00''" + quoted)
    found = classify_raw(raw)
    assert (found.level, found.where) == ("top_secret", "file 1 name")


def test_over_smtp_a_top_secret_pdf_beside_such_a_label_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        raw = _letter(b'Content-Type: text/plain; charset="utf-8\x00"', thai_pdf(top="ลับที่สุด"))
        code, text = d.data_reply(raw, LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
