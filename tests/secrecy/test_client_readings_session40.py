"""Three places where the gateway read a letter otherwise than the clerks' mail programs
(Thunderbird, Outlook, Dovecot) and a ลับมาก the clerk sees was not read (session 40):

1. Text in GB18030 (Thai letters are four-byte sequences there) labelled `gbk`,
   `gb2312`, `x-gbk`, `chinese`...: WHATWG (Thunderbird) decodes every one of those
   labels with the gb18030 decoder; Python's gbk codec made U+FFFD of it.
2. `filename="a.pdf"; filename*=utf-8''ลับมาก...`: Thunderbird shows the extended
   (RFC 2231) value, the stdlib's get_param returned the plain one.
3. Two Content-Transfer-Encoding fields: the stdlib decodes by the first, Dovecot's
   BINARY fetch by the last. Both readings are read now, and the letter is at least ลับ,
   uncertain: the gateway cannot know which one the clerk sees."""
from __future__ import annotations

import base64
import email
import email.policy
import urllib.parse

import pytest

from gateway.pipeline.parse import TWO_TRANSFER_ENCODINGS, parse_mail
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.hostile.markings_cases import thai_pdf
from tests.letters import make_pdf
from tests.secrecy.test_mime_hidden_markings import HEAD, file_part, reading, subject, text_part

# WHATWG's labels of its GBK encoding (decoded with gb18030), and Windows' name for it.
GB_LABELS = ["gbk", "GBK", "gb2312", "x-gbk", "cp936", "chinese", "csgb2312", "iso-ir-58", "gb_2312-80",
             "gb_2312", "csiso58gb231280"]
SECRET_BODY = f"ลับมาก\r\nเรื่อง แผนรักษาความปลอดภัย {MARKER}\r\nเรียน ผู้อำนวยการเขตลาดกระบัง\r\n"


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _single(headers: str, body: bytes, subj: str = "ขอส่งแผนการปฏิบัติงาน") -> bytes:
    return HEAD + subject(subj) + headers.encode() + b"\r\n" + body


def _mixed(*parts: bytes, subj: str = "ขอส่งแผนการปฏิบัติงาน") -> bytes:
    out = HEAD + subject(subj) + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
    for part in parts:
        out += b"--BB\r\n" + part + b"\r\n"
    return out + b"--BB--\r\n"


# --------------------------------------------------------------------------- 1. GB18030 under a GBK label

def _gb_body_letter(label: str, text: str = SECRET_BODY) -> bytes:
    return _single(f"Content-Type: text/plain; charset={label}\r\nContent-Transfer-Encoding: base64\r\n",
                   _b64(text.encode("gb18030")))


@pytest.mark.parametrize("label", GB_LABELS)
def test_a_gb18030_body_under_a_gbk_label_is_read_as_thunderbird_shows_it(label):
    assert reading(_gb_body_letter(label)) == ("secret", True)
    raw8 = _single(f"Content-Type: text/plain; charset=\"{label}\"\r\nContent-Transfer-Encoding: 8bit\r\n",
                   SECRET_BODY.encode("gb18030") + b"\xff stray byte\r\n")
    assert reading(raw8) == ("secret", True)
    assert "ลับมาก" in parse_mail(raw8).body_text


@pytest.mark.parametrize("label", GB_LABELS)
def test_a_gb18030_subject_under_a_gbk_label_is_read(label):
    word = base64.b64encode("ลับมาก ขอส่งแผนการปฏิบัติงาน".encode("gb18030")).decode()
    raw = HEAD + f"Subject: =?{label}?B?{word}?=\r\n".encode() + text_part()
    assert reading(raw) == ("secret", True)
    assert parse_mail(raw).subject == "ลับมาก ขอส่งแผนการปฏิบัติงาน"


