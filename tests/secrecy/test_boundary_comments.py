"""A boundary parameter with comments around it or a quoted-pair in it (red team of 7 Dec
2026).

`boundary=(x)BB`, `boundary=BB(x)`, `boundary="BB" (x)`, `boundary="B\\B"`: Dovecot
2.3 reads the boundary as RFC 2045 writes it, "BB", and its BODYSTRUCTURE showed the
text and the PDF. Python kept "(x)BB" or "B\\B", found no delimiter, and the letter was
only ลับ, uncertain: a ลับที่สุด PDF the clerk's folder would show was taken with a 250
(and sealed to the registrar as ลับ) where it must be refused at DATA, a ลับมาก one was
registered as ลับ.

So with a boundary of 8-bit bytes (`boundary="ลับ"` in raw UTF-8, `--ลับ` delimiter lines:
Dovecot's BODYSTRUCTURE showed the parts, boundary {9} bytes) and with more after the
quoted value (`boundary="BB"x`, "BB" to Dovecot): the stdlib made U+FFFD of the 8-bit
parameter and kept `"BB"x` whole."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def _letter(parameter: str, delimiter: str, pdf: bytes) -> bytes:
    data = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    dash = b"--" + delimiter.encode()
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <boundary-cfws@dds.bangkok.go.th>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; " + parameter.encode() + b"\r\n\r\n"
            + dash + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n"
            + dash + b"\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
              b'Content-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n\r\n'
            + data + b"\r\n" + dash + b"--\r\n")


CASES = {  # as Dovecot 2.3.19 reads each (its BODYSTRUCTURE: text and PDF, boundary "BB")
    "comment before": ("boundary=(x)BB", "BB"),
    "comment after": ("boundary=BB(x)", "BB"),
    "nested comment": ("boundary=(x(y))BB", "BB"),
    "quoted, comment after": ('boundary="BB" (x)', "BB"),
    "comment, quoted": ('boundary=(x) "BB"', "BB"),
    "quoted-pair": ('boundary="B\\B"', "BB"),
    "escaped quote": ('boundary="B\\"B"', 'B"B'),
    "8-bit boundary": ('boundary="ลับ"', "ลับ"),
    "8-bit token": ("boundary=ลับBB", "ลับBB"),
    "more after the quotes": ('boundary="BB"x', "BB"),
}


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_boundary_is_read_as_dovecot_reads_it(secret_pdf, case):
    raw = _letter(*CASES[case], secret_pdf)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), found
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


def test_a_backslash_the_sender_escaped_stays_one(secret_pdf):
    raw = _letter('boundary="B\\\\B"', "B\\B", secret_pdf)
    assert classify_raw(raw).level == "secret"


def test_over_smtp_a_top_secret_pdf_behind_a_commented_or_8bit_boundary_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        for parameter, delimiter in (("boundary=(x)BB", "BB"), ('boundary="ลับ"', "ลับ")):
            code, text = d.data_reply(_letter(parameter, delimiter, thai_pdf(top="ลับที่สุด")), LAT)
            assert code == 550 and text.startswith(b"5.7.0"), (parameter, code, text)
    finally:
        d.stop()
