"""Session 39's red team: a quoted-printable soft line break with white space after the
`=` (`=` SP CRLF, `=` TAB CRLF) split the marking it fell in.

RFC 2045 §6.7 (3): white space at the end of an encoded line was added on the way and is
deleted when decoding, so `ลั=  ⏎บมาก` is ลับมาก in a mail client. Python's decoder
(`binascii.a2b_qp`, under `get_payload(decode=True)`, mail-parser and every part the
gateway reads) kept `= ⏎` in the text: the body, an HTML body, an attached .txt or .html
read "ลั= ⏎บมาก", no marking, and a ลับมาก letter was registered ordinary and filed in
plain. It also read `=` then a bare CR as the end of the line, dropping what followed it,
which the folder copy (CRLF line ends) shows. Now both are decoded as RFC 2045 says
(gateway/email_fixes.py `decode_qp`), for the marking and for what is stored and shown."""
from __future__ import annotations

import email

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, MARKER, assert_sealed_nowhere_plain, sealing_daemon
from tests.secrecy.test_mime_hidden_markings import HEAD, mixed, subject, text_part


def qp(text: str) -> bytes:
    """`text` quoted-printable encoded, every Thai byte as =XX, its line ends CRLF."""
    return "".join("=%02X" % c if c > 127 else chr(c) for c in text.replace("\n", "\r\n").encode()).encode()


def split(before: str, after: str, soft: bytes) -> bytes:
    return qp(before) + soft + b"\r\n" + qp(after) + b"\r\n"


SOFT_BREAKS = {"space": b"= ", "spaces": b"=   ", "tab": b"=\t", "space and tab": b"= \t "}
SECRET_TEXT = ("ลั", f"บมาก\nเรื่อง แผนรักษาความปลอดภัย {MARKER}\nเรียน ผู้อำนวยการเขตลาดกระบัง")
SECRET_HTML = ("<p>ลั", f"บมาก</p><p>เรื่อง แผนรักษาความปลอดภัย {MARKER}</p>")


def qp_part(ctype: str, body: bytes, name: str | None = None) -> bytes:
    head = f"Content-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    if name:
        head += f'Content-Disposition: attachment; filename="{name}"\r\n'
    return head.encode() + b"\r\n" + body


def single(body: bytes, ctype: str = "text/plain") -> bytes:
    return HEAD + subject(f"ขอส่งแผนการปฏิบัติงาน {MARKER}") + qp_part(ctype, body)


def shapes(soft: bytes) -> dict[str, bytes]:
    text, html = split(*SECRET_TEXT, soft), split(*SECRET_HTML, soft)
    return {
        "text body": single(text),
        "html body": single(html, "text/html"),
        "attached .txt": mixed(text_part(), qp_part("text/plain", text, "2569_dds_0403_57_1.txt")),
        "attached .html": mixed(text_part(), qp_part("text/html", html, "2569_dds_0403_57_1.html")),
        "message/rfc822 attached": mixed(text_part(), b"Content-Type: message/rfc822\r\n\r\n" + single(text)),
        "message/rfc822 sent quoted-printable": mixed(text_part(), b"Content-Type: message/rfc822\r\n"
                                                      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                                                      + single(text).replace(b"=", b"=3D")),
    }


@pytest.mark.parametrize("soft", SOFT_BREAKS)
@pytest.mark.parametrize("shape", list(shapes(b"=")))
def test_a_soft_line_break_with_white_space_after_it_splits_no_marking(shape, soft):
    found = classify_raw(shapes(SOFT_BREAKS[soft])[shape])
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("shape", list(shapes(b"=")))
def test_a_bare_soft_line_break_reads_as_before(shape):
    found = classify_raw(shapes(b"=")[shape])
    assert (found.level, found.certain) == ("secret", True), found


def test_a_soft_line_break_before_a_bare_cr_drops_nothing():
    raw = single(qp(SECRET_TEXT[0]) + b"=\r" + qp(SECRET_TEXT[1]) + b"\r\n")
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), found


def test_the_text_stored_and_shown_is_the_text_a_client_shows():
    """The body the register reads its facts from, a .txt file's bytes kept in the vault
    (and hashed in the register), the parts the desk and the CLI show: decoded alike."""
    body = split("เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งแผนการปฏิ", "บัติงาน  \nตามแนบ", b"= \t")
    raw = mixed(qp_part("text/plain", body), qp_part("text/plain", body, "2569_dds_0403_57_1.txt"))
    shown = "เรียน ผู้อำนวยการเขตลาดกระบัง\r\nขอส่งแผนการปฏิบัติงาน\r\nตามแนบ\r\n"
    mail = parse_mail(raw, digests=False)
    assert mail.body_text.replace("\r\n", "\n").strip() == shown.replace("\r\n", "\n").strip()
    [attached] = mail.attachments
    assert attached.data == shown.encode()
    for part in email.message_from_bytes(raw).walk():
        if not part.is_multipart():
            assert part.get_payload(decode=True) == shown.encode()
    assert classify_raw(raw).level == "none"


def test_encoded_words_split_over_folded_lines_read_whole():
    """RFC 2047 Q words have no line ends in them: a marking split between two words on
    two lines of the Subject reads whole, as before."""
    first, second = qp("ลั").decode(), qp("บมาก").decode()
    raw = (HEAD + f"Subject: =?utf-8?q?{first}?= \r\n =?utf-8?q?{second}?=\r\n\t =?utf-8?q?_=E0=B9=81=E0=B8=9C=E0=B8=99?=\r\n"
           .encode() + text_part())
    assert (classify_raw(raw).level, classify_raw(raw).where) == ("secret", "header Subject")


def test_over_smtp_a_marking_split_by_a_soft_line_break_with_white_space_is_sealed(tmp_path):
    with sealing_daemon(tmp_path / "gw") as d:
        queued = {shape: d.send(raw, LATKRABANG) for shape, raw in shapes(b"=  ").items()
                  if shape in ("text body", "html body", "attached .html")}
        d.wait_idle(timeout=120)
        assert_sealed_nowhere_plain(d, queued)
