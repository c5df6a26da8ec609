"""A boundary of 8-bit bytes, or with more after its quoted value (red team of 7 Dec 2026).

`boundary="ลับ"` in raw UTF-8 with `--ลับ` delimiter lines is a multipart to Dovecot 2.3
(its BODYSTRUCTURE showed the text and the PDF, boundary {9} bytes), and so is
`boundary="BB"x`, whose boundary Dovecot reads as "BB". The stdlib made U+FFFD of the
8-bit parameter and kept `"BB"x` whole, found no delimiter, and the letter was only ลับ:
a ลับที่สุด PDF the clerk's folder showed was taken with a 250, a ลับมาก one registered as
ลับ."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.secrecy.test_boundary_comments import LAT, _letter

CASES = {  # (parameter, delimiter), as Dovecot 2.3.19 reads each
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


def test_over_smtp_a_top_secret_pdf_behind_an_8bit_boundary_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter('boundary="ลับ"', "ลับ", thai_pdf(top="ลับที่สุด")), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
