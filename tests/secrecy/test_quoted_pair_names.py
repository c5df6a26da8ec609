"""A quoted-pair in a quoted file name, `filename="ลับท\\ี่สุด.pdf"` (red team of 7 Dec 2026).

In a quoted-string a backslash quotes the character after it (RFC 5322 3.2.4), and
Thunderbird shows the name without it (nsMIMEHeaderParamImpl's RemoveQuotedStringEscapes):
"ลับที่สุด_2569.pdf". The stdlib's unquote undoes only `\\\\` and `\\"`: the gateway read
"ลับท\\ี่สุด_2569.pdf", no marking, and took the letter with a 250; `ลับ\\มาก` read as ลับ
only."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.secrecy.test_rfc2231_one_quote import LAT, _letter

CASES = {
    "in the mark": ('"ลับท\\ี่สุด_2569_dds_0403_57.pdf"', "top_secret"),
    "between the words": ('"ลับ\\มาก_2569_dds_0403_57.pdf"', "secret"),
    "before every letter": ('"' + "".join("\\" + c for c in "ลับมาก") + '_2569.pdf"', "secret"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_quoted_pair_is_the_character_it_quotes(case):
    value, level = CASES[case]
    for raw in (_letter(f"attachment; filename={value}"), _letter("attachment", f"application/pdf; name={value}")):
        found = classify_raw(raw)
        assert (found.level, found.where) == (level, "file 1 name")


def test_the_name_the_register_shows_is_the_one_it_showed_before():
    raw = _letter('attachment; filename="C:\\\\Users\\\\dds\\\\2569_dds_0403_57.pdf"')
    assert parse_mail(raw).attachments[0].filename == "C:\\Users\\dds\\2569_dds_0403_57.pdf"
    assert classify_raw(raw).level == "none"


def test_over_smtp_a_top_secret_name_with_a_quoted_pair_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter(f"attachment; filename={CASES['in the mark'][0]}"), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