@pytest.mark.parametrize("label", ["gbk", "gb2312", "x-gbk", "chinese"])
def test_a_gb18030_file_name_and_text_file_under_a_gbk_label_are_read(label):
    name = urllib.parse.quote("ลับมาก_แผน.pdf".encode("gb18030"))
    rfc2231 = (f"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*={label}''{name}\r\n"
               f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(make_pdf())
    raw = _mixed(text_part(), rfc2231)
    assert reading(raw) == ("secret", True)
    assert [a.filename for a in parse_mail(raw).attachments] == ["ลับมาก_แผน.pdf"]
    word = base64.b64encode("ลับมาก_แผน.pdf".encode("gb18030")).decode()
    rfc2047 = (f'Content-Type: application/pdf; name="=?{label}?B?{word}?="\r\n'
               f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(make_pdf())
    assert reading(_mixed(text_part(), rfc2047)) == ("secret", True)
    text_file = (f"Content-Type: text/plain; charset={label}\r\n"
                 f"Content-Disposition: attachment; filename=\"note.txt\"\r\n"
                 f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(SECRET_BODY.encode("gb18030"))
    assert reading(_mixed(text_part(), text_file)) == ("secret", True)


def test_chinese_text_under_a_gbk_label_reads_as_before():
    """GB18030 is a superset of GBK: what Python's gbk codec read, it reads the same."""
    text = "关于二〇二六年度工作计划的通知"
    raw = _single("Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n",
                  _b64(text.encode("gbk")))
    assert text in parse_mail(raw).body_text
    assert reading(raw) == ("none", True)


# --------------------------------------------------------------------------- 2. filename= and filename*=

SECRET_NAME = "ลับมาก_แผนรักษาความปลอดภัย.pdf"


def _two_names(disposition: str, pdf: bytes, ctype: str = "application/pdf") -> bytes:
    part = (f"Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(pdf)
    return _mixed(text_part(), part)


def _ext(name: str) -> str:
    return "utf-8''" + urllib.parse.quote(name.encode())


@pytest.mark.parametrize("disposition", [
    f'attachment; filename="a.pdf"; filename*={_ext(SECRET_NAME)}',
    f'attachment; filename*={_ext(SECRET_NAME)}; filename="a.pdf"',
    f'attachment; filename="a.pdf"; filename*0*={_ext(SECRET_NAME)[:40]}; filename*1*={_ext(SECRET_NAME)[40:]}',
])
def test_the_extended_file_name_a_client_shows_is_read_and_registered(disposition):
    raw = _two_names(disposition, make_pdf())
    assert reading(raw) == ("secret", True)
    [attachment] = parse_mail(raw).attachments
    assert attachment.filename == SECRET_NAME  # as Thunderbird shows it
    assert "a.pdf" in attachment.other_names  # what a client that ignores RFC 2231 shows


def test_a_plain_secret_name_beside_an_ordinary_extended_one_is_read_too():
    raw = _two_names(f'attachment; filename="{SECRET_NAME}"; filename*={_ext("แผนงาน.pdf")}', make_pdf())
    assert reading(raw) == ("secret", True)


def test_name_and_name_star_in_the_content_type_are_both_read():
    raw = _two_names("attachment", make_pdf(),
                     ctype=f'application/pdf; name="a.pdf"; name*={_ext(SECRET_NAME)}')
    assert reading(raw) == ("secret", True)
    assert parse_mail(raw).attachments[0].filename == SECRET_NAME


# --------------------------------------------------------------------------- 3. two Content-Transfer-Encodings

def _two_encodings(first: str, second: str, body: bytes) -> bytes:
    return _single("Content-Type: text/plain; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: {first}\r\nContent-Transfer-Encoding: {second}\r\n", body)


@pytest.mark.parametrize("first, second, encode", [
    ("7bit", "base64", _b64),                    # Python: the base64 letters; Dovecot: ลับมาก
    ("quoted-printable", "base64", _b64),
    ("base64", "8bit", bytes),                   # Python: base64 of Thai text, noise; Dovecot: ลับมาก
    ("base64", "quoted-printable", bytes),
])
def test_a_body_behind_the_other_transfer_encoding_is_read_and_uncertain(first, second, encode):
    raw = _two_encodings(first, second, encode(SECRET_BODY.encode()))
    assert reading(raw) == ("secret", True)
    assert TWO_TRANSFER_ENCODINGS in parse_mail(raw).unread


def test_an_unmarked_body_with_two_transfer_encodings_is_at_least_confidential():
    raw = _two_encodings("7bit", "base64", _b64("เรียน ผู้อำนวยการเขต\r\nขอส่งแผนการปฏิบัติงาน\r\n".encode()))
    assert reading(raw) == ("confidential", False)


def test_a_pdf_behind_the_other_transfer_encoding_is_read():
    part = (b"Content-Type: application/pdf; name=\"2569_dds_0403_58.pdf\"\r\n"
            b"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + _b64(thai_pdf(top="ลับมาก")))
    assert reading(_mixed(text_part(), part)) == ("secret", True)


def test_two_transfer_encodings_that_decode_alike_read_as_before():
    """`base64` twice, `7bit` and `8bit`: every reader decodes them the same way."""
    assert reading(_two_encodings("base64", "BASE64", _b64(SECRET_BODY.encode()))) == ("secret", True)
    plain = _two_encodings("7bit", "8bit", "เรียน ผู้อำนวยการเขต\r\n".encode())
    assert reading(plain) == ("none", True)
    assert TWO_TRANSFER_ENCODINGS not in parse_mail(plain).unread


# --------------------------------------------------------------------------- over SMTP, to the real daemon

def _with_pdf(body_part: bytes, n: int) -> bytes:
    """A letter as the daemon registers one (its cover letter a PDF), its own Message-ID."""
    raw = _mixed(body_part, file_part("application/pdf", f"2569_dds_0403_{n}.pdf", make_pdf()))
    return raw.replace(b"<mime-hidden@", f"<client-readings-{n}@".encode())


def test_over_smtp_each_reading_refuses_top_secret_and_seals_secret(tmp_path):
    top = "ลับที่สุด\r\nเรื่อง แผน\r\n"
    gb_part = ("Content-Type: text/plain; charset={}\r\nContent-Transfer-Encoding: base64\r\n\r\n").format
    cte_part = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n" \
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    top_gb = _with_pdf(gb_part("gbk").encode() + _b64(top.encode("gb18030")), 1)
    top_name = _two_names(f'attachment; filename="a.pdf"; filename*={_ext("ลับที่สุด_แผน.pdf")}', make_pdf())
    top_cte = _with_pdf(cte_part + _b64(top.encode()), 2)
    ordinary_name = "2569_dds_0403_58_แผนงาน.pdf"
    with sealing_daemon(tmp_path / "gw") as d:
        for raw in (top_gb, top_name, top_cte):
            code, text = d.data_reply(raw, LATKRABANG)
            assert code == 550 and b"top-secret" in text, (code, text)
        for raw in (_with_pdf(gb_part("gb2312").encode() + _b64(SECRET_BODY.encode("gb18030")), 3),
                    _with_pdf(cte_part + _b64(SECRET_BODY.encode()), 4)):
            qid = d.send(raw, LATKRABANG)
            d.wait_idle(timeout=120)
            assert db_rows(d, "select book, secrecy from letters where queue_id = ?", qid) == [("secret", "secret")]
        ordinary = _two_names(f'attachment; filename="a.pdf"; filename*={_ext(ordinary_name)}', make_pdf())
        qid = d.send(ordinary.replace(b"<mime-hidden@", b"<client-readings-5@"), LATKRABANG)
        d.wait_idle(timeout=120)
        assert db_rows(d, "select a.filename from letter_attachments a join letters l on l.id = a.letter_id "
                          "where l.queue_id = ?", qid) == [(ordinary_name,)]
        [copy] = maildir(d, "latkrabang")
        filed = email.message_from_bytes(copy.read_bytes(), policy=email.policy.default)
        assert [part.get_filename() for part in filed.iter_attachments()] == [ordinary_name]
        assert files_containing(d.data_dir, MARKER) == []
