"""A marking a mail client shows is read by the gateway too, however the MIME hides it.

Found by a red-team of the classification reading: each case below is a letter a
client (Thunderbird, Outlook, Dovecot's own parse) shows as marked ลับ/ลับมาก/ลับที่สุด
that the gateway read as unmarked, so that it was registered in plaintext or, marked
ลับที่สุด, taken in with a 250 (gateway/pipeline/parse.py, file_texts.py;
docs/secrecy.md "Where in the letter"). Each asserts what a client's reader would
conclude (`classify_raw`, the DATA check's reading, which is the pipeline's); where the
gateway cannot read what a client shows, the letter is at least ลับ and uncertain."""
from __future__ import annotations

import base64
import io
import zipfile

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
HEAD = ("From: =?utf-8?B?" + base64.b64encode("สำนักการระบายน้ำ".encode()).decode()
        + "?= <saraban.dds@bangkok.go.th>\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
          "Date: Mon, 30 Nov 2026 10:00:00 +0700\r\nMessage-ID: <mime-hidden@dds.bangkok.go.th>\r\n"
          "MIME-Version: 1.0\r\n").encode()
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\r\nขอส่งหนังสือตามแนบ\r\n".encode()
LETTER_LINES = ["บันทึกข้อความ", "ส่วนราชการ สำนักการระบายน้ำ", "เรื่อง ขอส่งแผนการปฏิบัติงาน",
                "เรียน ผู้อำนวยการเขตลาดกระบัง", "ขอแสดงความนับถือ"]


def subject(text: str) -> bytes:
    return b"Subject: =?utf-8?B?" + base64.b64encode(text.encode()) + b"?=\r\n"


def text_part(body: bytes = BODY) -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def file_part(ctype: str, name: str | None, data: bytes, cte: str = "base64", extra: bytes = b"") -> bytes:
    head = f"Content-Type: {ctype}" + (f'; name="{name}"' if name else "") + "\r\n"
    if name:
        head += f'Content-Disposition: attachment; filename="{name}"\r\n'
    body = base64.encodebytes(data).replace(b"\n", b"\r\n") if cte.split()[0].lower() == "base64" else data
    return extra + head.encode() + f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode() + body


def mixed(*parts: bytes, headers: bytes = b"", subj: str = "ขอส่งแผนการปฏิบัติงาน", boundary: bytes = b"BB") -> bytes:
    out = HEAD + subject(subj) + headers + b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
    for part in parts:
        out += b"--BB\r\n" + part + b"\r\n"
    return out + b"--BB--\r\n"


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


@pytest.fixture(scope="module")
def top_secret_pdf() -> bytes:
    return thai_pdf(top="ลับที่สุด")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


# --------------------------------------------------------------------------- 1 (f13)

def test_obsolete_header_syntax_does_not_end_the_header_block(top_secret_pdf):
    """`X-Mailer : ...` (RFC 5322 4.5, which receivers must accept) ended Python's header
    block: the Subject and X-Saraban-Secrecy after it, or a part's Content-Type (its PDF)
    became body text. They are read as Dovecot reads them; a file sent 8bit is not
    changed by that (its bytes are the sender's)."""
    bad = b"X-Mailer : Microsoft Outlook 16.0\r\n"
    in_subject = (HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n" + bad + subject("ลับที่สุด แผนป้องกันเหตุ")
                  + b"\r\n--BB\r\n" + text_part() + b"\r\n--BB\r\n" + file_part("application/pdf", "a.pdf", make_pdf())
                  + b"\r\n--BB--\r\n")
    assert reading(in_subject) == ("top_secret", True)
    in_label = (HEAD + subject("แผน") + b"Content-Type: text/plain; charset=utf-8\r\n" + bad
                + b"X-Saraban-Secrecy: secret\r\n\r\n" + BODY)
    assert reading(in_label) == ("secret", True)
    in_part = mixed(text_part(), file_part("application/pdf", "2569_0403_58.pdf", top_secret_pdf,
                                           extra=b"X-Attachment-Id : f_1\r\n"))
    assert reading(in_part) == ("top_secret", True)
    # An 8bit PDF (its bytes as they are, "Name : value" lines of its own inside) is the
    # sender's file, byte for byte.
    pdf = top_secret_pdf.replace(b"%PDF-1.3\n", b"%PDF-1.3\nX-Odd : line\n", 1)
    raw = mixed(text_part(), file_part("application/pdf", "a.pdf", pdf, cte="8bit", extra=b"X-Id : 1\r\n"))
    mail = parse_mail(raw)
    assert [a.data for a in mail.attachments] == [pdf]
    assert reading(raw) == ("top_secret", True)


