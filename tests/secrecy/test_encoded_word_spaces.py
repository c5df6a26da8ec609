"""A base64 RFC 2047 word with white space inside its text (red team of 7 Dec 2026).

RFC 2047 forbids white space inside an encoded word, and the gateway read such a word
as its letters: `Subject: =?utf-8?b?4Lil4Lix 4Lia...?=` was no marking, certain. Dovecot
decodes it (its SEARCH SUBJECT finds ลับ in it, as with a space, a tab, a folded line,
white space at either end), so the clerk's folder showed the Subject ลับมาก of a letter
registered ordinary and filed in plaintext; a ลับที่สุด one was taken with a 250. The
white space is dropped and the word decoded, as Dovecot does."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.letters import make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def _spaced(text: str, gap: bytes = b" ") -> bytes:
    encoded = base64.b64encode(text.encode())
    return b"=?utf-8?b?" + encoded[:8] + gap + encoded[8:] + b"?="


def _letter(subject: bytes, name: bytes = b"2569_dds_0403_57.pdf") -> bytes:
    pdf = base64.encodebytes(make_pdf("cover letter")).replace(b"\n", b"\r\n")
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: " + subject
            + b"\r\nDate: Mon, 07 Dec 2026 10:00:00 +0700\r\nMessage-ID: <spaced@dds.bangkok.go.th>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
              b"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n"
              b"--BB\r\nContent-Type: application/pdf; name=\"" + name + b"\"\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"\r\n--BB--\r\n")


@pytest.mark.parametrize("gap", [b" ", b"\t", b"\r\n ", b"   "], ids=["space", "tab", "folded", "spaces"])
def test_a_marked_subject_with_white_space_inside_its_word_is_read(gap):
    raw = _letter(_spaced("ลับมาก แผนรักษาความปลอดภัย", gap))
    assert classify_raw(raw).level == "secret"
    assert parse_mail(raw).subject == "ลับมาก แผนรักษาความปลอดภัย"  # the register's words too


def test_white_space_at_either_end_of_the_text_is_read_too():
    encoded = base64.b64encode("ลับ แผน".encode())
    assert classify_raw(_letter(b"=?utf-8?b? " + encoded + b"?=")).level == "confidential"
    assert classify_raw(_letter(b"=?utf-8?B?" + encoded + b" ?=")).level == "confidential"


def test_a_file_name_so_encoded_is_read():
    raw = _letter(b"plan", name=_spaced("ลับมาก_2569_dds_0403_57.pdf"))
    assert [a.filename for a in parse_mail(raw).attachments] == ["ลับมาก_2569_dds_0403_57.pdf"]
    assert classify_raw(raw).level == "secret"


def test_thai_text_inside_a_broken_word_is_still_read_as_it_is():
    """Only ASCII text is taken for a word's encoded text: Thai inside one stays Thai."""
    assert classify_raw(_letter("=?utf-8?q?hello ลับมาก x?=".encode())).level == "secret"
    assert classify_raw(_letter("=?utf-8?b?ลับมาก abc?=".encode())).level == "secret"


def test_over_smtp_a_top_secret_subject_so_encoded_is_refused_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_letter(_spaced("ลับที่สุด แผนป้องกันเหตุ")), LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
    finally:
        d.stop()
