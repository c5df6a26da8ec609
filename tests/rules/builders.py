"""Build ParsedMail/Attachment directly, as gateway/pipeline/parse.py would fill them."""
from __future__ import annotations

import hashlib
import io
import zipfile

from pypdf import PdfWriter

from rules.model import Attachment, ParsedMail


def pdf_bytes(pages: int = 1) -> bytes:
    """A real, valid PDF (blank A4 pages), so tests do not depend on fake bytes."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


PDF = pdf_bytes()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"


def zip_bytes(names: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in names.items():
            zf.writestr(name, data)
    return buf.getvalue()


_counter = iter(range(10_000))


def att(
    filename: str | None,
    sniffed: str = "application/pdf",
    data: bytes | None = None,
    *,
    declared: str | None = None,
    disposition: str | None = "attachment",
    pdf_text: str | None = None,
    encrypted: bool = False,
    pdf_error: str | None = None,
    index: int | None = None,
) -> Attachment:
    if data is None:
        # Distinct content per file unless the test says otherwise (duplicates).
        data = PDF + f"% {filename}\n".encode() if sniffed == "application/pdf" else b"x" * 10 + (filename or "").encode()
    return Attachment(
        index=next(_counter) if index is None else index,
        filename=filename,
        declared_type=declared or sniffed,
        disposition=disposition,
        data=data,
        sniffed_type=sniffed,
        sha256=hashlib.sha256(data).hexdigest(),
        pdf_text=pdf_text,
        pdf_encrypted=encrypted,
        pdf_pages=1 if sniffed == "application/pdf" and not pdf_error else None,
        pdf_error=pdf_error,
    )


def mail(*attachments: Attachment, subject: str = "", body: str = "", html: str = "",
         headers: tuple[tuple[str, str], ...] = ()) -> ParsedMail:
    return ParsedMail(
        subject=subject,
        from_address="saraban.dds@bangkok.go.th",
        reply_to=None,
        envelope_sender="saraban.dds@bangkok.go.th",
        message_id="<t@bangkok.go.th>",
        date=None,
        headers=(("Subject", subject),) + headers,
        body_text=body,
        body_html=html,
        attachments=tuple(attachments),
    )


# The header of seed 003 as a cover letter's text layer would give it.
COVER_003 = """ด่วนที่สุด
บันทึกข้อความ
ส่วนราชการ สำนักงานเลขานุการปลัดกรุงเทพมหานคร (ส่วนบริหารกลาง โทร. ๐ ๒๒๒๑ ๔๘๔๘ หรือโทร. ๑๔๘๒)
ที่ กท ๐๔๐๓/ว ๒๗๖
วันที่ ๒๒ ธันวาคม ๒๕๖๖
เรื่อง แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร
เรียน ผู้อำนวยการเขต
สืบเนื่องจากมติที่ประชุมคณะผู้บริหารกรุงเทพมหานคร
"""
