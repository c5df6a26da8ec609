"""A part named only by a `Content-Name:` or `X-Sun-Data-Name:` field (red team of 7 Dec
2026).

Thunderbird names a part that has no filename= or name= parameter by its Content-Name
field ("no RFC, but seen to occur") or Sun MailTool's X-Sun-Data-Name (libmime's
MimeHeaders_get_name, RFC 2047 words decoded), and lists the PDF as
"ลับที่สุด_2569_dds_0403_57.pdf". The gateway read neither field: the letter was ordinary
and certain, taken with a 250 and filed into the unit's folder in plaintext."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.letters import make_pdf, raw_rfc2047

LAT = "saraban.latkrabang@bangkok.go.th"


def _letter(field: str) -> bytes:
    pdf = base64.encodebytes(make_pdf("cover letter")).replace(b"\n", b"\r\n")
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <name-field@dds.bangkok.go.th>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n--BB\r\n"
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            + field.encode() + b"\r\n\r\n" + pdf + b"\r\n--BB--\r\n")


NAME = "ลับมาก_2569_dds_0403_57.pdf"
CASES = {
    "Content-Name": f"Content-Name: {raw_rfc2047(NAME, 'utf-8')}",
    "X-Sun-Data-Name": f"X-Sun-Data-Name: {raw_rfc2047(NAME, 'utf-8')}",
    "Content-Name, Windows-874": f"Content-Name: {raw_rfc2047(NAME, 'cp874')}",
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_name_field_is_read_for_the_markings(case):
    found = classify_raw(_letter(CASES[case]))
    assert (found.level, found.where) == ("secret", "file 1 name")


def test_the_register_names_the_file_by_its_parameters_as_before():
    raw = _letter('Content-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n'
                  "Content-Name: 2569_dds_0403_58.pdf")
    assert parse_mail(raw).attachments[0].filename == "2569_dds_0403_57.pdf"
    assert classify_raw(raw).level == "none"


def test_over_smtp_a_top_secret_content_name_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        field = f"Content-Name: {raw_rfc2047('ลับที่สุด_2569_dds_0403_57.pdf', 'utf-8')}"
        code, text = d.data_reply(_letter(field), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
