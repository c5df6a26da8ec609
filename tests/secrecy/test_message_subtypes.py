"""A forwarded letter under a message/* subtype other than rfc822 and global (red team of
7 Dec 2026).

Thunderbird shows a message/news part as a forwarded letter, as message/rfc822 (libmime's
mime_find_class), its Subject in the header box, and a part of a message subtype it does
not know (message/x-letter, message/rfc822-headers) as text, header lines and all: the
clerk reads "Subject: ลับที่สุด ...". The stdlib parses every message/* part as a message,
but only message/rfc822 and message/global had their header blocks read: a forwarded
ลับที่สุด letter so sent was ordinary and certain, taken with a 250 and filed in plaintext."""
from __future__ import annotations

import pytest

from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _forwarding(content_type: bytes, subject: str) -> bytes:
    inner = letter(subject=subject, files=[], body="เรียน ผู้อำนวยการเขตลาดกระบัง\n")
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: fwd\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <subtype@dds.bangkok.go.th>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=OO\r\n\r\n--OO\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nforwarded\r\n--OO\r\nContent-Type: " + content_type
            + b"\r\n\r\n" + inner + b"\r\n--OO--\r\n")


@pytest.mark.parametrize("content_type", [b"message/news", b"message/x-letter", b"message/rfc822-headers",
                                          b"message/global-headers"])
def test_a_forwarded_letter_under_another_message_subtype_is_read(content_type):
    found = classify_raw(_forwarding(content_type, "ลับมาก แผนรักษาความปลอดภัย"))
    assert (found.level, found.where) == ("secret", "header Subject")
    assert classify_raw(_forwarding(content_type, "แผนรักษาความปลอดภัย")).level == "none"


def test_over_smtp_a_top_secret_letter_forwarded_as_message_news_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_forwarding(b"message/news", "ลับที่สุด แผนรักษาความปลอดภัย"), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
