"""Thai subjects and file names as Outlook, Thunderbird and older Thai clients send
them: RFC 2047 (B and Q) and RFC 2231 (with continuations), in UTF-8, TIS-620 and
windows-874."""
from __future__ import annotations

import base64
import codecs
import quopri

import pytest

from gateway.pipeline.parse import parse_mail
from tests.letters import make_pdf

SUBJECT = "ขอเชิญประชุมคณะกรรมการ ด่วนที่สุด"  # Thai with tone marks and vowels above/below
FILENAME = "หนังสือนำ_สำนักงานเขตลาดกระบัง.pdf"
CHARSETS = ["utf-8", "tis-620", "windows-874"]
PDF = make_pdf("cover")


def encoded_word(text: str, charset: str, kind: str) -> str:
    data = text.encode(charset)
    if kind == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    q = quopri.encodestring(data, header=True).decode().replace("=\n", "")
    return f"=?{charset}?Q?{q}?="


def rfc2231(name: str, charset: str, pieces: int = 3) -> str:
    """filename*0*=charset''..; filename*1*=..; continuations as Thunderbird writes."""
    quoted = "".join(f"%{b:02X}" for b in name.encode(charset))
    size = -(-len(quoted) // pieces)
    # never split a %XX escape
    parts, i = [], 0
    while i < len(quoted):
        j = min(len(quoted), i + size)
        while j < len(quoted) and quoted[j - 1] != "X" and "%" in quoted[j - 2:j]:
            j += 1
        parts.append(quoted[i:j])
        i = j
    out = [f" filename*0*={charset}''{parts[0]}"]
    out += [f" filename*{n}*={p}" for n, p in enumerate(parts[1:], start=1)]
    return ";\r\n".join(out)


def message(subject_header: str, disposition: str) -> bytes:
    pdf_b64 = base64.encodebytes(PDF).decode().replace("\n", "\r\n")
    return (
        "From: saraban.dds@bangkok.go.th\r\n"
        "To: saraban.latkrabang@bangkok.go.th\r\n"
        f"Subject: {subject_header}\r\n"
        "Message-ID: <thai-1@dds.bangkok.go.th>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nเรียน ผู้อำนวยการเขต\r\n"
        "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;{disposition}\r\n\r\n{pdf_b64}\r\n--b1--\r\n"
    ).encode("utf-8")


def test_windows_874_is_a_known_codec_after_start_up():
    import gateway.pipeline.charsets  # noqa: F401

    assert codecs.lookup("windows-874").name == "cp874"
    assert codecs.lookup("WINDOWS-874").name == "cp874"


@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("kind", ["B", "Q"])
def test_rfc2047_subject_and_filename(charset, kind):
    raw = message(encoded_word(SUBJECT, charset, kind),
                  f' filename="{encoded_word(FILENAME, charset, kind)}"')
    mail = parse_mail(raw)
    assert mail.subject == SUBJECT
    [pdf] = mail.attachments
    assert pdf.filename == FILENAME
    assert pdf.sniffed_type == "application/pdf"
    assert pdf.data == PDF


@pytest.mark.parametrize("charset", CHARSETS)
def test_rfc2231_filename_with_continuations(charset):
    raw = message(encoded_word(SUBJECT, charset, "B"), "\r\n" + rfc2231(FILENAME, charset))
    mail = parse_mail(raw)
    assert mail.subject == SUBJECT
    assert mail.attachments[0].filename == FILENAME


@pytest.mark.parametrize("charset", ["tis-620", "windows-874"])
def test_thai_through_the_daemon_into_the_register(daemon, charset):
    raw = message(encoded_word(SUBJECT, charset, "B"), "\r\n" + rfc2231(FILENAME, charset))
    daemon.send(raw, "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()
    [entry] = daemon.register()
    assert entry["subject"] == SUBJECT
    assert entry["attachments"][0]["filename"] == FILENAME
    assert entry["urgency"] == "most_urgent"  # ด่วนที่สุด in the subject


def test_an_encoded_display_name_cannot_steer_the_sender_address():
    evil = base64.b64encode("x\r\nBcc: other@example.org <other@example.org>".encode()).decode()
    raw = (f"From: =?utf-8?B?{evil}?= <saraban.dds@bangkok.go.th>\r\n"
           f"Reply-To: =?utf-8?B?{evil}?= <reply@dds.bangkok.go.th>\r\n"
           "Subject: test\r\n\r\nbody\r\n").encode()
    mail = parse_mail(raw)
    assert mail.from_address == "saraban.dds@bangkok.go.th"
    assert mail.reply_to == "reply@dds.bangkok.go.th"


def test_a_whole_from_header_in_one_encoded_word_still_gives_the_address():
    word = base64.b64encode("สำนักการระบายน้ำ <saraban.dds@bangkok.go.th>".encode()).decode()
    raw = f"From: =?utf-8?B?{word}?=\r\nSubject: test\r\n\r\nbody\r\n".encode()
    assert parse_mail(raw).from_address == "saraban.dds@bangkok.go.th"


@pytest.mark.parametrize("name, value", [
    ("Subject", "[รับ 15/2569] ขอความอนุเคราะห์ข้อมูลเพื่อประกอบการพิจารณางบประมาณ ครั้งที่ 4 😀"),
    ("X-Saraban-Sender-Verified-For-A-Very-Long-Header-Name", "ผ่าน (moi.go.th)"),
    ("X-Saraban-Finding", "warning: files: a.pdf\r\nBcc: victim@example.org"),  # ASCII, but a line break
    ("X-Saraban-Finding", "ไฟล์ a.pdf\nBcc: victim@example.org"),
    ("X-Saraban-Unit", "saraban.latkrabang"),
    ("X-Saraban-Finding", "A" * 200 + " b"),
    # Other line breaks Python or a client may split on: VT, FS (ASCII), NEL, LINE SEPARATOR.
    ("X-Saraban-Signature", "a.pdf; TOTAL_PASSED; CN=x\x0bBcc: victim@example.org"),
    ("X-Saraban-Signature", "a.pdf; TOTAL_PASSED; CN=x\x1cBcc: victim@example.org"),
    ("X-Saraban-Signature", "a.pdf; CN=x\x85Bcc: victim@example.org"),
    ("Subject", "[รับ 1/2569] x\u2028Bcc: victim@example.org"),
])
def test_the_folder_copys_added_headers_decode_to_what_was_said_and_stay_one_field(name, value):
    """The gateway's own headers (folder copy, stamp lines): Thai folded into lines a
    mail client accepts, and a line break in the value never starts a header of its own."""
    import email
    import email.policy

    from gateway.pipeline.mime_attach import encoded_header

    field = encoded_header(name, value)
    msg = email.message_from_bytes(field + b"\r\nFrom: a@b\r\n\r\nbody", policy=email.policy.default)
    assert list(msg.keys()) == [name, "From"]  # no Bcc of the sender's making
    readable = value.isascii() and value.isprintable()
    assert (str(msg[name]).strip() if readable else str(msg[name])) == value
    lines = field.split(b"\r\n")
    assert all(line[:1] == b" " for line in lines[1:]) and b"\n" not in field.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in lines[1:] if b"=?" in line)
    if readable:
        assert value[:20].encode() in field  # readable and searchable as it is


def test_a_lone_surrogate_in_a_header_value_is_filed_not_raised():
    from gateway.pipeline.mime_attach import encoded_header

    assert encoded_header("Subject", "[รับ 1/2569] \udce0abc").endswith(b"?=")


@pytest.mark.parametrize("filename", [
    "2569_dds_0403_17.stamped.pdf",
    "หนังสือขอความอนุเคราะห์ข้อมูลเพื่อประกอบการพิจารณางบประมาณ ครั้งที่ 4.stamped.pdf",
    "ก" * 250 + ".pdf",  # longer than a line: continuations
    'a "quoted"; name=\\x.pdf',  # what a quoted-string must escape, and a parameter separator
    "bad\r\nContent-Type: text/html; x=.pdf",  # a sender's line break in its file name
    "x\x00y\x1b.pdf",
    "😀 %41 utf-8''x.pdf",  # what looks like an escape or a charset prefix
    "lone\udcff.pdf",  # a surrogate from an undecodable name is left out
    "หนังสือ\u202excod.pdf",  # drawn "หนังสือfdp.docx"
    "A" * 120 + ".pdf",
    "B" * 32 + ".pdf",  # short enough for Content-Type's line, not for Content-Disposition's
    "",
])
def test_the_stamped_files_name_reads_back_as_it_was_given_and_ends_no_header(filename):
    """The part the gateway adds to a folder copy (the stamped letter, a receipt): mail
    clients read the file name back as it was, whatever a sender named the original,
    and no character of it can end the header it is in. What would hide in it (a line
    break, U+202E, a control character) is left out (rules.names.saved_name)."""
    import email
    import email.policy

    from gateway.pipeline.mime_attach import add_attachment
    from rules.names import saved_name

    original = (b"From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
                b"--b1\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b1--\r\n")
    copy = add_attachment(original, filename, b"%PDF-1.7 stamped")
    expected = saved_name(filename)
    for policy in (email.policy.default, email.policy.compat32):
        msg = email.message_from_bytes(copy, policy=policy)
        parts = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
        assert len(parts) == 1 and parts[0].get_payload(decode=True) == b"%PDF-1.7 stamped"
        assert parts[0].get_filename() == expected
        name = parts[0].get_param("name")
        assert email.utils.collapse_rfc2231_value(name) == expected
        assert [k.lower() for k in parts[0].keys()] == [
            "content-transfer-encoding", "content-disposition", "content-type"]
    assert all(len(line) <= 78 for line in copy.split(b"\r\n"))


def test_an_smtputf8_from_address_is_read_as_its_utf8_not_replacement_characters():
    """RFC 6532 (SMTPUTF8): the email package keeps a raw header's 8-bit bytes as
    surrogates, and the register stored สมชาย@ราชการ.ไทย as a row of U+FFFD."""
    from gateway.pipeline.parse import parse_mail

    raw = ("From: สมชาย <สมชาย@ราชการ.ไทย>\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
           "Subject: x\r\nMessage-ID: <eai@example>\r\n\r\nhi\r\n").encode()
    assert parse_mail(raw).from_address == "สมชาย@ราชการ.ไทย"
    # Bytes that are not UTF-8 stay replaced, never surrogates the database refuses.
    broken = parse_mail(b"From: x <\xff\xfe@bad.example>\r\nSubject: x\r\n\r\nhi\r\n").from_address
    assert broken == "\ufffd\ufffd@bad.example"


def test_a_raw_windows_874_subject_is_registered_as_the_markings_read_it():
    """An older Thai client's Subject as raw 8-bit Windows-874, no encoded word (session
    13's windows-874 body finding, tried on the header): the markings read it as Thai,
    but the register's subject came from mail-parser's reading and was mojibake."""
    from rules.markings import read_classification

    raw = (b"From: " + "สำนักงานเขต".encode("cp874") + b" <saraban.dds@bangkok.go.th>\r\n"
           b"To: saraban.latkrabang@bangkok.go.th\r\nSubject: " + SUBJECT.encode("cp874")
           + b"\r\nMessage-ID: <cp874@example>\r\n\r\nhello\r\n")
    mail = parse_mail(raw)
    assert mail.subject == SUBJECT and mail.header("subject") == SUBJECT
    assert mail.from_address == "saraban.dds@bangkok.go.th"
    marked = parse_mail(raw.replace(SUBJECT.encode("cp874"), ("ลับมาก " + SUBJECT).encode("cp874")))
    assert marked.subject == "ลับมาก " + SUBJECT and read_classification(marked).level == "secret"


@pytest.mark.parametrize("value", [
    "saraban-gateway.test; spf=pass smtp.mailfrom=bangkok.go.th; dkim=pass header.d=bangkok.go.th "
    "header.s=sel header.b=abcdEFGH; dmarc=pass (p=quarantine) header.from=bangkok.go.th",
    "A" * 200 + " b",  # a first word longer than a line: read back without a space before it
    "  two leading spaces, and runs   of   spaces " * 4,
    "warning: files: a.pdf " + "x" * 90 + "   " + "y" * 10,
    "ends with spaces " * 6 + "     ",
])
def test_a_long_ascii_header_reads_back_exactly_and_folds_within_the_line(value):
    """The gateway's long ASCII fields (Authentication-Results, X-Saraban-Finding) are
    folded before spaces: a mail client unfolds them to the very value, and no line but
    one holding a word longer than a line passes 76 characters, none is only spaces."""
    import email
    import email.policy

    from gateway.pipeline.mime_attach import encoded_header

    field = encoded_header("Authentication-Results", value)
    msg = email.message_from_bytes(field + b"\r\n\r\nbody", policy=email.policy.default)
    assert str(msg["Authentication-Results"]) == value.lstrip(" ")  # as a client shows it
    assert field.decode().partition(": ")[2].replace("\r\n", "") == value  # unfolded: the very value
    lines = field.split(b"\r\n")
    assert len(lines) > 1
    assert all(line.strip() for line in lines)
    words = [line.split() for line in lines[1:]]
    assert all(len(line) <= 76 for line, said in zip(lines[1:], words, strict=True)
               if len(said) > 1 and not line.endswith(b" "))
