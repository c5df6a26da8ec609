"""The folder copy's edits that look at the whole letter (gateway/delivery/part_names.py
`clean_names`, gateway/pipeline/mime_attach.py `_newline`, `add_headers`): each reads
only what decides it, never a file's bytes, and says what the slower reading said.
Every letter's names are read part by part: an ASCII letter too, whose plain name may be
longer than a file system holds or whose encoded name is marked in an unusual case."""
from __future__ import annotations

import base64
import email
import email.policy
import random

from gateway.delivery.part_names import clean_names
from gateway.pipeline import mime_attach
from rules.names import saved_name
from tests.letters import letter, make_pdf
from tests.paths import shared_path


def ascii_letter(disposition: bytes, pdf: bytes) -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            b"Subject: =?utf-8?b?4Lir4LiZ4Lix4LiH4Liq4Li34Lit?=\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
            b"--BB\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsee the file\r\n"
            b"--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            + disposition + b"\r\n\r\n" + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"--BB--\r\n")


def files_of(raw: bytes) -> list[tuple[str | None, bytes]]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return [(part.get_filename(), part.get_payload(decode=True)) for part in message.iter_attachments()]


def test_a_plain_ascii_name_longer_than_a_file_system_holds_is_written_as_the_register_saves_it():
    pdf = make_pdf("long name")
    long_name = "a" * 300 + ".pdf"
    raw = ascii_letter(b'Content-Disposition: attachment; filename="' + long_name.encode() + b'"', pdf)
    assert raw.isascii()
    [(written, data)] = files_of(clean_names(raw))
    assert written == saved_name(long_name) and len(written.encode()) <= 255 and written.endswith(".pdf")
    assert data == pdf


def test_an_encoded_name_marked_in_an_odd_case_is_read_as_the_register_reads_it():
    """`fIlEnAmE*=` with Windows-874 bytes under a utf-8 label: the register reads the
    Thai name; a mail client showed replacement characters. Written again as the
    register reads it, whatever the case of the parameter's name."""
    pdf = make_pdf("odd case")
    thai = "สิ่งที่ส่งมาด้วย_๑.pdf"
    percent = "".join(f"%{b:02X}" for b in thai.encode("cp874")).encode()
    raw = ascii_letter(b"Content-Disposition: attachment; fIlEnAmE*=utf-8''" + percent, pdf)
    assert raw.isascii()
    assert files_of(clean_names(raw)) == [(thai, pdf)]


def test_a_letter_whose_names_every_client_reads_is_the_same_bytes():
    raw = ascii_letter(b'Content-Disposition: attachment; filename="2569_dds_0403_57.pdf"', make_pdf("plain"))
    assert clean_names(raw) is raw
    thunderbird = letter(files=[("สิ่งที่ส่งมาด้วย.pdf", make_pdf("a")), ("2569_dds_0403_57.pdf", make_pdf("b"))])
    assert clean_names(thunderbird) == thunderbird


def old_newline(raw: bytes) -> bytes:  # before session 31: the LF search ran through the files
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return b"\r\n"
    if lf >= 0:
        return b"\n"
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def test_the_newline_of_a_header_block_is_the_one_the_whole_search_found():
    rng = random.Random(2026_12_04)
    pieces = [b"A: b", b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\n", b"\r\n\n", b"\n\r\n", b"x" * 70, b""]
    shapes = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) for _ in range(20000)]
    shapes += [p.read_bytes() for p in sorted(shared_path("corpus", "mime").rglob("*")) if p.is_file()]
    kinds = set()
    for raw in shapes:
        assert mime_attach._newline(raw) == old_newline(raw), raw[:200]
        kinds.add(old_newline(raw))
    assert kinds == {b"\r\n", b"\n"}


def test_headers_added_at_once_are_the_headers_added_one_by_one():
    raw = letter()
    headers = [("X-Saraban-Stamp", "stamped: หนังสือ.stamped.pdf"), ("X-Saraban-Signature", "a.pdf: TOTAL_PASSED"),
               ("X-Saraban-Signature", "b.pdf: \u202eevil\u202c INDETERMINATE")]
    one_by_one = raw
    for name, value in reversed(headers):
        one_by_one = mime_attach.add_header(one_by_one, name, value)
    at_once = mime_attach.add_headers(raw, headers)
    assert at_once == one_by_one
    lf = raw.replace(b"\r\n", b"\n")
    assert mime_attach.add_headers(lf, headers) == one_by_one.replace(b"\r\n", b"\n")
    message = email.message_from_bytes(at_once, policy=email.policy.default)
    assert message.get_all("X-Saraban-Signature") == ["a.pdf: TOTAL_PASSED", "b.pdf: evil INDETERMINATE"]


def single_part_letter(content_type: bytes, pdf: bytes) -> bytes:
    """A letter that is its PDF alone (no multipart), named on Content-Type only, with a
    DKIM-Signature longer than a name may be in its header block."""
    return (b"DKIM-Signature: v=1; a=rsa-sha256; d=bangkok.go.th; s=s1;\r\n b=" + b"A" * 344 + b"\r\n"
            b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: x\r\n"
            b"MIME-Version: 1.0\r\n" + content_type + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(pdf).replace(b"\n", b"\r\n"))


def test_a_long_plain_name_on_content_type_of_a_single_part_letter_is_written_as_the_register_saves_it():
    pdf = make_pdf("single part")
    long_name = "r" * 280 + ".pdf"
    raw = single_part_letter(b'Content-Type: application/pdf; name="' + long_name.encode() + b'"', pdf)
    message = email.message_from_bytes(clean_names(raw), policy=email.policy.default)
    assert message.get_param("name") == saved_name(long_name) and len(saved_name(long_name).encode()) <= 255
    assert message.get_payload(decode=True) == pdf
    assert message["DKIM-Signature"] is not None  # the letter's own fields as they came


def test_an_rfc2047_name_in_an_odd_case_with_windows_874_bytes_is_read_as_the_register_reads_it():
    """`nAmE="=?utf-8?B?...?="` (Outlook's RFC 2047 in a quoted name, the parameter in a
    case the old search did not list), Windows-874 bytes under the utf-8 label."""
    pdf = make_pdf("odd case 2047")
    thai = "หนังสือ_๒.pdf"
    word = b"=?utf-8?B?" + base64.b64encode(thai.encode("cp874")) + b"?="
    raw = ascii_letter(b'Content-Disposition: attachment\r\nX-Ignored: y', pdf).replace(
        b"Content-Type: application/pdf\r\n", b'Content-Type: application/pdf; nAmE="' + word + b'"\r\n')
    assert raw.isascii()
    message = email.message_from_bytes(clean_names(raw), policy=email.policy.default)
    [part] = list(message.iter_attachments())
    assert part.get_param("name") == thai and part.get_payload(decode=True) == pdf