def test_a_boundary_with_junk_after_it_is_split_where_dovecot_splits_it(top_secret_pdf):
    raw = mixed(text_part(), file_part("application/pdf", "2569_0403_57.pdf", top_secret_pdf), boundary=b"BB junk")
    assert reading(raw) == ("top_secret", True)


def test_a_header_block_the_gateway_still_cannot_read_is_at_least_confidential():
    """A line with no colon among the headers: Python stops there, clients read on.
    What came after it is not read, so the letter is at least ลับ, uncertain."""
    raw = HEAD + b"Content-Type: text/plain; charset=utf-8\r\nThis line has no colon\r\n" + subject("แผน") + b"\r\n" + BODY
    assert reading(raw) == ("confidential", False)
    nowhere = mixed(text_part(), boundary=b'"CC"')  # no part is ever found
    assert reading(nowhere) == ("confidential", False)


# --------------------------------------------------------------------------- 2 (f4)

def _inner(subj: str, extra: bytes = b"", body: bytes = BODY) -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.dds.sd@bangkok.go.th\r\n" + subject(subj) + extra
            + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + body)


def _inner_with_pdf(pdf: bytes) -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nSubject: plan\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=CC\r\n\r\n--CC\r\nContent-Type: text/plain\r\n\r\nsee pdf\r\n"
            b"--CC\r\n" + file_part("application/pdf", "a.pdf", pdf) + b"\r\n--CC--\r\n")


def test_a_forwarded_letter_is_read_with_its_own_headers_and_files(top_secret_pdf, secret_pdf):
    rfc822 = b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    assert reading(mixed(text_part(), rfc822 + _inner("ลับที่สุด แผนป้องกันเหตุ"))) == ("top_secret", True)
    assert reading(mixed(text_part(), rfc822 + _inner("แผน", b"X-Classification: 004\r\n"))) == ("top_secret", True)
    mail = parse_mail(mixed(text_part(), rfc822 + _inner("ลับมาก แผน")))
    assert [dict(block).get("Subject") for block in mail.inner_headers] == ["ลับมาก แผน"]
    # An .eml sent as application/octet-stream: its PDF is read (and its headers).
    eml = file_part("application/octet-stream", "letter.eml", _inner_with_pdf(top_secret_pdf))
    assert reading(mixed(text_part(), eml)) == ("top_secret", True)
    # message/rfc822 sent base64-encoded: decoded as a client decodes it.
    encoded = file_part("message/rfc822", "letter.eml", _inner_with_pdf(secret_pdf))
    assert reading(mixed(text_part(), encoded)) == ("secret", True)
    # An ordinary forwarded letter stays ordinary.
    assert reading(mixed(text_part(), rfc822 + _inner("แผนป้องกันเหตุ"))) == ("none", True)


def test_messages_inside_messages_are_read_to_a_bound():
    """Depth 3: a letter in an .eml in an .eml in an .eml is read; one level further is
    not, and the letter is at least ลับ for what was not read."""
    def wrapped(inner: bytes, levels: int) -> bytes:
        for _ in range(levels):
            inner = mixed(text_part(), file_part("application/octet-stream", "fw.eml", inner))
        return inner

    assert reading(wrapped(_inner("ลับมาก แผน"), 3)) == ("secret", True)
    assert reading(wrapped(_inner("ลับมาก แผน"), 6)) == ("confidential", False)


