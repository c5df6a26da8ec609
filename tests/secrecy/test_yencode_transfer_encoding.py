"""`Content-Transfer-Encoding: x-yencode` (red team of 7 Dec 2026).

Thunderbird decodes a part so labelled (libmime's MimeLeaf picks its yEnc decoder,
mimeenc.cpp `mime_decode_yenc_buffer`: from a `=ybegin line=N size=N name=` line to a
`=yend size=` line, each byte less 42) and shows the PDF. The stdlib leaves the part as
it came, so the gateway read bytes of no kind: a ลับที่สุด PDF so sent was ordinary and
certain, taken with a 250 and filed in the unit's folder in plaintext."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def yenc(data: bytes, width: int = 128) -> bytes:
    """`data` as yEnc 1.3 writes it (NUL, LF, CR and '=' escaped)."""
    out = bytearray(b"=ybegin line=%d size=%d name=2569_dds_0403_57.pdf\r\n" % (width, len(data)))
    line = bytearray()
    for byte in data:
        code = (byte + 42) % 256
        line += b"=" + bytes([(code + 64) % 256]) if code in (0, 10, 13, 61) else bytes([code])
        if len(line) >= width:
            out += line + b"\r\n"
            line = bytearray()
    return bytes(out + line + b"\r\n=yend size=%d\r\n" % len(data))


def _letter(payload: bytes, content_type: bytes = b"application/pdf", encoding: bytes = b"x-yencode") -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <yenc@dds.bangkok.go.th>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n--BB\r\nContent-Type: " + content_type
            + b"\r\nContent-Transfer-Encoding: " + encoding
            + b'\r\nContent-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n\r\n' + payload + b"\r\n--BB--\r\n")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("encoding", [b"x-yencode", b"X-YEncode", b"x-yencode (yEnc)"])
def test_a_yencoded_pdf_is_read_as_thunderbird_decodes_it(secret_pdf, encoding):
    raw = _letter(yenc(secret_pdf), encoding=encoding)
    found = classify_raw(raw)
    assert (found.level, found.certain, found.where) == ("secret", True, "file 1 page 1")
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


def test_a_yencoded_body_is_read():
    raw = _letter(yenc("ลับมาก\r\nเรื่อง แผนงาน\r\n".encode()), content_type=b"text/plain; charset=utf-8")
    assert classify_raw(raw).level == "secret"


def test_lines_longer_than_thunderbird_reads_whole_leave_the_letter_uncertain():
    raw = _letter(yenc(b"x" * 5000, width=2000), content_type=b"application/octet-stream")
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("confidential", False)


def test_over_smtp_a_yencoded_top_secret_pdf_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter(yenc(thai_pdf(top="ลับที่สุด"))), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
