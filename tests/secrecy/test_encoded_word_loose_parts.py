"""RFC 2047 words Dovecot decodes that the gateway read as their letters (red team of
7 Dec 2026): the URL-safe base64 alphabet (`-` and `_` for `+` and `/`), white space
around or inside the charset (`=? utf-8?b?`, `=?utf-8 ?b?`), after the encoding letter
(`?b ?`). Each, checked with Dovecot 2.3's SEARCH SUBJECT, was a Subject ลับมาก in the
clerk's folder and an ordinary letter here; a ลับที่สุด one was taken with a 250."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config

LAT = "saraban.latkrabang@bangkok.go.th"
WORDS = "ลับมาก เรื่อง แผนงาน"  # its UTF-8 base64 holds a '+', URL-safe a '-'


def _letter(subject: bytes) -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: " + subject
            + b"\r\nDate: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <loose@dds.bangkok.go.th>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "เรียน ผู้อำนวยการ\r\n".encode())


def _word(head: bytes, words: str = WORDS, urlsafe: bool = False) -> bytes:
    data = words.encode()
    return head + (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)) + b"?="


CASES = {
    "url-safe alphabet": _word(b"=?utf-8?b?", urlsafe=True),
    "space before the charset": _word(b"=? utf-8?b?"),
    "tab before the charset": _word(b"=?\tutf-8?b?"),
    "space after the charset": _word(b"=?utf-8 ?b?"),
    "space after the encoding": _word(b"=?utf-8?b ?"),
}


def test_the_url_safe_alphabet_is_the_one_in_the_test():
    assert b"+" in base64.b64encode(WORDS.encode()) and b"-" in base64.urlsafe_b64encode(WORDS.encode())
    # '_' for '/': Python's decoder drops both '-' and '_' as not base64
    assert base64.urlsafe_b64encode(b"\xff\xff") == b"__8="


@pytest.mark.parametrize("subject", list(CASES.values()), ids=list(CASES))
def test_a_word_dovecot_decodes_is_decoded(subject):
    raw = _letter(subject)
    assert classify_raw(raw).level == "secret"
    assert parse_mail(raw).subject == WORDS


def test_over_smtp_a_top_secret_subject_in_url_safe_base64_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter(_word(b"=?utf-8?b?", "ลับที่สุด เรื่อง แผนงาน", urlsafe=True)), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