# --------------------------------------------------------------------------- 4 (f5)

def test_text_files_are_read_in_their_charsets():
    text = "ลับมาก\r\nบันทึกข้อความ\r\nเรื่อง ขอส่งแผนการปฏิบัติงาน\r\n"
    for ctype, data in (
            ("text/plain; charset=windows-874", text.encode("cp874")),
            ("text/plain; charset=tis-620", text.encode("tis_620")),
            ("text/plain; charset=utf-16", text.encode("utf-16")),
            ("text/plain", text.encode("cp874")),  # undeclared: not UTF-8, so Windows-874
            ("text/html; charset=windows-874",
             "<html><body><p align=center>ลับมาก</p><p>เรื่อง ขอส่งแผน</p></body></html>".encode("cp874")),
            ("text/html; charset=utf-8", "<p align=center>ลับมาก</p>\n<p>เรื่อง ขอส่งแผน</p>\n".encode())):
        name = "letter.html" if "html" in ctype else "letter.txt"
        # Named, no disposition: shown inline by clients, a file for mail-parser.
        part = (f'Content-Type: {ctype}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
                + base64.encodebytes(data))
        assert reading(mixed(text_part(), part)) == ("secret", True), ctype
    # An HTML file libmagic calls text/plain, named .html: its tags do not hide the marking.
    html = file_part("application/octet-stream", "letter.htm", "<b>ลับ</b><b>มาก</b><br>เรื่อง แผน\n".encode())
    assert reading(mixed(text_part(), html)) == ("secret", True)


# --------------------------------------------------------------------------- 6 (f6)

def test_a_pdf_declared_as_one_is_read_whatever_its_name(top_secret_pdf):
    for head, junk in ((b'Content-Type: application/pdf; name="letter"\r\n', b"\r\n"),
                       (b"Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n", b" ")):
        part = head + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(junk + top_secret_pdf)
        assert reading(mixed(text_part(), part)) == ("top_secret", True)


# --------------------------------------------------------------------------- 7 (f7)

@pytest.mark.parametrize("cte", ["base64 ", "base64\t", "base64 (PDF)", "BASE64"])
def test_a_transfer_encoding_with_space_or_comment_is_decoded(top_secret_pdf, cte):
    raw = mixed(text_part(), file_part("application/pdf", "2569_0403_57.pdf", top_secret_pdf, cte=cte))
    assert reading(raw) == ("top_secret", True)


# --------------------------------------------------------------------------- 3 (f12)

