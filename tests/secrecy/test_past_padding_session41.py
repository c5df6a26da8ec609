"""Base64 that goes on after its padding is read as far as it goes (session 41).

A part encoded in chunks one by one and joined (`...ICA=` then more base64): Python
decodes up to the first padding and stops; a client that decodes every padded chunk
in turn shows the rest. Until session 41 the rest was never read: the letter was made
at least ลับ, uncertain, so a ลับที่สุด (top secret) page or paragraph hidden after the
padding was taken with 250 at DATA and sealed to a registrar, where ลับที่สุด must be
refused (it may travel on paper only). Now both readings are read, for a part with two
transfer encodings too (each of its readings is looked at)."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import PAST_PADDING, parse_mail
from rules.markings import decoded_past_padding as _decoded_past_padding
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import MARKER, db_rows, files_containing
from tests.daemon import Daemon, write_config
from tests.thai_pdfs import thai_pdf

HEAD = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
        b"Message-ID: <padding-1@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n")


def _chunked(*pieces: bytes) -> str:
    """Each piece base64-encoded on its own (each but the last padded) and joined, in
    76-character lines."""
    assert all(len(p) % 3 for p in pieces[:-1]), "a piece that needs no padding joins seamlessly"
    text = "".join(base64.b64encode(p).decode() for p in pieces)
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def _body(*pieces: bytes, cte: bytes = b"Content-Transfer-Encoding: base64\r\n") -> bytes:
    return (HEAD + b"Content-Type: text/plain; charset=utf-8\r\n" + cte + b"\r\n"
            + _chunked(*pieces).encode() + b"\r\n")


OPENING = "เรียน ผู้อำนวยการเขตลาดกระบัง\r\n\r\n".encode()  # 82 bytes: padded
TOP_SECRET = f"ลับที่สุด\r\nแผนรักษาความปลอดภัย {MARKER}\r\n".encode()


def test_a_top_secret_paragraph_after_the_padding_is_top_secret():
    raw = _body(OPENING, TOP_SECRET)
    assert classify_raw(raw).level == "top_secret"
    mail = parse_mail(raw)
    assert PAST_PADDING in mail.unread  # still said: clients differ
    assert MARKER in mail.body_text and "เรียน" in mail.body_text


def test_after_the_padding_in_the_second_of_two_transfer_encodings():
    raw = _body(OPENING, TOP_SECRET, cte=b"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n")
    assert classify_raw(raw).level == "top_secret"


def test_a_top_secret_pdf_split_at_its_padding_is_top_secret():
    pdf = thai_pdf(["ลับที่สุด", "แผนรักษาความปลอดภัย"])
    cut = len(pdf) // 2 + (1 if (len(pdf) // 2) % 3 == 0 else 0)
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "ส่งมาเพื่อทราบ\r\n".encode()
           + b'--b\r\nContent-Type: application/pdf; name="plan.pdf"\r\nContent-Disposition: attachment; '
           b'filename="plan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
           + _chunked(pdf[:cut], pdf[cut:]).encode() + b"\r\n--b--\r\n")
    assert classify_raw(raw).level == "top_secret"


def test_an_ordinary_chunked_body_stays_at_least_confidential_and_uncertain():
    """Nothing hides after the padding: still uncertain (which reading the clerk sees)."""
    result = classify_raw(_body(OPENING, "ขอเชิญประชุมประจำเดือน\r\n".encode()))
    assert result.level == "confidential" and PAST_PADDING in result.where


@pytest.mark.parametrize("payload, expected", [
    ("YQ==Yg==", b"ab"),
    ("YQ==\r\nYmM=\r\nZGVm", b"abcdef"),
    ("YQ===Yg", b"ab"),  # too much padding, an unpadded tail
    ("YWJj", b"abc"),
])
def test_decoded_past_padding(payload, expected):
    assert _decoded_past_padding(payload) == expected


def test_a_chunk_that_is_no_base64_leaves_the_first_reading():
    assert _decoded_past_padding("YQ==Y") is None  # one character cannot be base64


def test_the_daemon_refuses_it_at_data(tmp_path):
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, text = d.data_reply(_body(OPENING, TOP_SECRET))
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
        assert db_rows(d, "select count(*) from letters") == [(0,)]
        assert files_containing(d.data_dir, MARKER) == []
    finally:
        d.stop()


def test_a_long_tail_after_the_padding_is_read_in_linear_time():
    """The first cut looked for padded chunks with a search that rescanned the tail after
    the last padding from every position: a 20 MB letter held its DATA check over ten
    minutes. 8 MB after one padding now takes well under a second."""
    import os
    import time

    tail = base64.b64encode(os.urandom(6_000_000)).decode()
    payload = base64.b64encode(b"ab").decode() + tail
    started = time.process_time()
    assert _decoded_past_padding(payload) is not None
    assert time.process_time() - started < 30


def test_an_encoded_subject_word_that_goes_on_after_its_padding_is_read_on():
    """The same in an RFC 2047 word (another place base64 is decoded): Python read
    " " and stopped; the rest of the word is the Subject a client that decodes on shows."""
    from tests.letters import letter, make_pdf, with_header

    word = ("=?utf-8?B?" + base64.b64encode(b" ").decode()
            + base64.b64encode("ลับที่สุด แผนรักษาความปลอดภัย".encode()).decode() + "?=")
    raw = with_header(letter(subject="x", body="ส่งแผนงานมาเพื่อทราบ", files=[("a.pdf", make_pdf("cover"))]),
                      "Subject", word)
    found = classify_raw(raw)
    assert (found.level, found.where) == ("top_secret", "header Subject"), found
