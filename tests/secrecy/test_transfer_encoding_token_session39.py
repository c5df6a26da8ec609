"""Session 39's SMTP red team: `Content-Transfer-Encoding: base64;` (a `;`, parameters or
white space after the token) was not decoded: a ลับมาก body was read as its base64
letters, registered ordinary and filed in plain, while Dovecot's BINARY fetch and
Thunderbird decode it and show ลับมาก. The token alone is the encoding now."""
from __future__ import annotations

import base64

import pytest

from gateway.secrecy.markings import classify_raw

BODY = "ลับมาก\r\nเรื่อง แผนรักษาความปลอดภัย\r\nเรียน ผู้อำนวยการเขต\r\n"


def _letter(cte: str) -> bytes:
    return ("From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            "Subject: plan\r\nMessage-ID: <cte-39@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode() \
        + base64.encodebytes(BODY.encode()).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("cte", ["base64", "base64;", "base64; format=x", "base64 ;", "BASE64 (x);"])
def test_a_base64_body_whatever_follows_the_token_is_read_decoded(cte):
    found = classify_raw(_letter(cte))
    assert (found.level, found.certain) == ("secret", True), (cte, found)