def _opaque(inner: bytes, ctype: str = "application/pkcs7-mime", der: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    from tests.secrecy.certs import make_cert

    if der is None:
        key, cert = make_cert("สำนักการระบายน้ำ signer")
        der = (pkcs7.PKCS7SignatureBuilder().set_data(inner).add_signer(cert, key, hashes.SHA256())
               .sign(serialization.Encoding.DER, []))
    return (HEAD + subject("ขอส่งแผนการปฏิบัติงาน")
            + f'Content-Type: {ctype}; smime-type=signed-data; name="smime.p7m"\r\n'
              'Content-Disposition: attachment; filename="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
            + base64.encodebytes(der))


def test_an_opaque_signed_letter_is_read_inside_its_signature(top_secret_pdf, secret_pdf):
    def inner(marking: str, pdf: bytes) -> bytes:
        return (b"Content-Type: multipart/mixed; boundary=II\r\n\r\n--II\r\n"
                + text_part(f"{marking}\r\nบันทึกข้อความ\r\nเรียน ผู้อำนวยการเขตลาดกระบัง\r\n".encode())
                + b"\r\n--II\r\n" + file_part("application/pdf", "2569_dds_0403_57.pdf", pdf) + b"\r\n--II--\r\n")

    assert reading(_opaque(inner("ลับที่สุด", top_secret_pdf))) == ("top_secret", True)
    assert reading(_opaque(inner("", secret_pdf), "application/x-pkcs7-mime")) == ("secret", True)
    mail = parse_mail(_opaque(inner("", make_pdf("cover"))))
    # The letter's own files first, then the signature file (where its verdict is kept).
    assert [a.declared_type for a in mail.attachments] == ["application/pdf", "application/pkcs7-mime"]
    assert reading(_opaque(b"", der=b"\x30\x03\x02\x01\x00")) == ("confidential", False)


# --------------------------------------------------------------------------- 5 (f10)

def _zip(members: dict[str, bytes], **kwargs) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, **kwargs) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _docx(lines: list[str], header: str = "", encoding: str = "utf-8") -> bytes:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    paras = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)
    members = {"[Content_Types].xml": "<Types/>", "word/document.xml": f"<w:document {w}><w:body>{paras}</w:body></w:document>"}
    if header:
        members["word/header1.xml"] = f"<w:hdr {w}><w:p><w:r><w:t>{header}</w:t></w:r></w:p></w:hdr>"
    return _zip({k: v.encode(encoding) for k, v in members.items()})


def _xlsx(cells: list[str]) -> bytes:
    strings = "".join(f"<si><t>{c}</t></si>" for c in cells)
    return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                 "xl/sharedStrings.xml": f"<sst>{strings}</sst>".encode()})


def _pptx(lines: list[str]) -> bytes:
    paras = "".join(f"<a:p><a:r><a:t>{line}</a:t></a:r></a:p>" for line in lines)
    return _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p:presentation/>",
                 "ppt/slides/slide1.xml": f"<p:sld><p:txBody>{paras}</p:txBody></p:sld>".encode()})


def _odt(lines: list[str]) -> bytes:
    paras = "".join(f"<text:p>{line}</text:p>" for line in lines)
    return _zip({"mimetype": b"application/vnd.oasis.opendocument.text",
                 "content.xml": f"<office:document-content><office:body><office:text>{paras}"
                                f"</office:text></office:body></office:document-content>".encode()})


def _rtf(lines: list[str]) -> bytes:
    """As Word and WordPad write Thai: code page 874 bytes as \\'xx escapes."""
    body = "\\par\n".join("".join(f"\\'{b:02x}" if b > 127 else chr(b) for b in line.encode("cp874")) for line in lines)
    return ("{\\rtf1\\ansi\\ansicpg874\\deff0{\\fonttbl{\\f0\\fcharset222 Tahoma;}}\\f0\\fs28 " + body + "\\par\n}").encode()


def test_office_documents_rtf_and_archives_are_read(top_secret_pdf):
    cases = {
        "2569_0403_57.docx": (_docx(["ลับที่สุด", *LETTER_LINES]), "top_secret"),
        "header.docx": (_docx(LETTER_LINES, header="ลับมาก"), "secret"),
        "2569_0403_57.xlsx": (_xlsx(["ลับ", "รายชื่อผู้เข้าประชุม"]), "confidential"),
        "2569_0403_57.pptx": (_pptx(["ลับมาก", "แผนการปฏิบัติงาน"]), "secret"),
        "2569_0403_57.odt": (_odt(["ลับที่สุด", *LETTER_LINES]), "top_secret"),
        "2569_0403_57.rtf": (_rtf(["ลับที่สุด", *LETTER_LINES]), "top_secret"),
        "unicode.rtf": (b"{\\rtf1\\ansi\\uc1 \\u3621?\\u3633?\\u3610?\\u3617?\\u3634?\\u3585?\\par "
                        b"\\u3648?\\u3619?\\u3639?\\u3656?\\u3629?\\u3591? x\\par}", "secret"),
        "letters.zip": (_zip({"2569_0403_57.pdf": top_secret_pdf}), "top_secret"),
        "nested.zip": (_zip({"inner.zip": _zip({"letter.docx": _docx(["ลับมาก", *LETTER_LINES])})}), "secret"),
        "text.zip": (_zip({"letter.txt": "ลับ\nเรื่อง แผน\n".encode("cp874")}), "confidential"),
    }
    for name, (data, level) in cases.items():
        raw = mixed(text_part(), file_part("application/octet-stream", name, data))
        assert reading(raw) == (level, True), name
    # Unmarked ones stay ordinary.
    for data in (_docx(LETTER_LINES), _zip({"a.pdf": make_pdf("cover"), "b.txt": b"hello"}), _rtf(LETTER_LINES)):
        assert reading(mixed(text_part(), file_part("application/octet-stream", "x.bin", data))) == ("none", True)


