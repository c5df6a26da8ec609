"""A body's charset read as mail programs read it (session 41).

`charset=gbk (chinese)`: RFC 2045 allows comments in Content-Type, and Thunderbird's
parameter parser stops an unquoted value at white space; Python kept "gbk (chinese)", a
label no codec knows, and a ลับมาก body in GB18030 so labelled read as Windows-874
mojibake: ordinary. So did `; (comment) charset=gbk`, which the email package named
"(comment) charset".

Two charsets for one part (`charset=us-ascii; charset=gbk`, or two Content-Type
fields): Python and Thunderbird take the first, others the last. The part is now read
with each, and the letter is at least ลับ, uncertain."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import TWO_CHARSETS, parse_mail
from gateway.secrecy.markings import classify_raw

HEAD = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
        b"Message-ID: <charset-1@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n")
TEXT = "ลับมาก\r\nแผนรักษาความปลอดภัย\r\n"


def _body(content_type: bytes, data: bytes, more: bytes = b"") -> bytes:
    return (HEAD + b"Content-Type: " + content_type + b"\r\n" + more + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(data))


@pytest.mark.parametrize("content_type, encoding", [
    (b"text/plain; charset=gbk (chinese)", "gb18030"),
    (b"text/plain; (the body) charset=gbk", "gb18030"),
    (b'text/plain; charset="gbk "', "gb18030"),
    (b"text/html; charset=gb2312 (simplified)", "gb18030"),
    (b"text/plain; charset=windows-874 (thai)", "cp874"),
])
def test_a_charset_with_a_comment_is_its_token(content_type, encoding):
    found = classify_raw(_body(content_type, TEXT.encode(encoding)))
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("raw", [
    _body(b"text/plain; charset=us-ascii; charset=gbk", TEXT.encode("gb18030")),
    _body(b"text/plain; charset=us-ascii", TEXT.encode("gb18030"), more=b"Content-Type: text/plain; charset=gbk\r\n"),
    _body(b"text/plain; charset=gbk", TEXT.encode("gb18030"), more=b"Content-Type: text/plain; charset=us-ascii\r\n"),
], ids=["two parameters", "gbk in the second field", "gbk in the first field"])
def test_two_charsets_are_both_read(raw):
    found = classify_raw(raw)
    assert found.level == "secret", found
    assert TWO_CHARSETS in parse_mail(raw).unread


def test_two_charsets_without_a_marking_make_the_letter_uncertain():
    raw = _body(b"text/plain; charset=us-ascii; charset=gbk", "ขอเชิญประชุมประจำเดือน\r\n".encode("gb18030"))
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("confidential", False), found


@pytest.mark.parametrize("content_type", [
    b"text/plain; charset=utf-8; charset=UTF-8",  # the same charset twice
    b"text/plain; charset=utf-8; charset=utf8",
])
def test_the_same_charset_twice_is_one(content_type):
    raw = _body(content_type, "ขอเชิญประชุมประจำเดือน\r\n".encode())
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("none", True), found
    assert TWO_CHARSETS not in parse_mail(raw).unread
