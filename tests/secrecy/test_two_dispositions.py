"""A part with two Content-Disposition fields (red team of 7 Dec 2026).

`Content-Disposition: inline` then `Content-Disposition: attachment;
filename*=utf-8''ลับที่สุด_2569.pdf`: the stdlib reads the first field (no name), Dovecot
2.3's BODYSTRUCTURE the last, and a webmail or an IMAP client listing the attachments
from it showed "ลับที่สุด_2569.pdf". The gateway read no name: the letter was ordinary and
certain, taken with a 250 and filed in plaintext."""
from __future__ import annotations

import urllib.parse

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.secrecy.test_rfc2231_one_quote import LAT, _letter


def _quoted(name: str) -> str:
    return urllib.parse.quote(name.encode())


def test_the_name_in_a_later_disposition_is_read():
    raw = _letter(f"inline\r\nContent-Disposition: attachment; filename*=utf-8''{_quoted('ลับมาก_2569_dds_0403_57.pdf')}")
    found = classify_raw(raw)
    assert (found.level, found.where) == ("secret", "file 1 name")
    assert parse_mail(raw).attachments[0].filename == "ลับมาก_2569_dds_0403_57.pdf"  # the only name it has


def test_the_first_name_stays_the_register_name():
    raw = _letter('attachment; filename="2569_dds_0403_57.pdf"\r\nContent-Disposition: attachment; '
                  'filename="2569_dds_0403_58.pdf"')
    assert parse_mail(raw).attachments[0].filename == "2569_dds_0403_57.pdf"
    assert classify_raw(raw).level == "none"


def test_over_smtp_a_top_secret_name_in_a_second_disposition_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        raw = _letter(f"inline\r\nContent-Disposition: attachment; filename*=utf-8''{_quoted('ลับที่สุด_2569.pdf')}")
        code, text = d.data_reply(raw, LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