def test_what_an_archive_keeps_from_the_gateway_is_at_least_confidential():
    # An encrypted member (ZipCrypto flag set): a person with the password reads it.
    plain = _zip({"letter.txt": b"hello"})
    encrypted = bytearray(plain)
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        at = encrypted.find(signature)
        flags = at + (6 if signature == b"PK\x03\x04" else 8)
        encrypted[flags] |= 1
    assert reading(mixed(text_part(), file_part("application/zip", "a.zip", bytes(encrypted)))) == ("confidential", False)
    # A zip bomb: one member unpacking to 1,000 times its size is not unpacked.
    bomb = _zip({"big.txt": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    assert reading(mixed(text_part(), file_part("application/zip", "b.zip", bomb))) == ("confidential", False)
    # Archives in archives in archives: past depth 2 not read.
    deep = _zip({"1.zip": _zip({"2.zip": _zip({"3.zip": _zip({"a.txt": b"x"})})})})
    assert reading(mixed(text_part(), file_part("application/zip", "c.zip", deep))) == ("confidential", False)


# --------------------------------------------------------------------------- 8 (f11)

def test_utf7_and_flowed_bodies_are_read_as_clients_show_them():
    utf7 = b"Content-Type: text/plain; charset=utf-7\r\n\r\n" + "ลับที่สุด\nบันทึกข้อความ\n".encode("utf-7")
    assert reading(mixed(utf7)) == ("top_secret", True)
    flowed = (b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n"
              b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "ลับม \r\nาก\r\nบันทึกข้อความ\r\n".encode())
    assert reading(mixed(flowed)) == ("secret", True)
    soft = (b"Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "ลับ \r\nที่สุด\r\nบันทึกข้อความ\r\n".encode())
    assert reading(mixed(soft)) == ("top_secret", True)


# --------------------------------------------------------------------------- through the daemon

def test_over_smtp_a_forwarded_top_secret_eml_is_refused_before_the_250(daemon, top_secret_pdf):
    raw = mixed(text_part(), file_part("application/octet-stream", "letter.eml", _inner_with_pdf(top_secret_pdf)))
    code, text = daemon.data_reply(raw)
    assert code == 550 and text.isascii()
    daemon.wait_idle()
    assert daemon.register() == []


def test_over_smtp_a_word_letter_marked_secret_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, assert_one_letter_sealed, sealing_daemon

    with sealing_daemon(tmp_path / "gw") as d:
        docx = _docx(["ลับมาก", *LETTER_LINES, MARKER])
        raw = letter(body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                     files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("2569_dds_0403_57.docx", docx)])
        qid = d.send(raw, LAT)
        d.wait_idle()
        assert_one_letter_sealed(d, qid)


def test_a_letter_with_two_subject_lines_is_read_not_lost():
    """mail-parser answers a list for two Subject lines, and parse_mail failed on it (the
    letter was sealed unread); the obsolete-syntax repair makes such blocks more common."""
    raw = HEAD + b"Subject: one\r\n" + subject("ลับมาก แผน") + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + BODY
    assert reading(raw) == ("secret", True)
    assert parse_mail(raw).subject == "one"
