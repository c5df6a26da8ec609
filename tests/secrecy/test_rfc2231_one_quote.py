"""An RFC 2231 name with one quote, `filename*=utf-8'%E0%B8%A5...` (red team of 7 Dec 2026).

RFC 2231 asks for `charset'language'value`; Mozilla's parameter reader
(nsMIMEHeaderParamImpl, Thunderbird's libmime, "one delimiter; assume charset'rawVal")
and jsmime's decode2231Value take a value with one quote as `charset'value` and show
"ลับมาก_2569_dds_0403_57.pdf". Python's decode_rfc2231 wants two quotes and kept
"utf-8'ลับมาก_2569..." whole: the marking did not start a word, and a letter marked
ลับมาก only by its file name's was registered ordinary and filed in plaintext; a
ลับที่สุด one was taken with a 250."""
from __future__ import annotations

import base64
import urllib.parse

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.letters import make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def _letter(disposition: str, content_type: str = "application/pdf") -> bytes:
    pdf = base64.encodebytes(make_pdf("cover letter")).replace(b"\n", b"\r\n")
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <one-quote@dds.bangkok.go.th>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n--BB\r\nContent-Type: "
            + content_type.encode() + b"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: "
            + disposition.encode() + b"\r\n\r\n" + pdf + b"\r\n--BB--\r\n")


def _quoted(text: str, codec: str = "utf-8") -> str:
    return urllib.parse.quote(text.encode(codec))


NAME = "ลับมาก_2569_dds_0403_57.pdf"
CASES = {
    "filename*": f"attachment; filename*=utf-8'{_quoted(NAME)}",
    "windows-874": f"attachment; filename*=windows-874'{_quoted(NAME, 'cp874')}",
    "continued": f"attachment; filename*0*=utf-8'{_quoted(NAME[:3])}; filename*1*={_quoted(NAME[3:])}",
    "name* of the type": None,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_name_with_one_quote_is_read_as_thunderbird_shows_it(case):
    if CASES[case] is None:
        raw = _letter("attachment", f"application/pdf; name*=utf-8'{_quoted(NAME)}")
    else:
        raw = _letter(CASES[case])
    found = classify_raw(raw)
    assert (found.level, found.where) == ("secret", "file 1 name")
    assert parse_mail(raw).attachments[0].filename == NAME  # the register's name, Thunderbird's


def test_two_quotes_and_a_quote_in_the_name_read_as_before():
    raw = _letter(f"attachment; filename*=utf-8''{_quoted(NAME)}")
    assert parse_mail(raw).attachments[0].filename == NAME
    raw = _letter(f"attachment; filename*=utf-8'th'{_quoted(NAME)}")
    assert parse_mail(raw).attachments[0].filename == NAME
    ordinary = "it's_2569_dds_0403_57.pdf"
    raw = _letter(f"attachment; filename*=utf-8''{_quoted(ordinary)}")
    assert parse_mail(raw).attachments[0].filename == ordinary
    assert classify_raw(raw).level == "none"


def test_over_smtp_a_top_secret_name_with_one_quote_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        name = "ลับที่สุด_2569_dds_0403_57.pdf"
        code, text = d.data_reply(_letter(f"attachment; filename*=utf-8'{_quoted(name)}"), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
