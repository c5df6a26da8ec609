"""Realistic letters for tests: real PDF bytes, Thai names, the shapes mail clients use.

Subjects, numbers and dates are quoted from the seeds (../shared/seeds/)."""
from __future__ import annotations

import base64
import os
import uuid
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

# From seed 000: a circular of the Permanent Secretary's office.
SEED_SUBJECT = "การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานคร"
SEED_REFERENCE = "กท.๐๔๐๗/ว.๕๗"
SEED_DATE = "๑๓ มิถุนายน ๒๕๖๕"


def make_pdf(text: str = "BMA letter", filler: int = 0, pages: int = 1) -> bytes:
    """A small, valid PDF (pypdf and libmagic accept it) with an ASCII text layer and,
    if asked, `filler` bytes of incompressible data to reach a realistic size."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font_no = 3 + 2 * pages
    for i in range(pages):
        content_no = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_no} 0 R "
            f"/Resources << /Font << /F1 {font_no} 0 R >> >> >>".encode()
        )
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 14 Tf 72 760 Td ({safe} page {i + 1}) Tj ET".encode("latin-1", "replace")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if filler:
        data = os.urandom(filler)
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    return assemble_pdf(objects)


def assemble_pdf(objects: list[bytes], header: bytes = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF file of these object bodies (object 1 the catalog), with its xref table."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream_object(data: bytes, entries: bytes = b"") -> bytes:
    """A stream object's body: `entries` (e.g. b"/Type /XObject /Subtype /Form ") and
    its /Length in the dictionary, then `data`."""
    return b"<< " + entries + b"/Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def one_page_pdf(content: bytes, resources: bytes = b"", objects: tuple[bytes, ...] = ()) -> bytes:
    """An A4 page drawing `content` with `resources` (the inside of its /Resources
    dictionary): catalog 1, pages 2, page 3, content 4, then `objects` from 5 on."""
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << "
        + resources + b" >> >>",
        stream_object(content),
        *objects,
    ], header=b"%PDF-1.4\n")


def letter(
    to: str = "saraban.latkrabang@bangkok.go.th",
    sender: str = "saraban.dds@bangkok.go.th",
    subject: str = SEED_SUBJECT,
    body: str | None = None,
    files: list[tuple[str, bytes]] | None = None,
    message_id: str | None = None,
    charset: str = "utf-8",
    filename_style: str = "rfc2231",
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A letter as a mail client would send it.

    filename_style: "rfc2231" (Thunderbird), "rfc2047" (Outlook: encoded words inside
    name=), "inline" (Apple Mail / Gmail: the PDF inline, declared octet-stream)."""
    if files is None:
        files = [("2569_dds_0403_57.pdf", make_pdf("cover letter"))]
    if body is None:
        body = f"ที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง {subject}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n"
    msg = MIMEMultipart("mixed")
    msg["From"] = formataddr(("สำนักการระบายน้ำ", sender), charset=charset)
    msg["To"] = to
    msg["Subject"] = Header(subject, charset)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id or f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    for key, value in (extra_headers or {}).items():
        msg[key] = value
    msg.attach(MIMEText(body, "plain", charset))
    for name, data in files:
        if filename_style == "inline":
            part = MIMEApplication(data, "octet-stream")
            part.add_header("Content-Disposition", "inline")
        else:
            part = MIMEApplication(data, "pdf" if name.lower().endswith(".pdf") else "octet-stream")
            if filename_style == "rfc2047":
                encoded = Header(name, charset).encode()
                part.add_header("Content-Disposition", "attachment", filename=encoded)
                part.set_param("name", encoded)
            else:
                part.add_header("Content-Disposition", "attachment", filename=(charset, "", name))
        msg.attach(part)
    # On the wire every line ends in CRLF (smtplib sends bytes as they are).
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def raw_rfc2047(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def with_header(raw: bytes, name: str, value: str | bytes | None) -> bytes:
    """`raw` with header `name` (its folded lines too) replaced in place by one line, or
    removed (None)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    key = name.lower().encode() + b":"
    out, skip = [], False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(key):
            skip = True
            if value is not None:
                out.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
            continue
        if skip and line[:1] in (b" ", b"\t"):
            continue
        skip = False
        out.append(line)
    return b"\r\n".join(out) + sep + body


def tnef_file(files: list[tuple[str, bytes]], body: str | None = None, codepage: int = 874,
              long_names: bool = True) -> bytes:
    """A winmail.dat as Outlook writes one (MS-OXTNEF 2.1.3): the message's attributes,
    then per file its rendering, title (8.3, in the sender's code page), data and MAPI
    properties with the long name (Unicode). `body`: attBody, in the code page."""

    def attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
        return (bytes([level]) + name.to_bytes(2, "little") + kind.to_bytes(2, "little")
                + len(data).to_bytes(4, "little") + data + (sum(data) & 0xFFFF).to_bytes(2, "little"))

    def unicode_property(prop: int, text: str) -> bytes:
        value = (text + "\0").encode("utf-16-le")
        value += b"\0" * (-len(value) % 4)
        return (b"\x1f\x00" + prop.to_bytes(2, "little") + (1).to_bytes(4, "little")
                + len((text + "\0").encode("utf-16-le")).to_bytes(4, "little") + value)

    out = b"\x78\x9f\x3e\x22" + b"\x01\x00"
    out += attribute(1, 0x9006, 0x0008, (0x00010000).to_bytes(4, "little"))  # attTnefVersion
    out += attribute(1, 0x9007, 0x0006, codepage.to_bytes(4, "little") + b"\0\0\0\0")  # attOemCodepage
    out += attribute(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    if body is not None:
        out += attribute(1, 0x800C, 0x0002, body.encode(f"cp{codepage}") + b"\0")  # attBody
    for name, data in files:
        out += attribute(2, 0x9002, 0x0006, b"\xff\xff\xff\xff" + b"\0" * 10)  # attAttachRendData
        out += attribute(2, 0x8010, 0x0001, name.encode(f"cp{codepage}", "replace") + b"\0")  # attAttachTitle
        out += attribute(2, 0x800F, 0x0006, data)  # attAttachData
        if long_names:
            out += attribute(2, 0x9005, 0x0006, (1).to_bytes(4, "little") + unicode_property(0x3707, name))
    return out


def outlook_letter(tnef: bytes, body: str = "ดูไฟล์แนบ", files: list[tuple[str, bytes]] = (), **kwargs) -> bytes:
    """A letter as Outlook sends rich text: a plain body and winmail.dat (application/ms-tnef),
    then `files`."""
    raw = letter(body=body, files=[("winmail.dat", tnef), *files], **kwargs)
    return raw.replace(b"Content-Type: application/octet-stream", b"Content-Type: application/ms-tnef", 1)
