"""Comments around a boundary parameter's name (red team of 7 Dec 2026).

`multipart/mixed; (x) boundary=CC`, `boundary(x)=CC`, `boundary\\r\\n\\t(x)=CC`: Dovecot
2.3 reads the parameter as boundary=CC and showed the PDF inside (found by comparing its
BINARY fetch with the gateway's reading on generated letters). Python named the
parameter "(x) boundary" or "boundary(x)", so a nested multipart so written had no
boundary and was one text to it: a ลับที่สุด PDF inside was ordinary and certain, taken
with a 250 and filed in plaintext."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.secrecy.test_boundary_comments import LAT
from tests.secrecy.test_commented_media_type import _letter, _nested

PARAMETERS = {
    "comment before the name": b"multipart/mixed; (x) boundary=CC",
    "comment before the =": b"multipart/mixed; boundary(x)=CC",
    "spaced comment": b"multipart/mixed; boundary (x) = CC",
    "folded": b"multipart/mixed; boundary\r\n\t(x)=CC",
}


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.mark.parametrize("case", list(PARAMETERS), ids=list(PARAMETERS))
def test_a_nested_multipart_so_written_is_read_part_by_part(secret_pdf, case):
    raw = _nested(PARAMETERS[case], secret_pdf)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), found
    assert [a.data for a in parse_mail(raw).attachments] == [secret_pdf]  # the file, byte for byte


def test_the_letter_itself_so_written_is_read_certain(secret_pdf):
    found = classify_raw(_letter(b"multipart/mixed; (x) boundary=BB", secret_pdf))
    assert (found.level, found.certain) == ("secret", True), found


def test_over_smtp_a_top_secret_pdf_so_nested_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_nested(PARAMETERS["comment before the name"], thai_pdf(top="ลับที่สุด")), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
