"""unreadable_pdf: a PDF the gateway could not open (`Attachment.pdf_error`)."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import display_name, is_pdf, letter_files
from rules.model import EMBEDDED_NOT_READ, NOT_READ_IN_TIME, SCAN_NOT_READ, Finding, LetterFacts, ParsedMail, RuleSettings


# What the reader left unread in a PDF that opened, and the clerk's warning about it.
_WENT_ON = {
    # A file inside the PDF did not open (a password, the limits).
    EMBEDDED_NOT_READ: ("อ่านไฟล์ที่แนบอยู่ภายใน {FILE} ไม่ได้ ลงทะเบียนไว้แล้ว เจ้าหน้าที่ควรเปิดตรวจไฟล์นี้เอง",
                        "a file embedded in {FILE} could not be read; the letter went on, a person should open it"),
    # A scanned page, or a typed page's stamp drawn as a picture or outlines, that OCR
    # could not read (or the limits left unread): the letter is sealed as ลับ.
    SCAN_NOT_READ: ("อ่านตราชั้นความลับในไฟล์ {FILE} ไม่ได้ (หน้าที่สแกน หรือตราที่เป็นภาพ) ลงทะเบียนไว้แล้ว "
                    "เจ้าหน้าที่ควรเปิดตรวจไฟล์นี้เอง",
                    "the secrecy stamp in {FILE} could not be read (a scanned page, or a stamp drawn as a picture); "
                    "the letter went on, a person should open this file"),
    NOT_READ_IN_TIME: ("อ่านไฟล์ {FILE} ไม่ทันในเวลาที่กำหนด ลงทะเบียนไว้แล้ว เจ้าหน้าที่ควรเปิดตรวจไฟล์นี้เอง",
                       "{FILE} could not be read in time; the letter went on, a person should open this file"),
}


class UnreadablePdf:
    name = "unreadable_pdf"
    description = "Every PDF can be opened"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            unread = is_pdf(att) and att.pdf_error and next(
                (texts for prefix, texts in _WENT_ON.items() if att.pdf_error.startswith(prefix)), None)
            if unread:
                # The letter went on; a person should open what the gateway could not read.
                name = display_name(att)
                out.append(finding(self.name, "warn", unread[0].format(FILE=FILE), unread[1].format(FILE=FILE), name))
            elif is_pdf(att) and att.pdf_error and att.size > 0:
                name = display_name(att)
                reason_th, reason_en = plain_reason(att.pdf_error)
                out.append(finding(
                    self.name, "fail",
                    f"เปิดไฟล์ {FILE} ไม่ได้ ({reason_th}) กรุณาสร้างไฟล์ PDF ใหม่แล้วส่งอีกครั้ง",
                    f"{FILE} cannot be opened ({reason_en}); create the PDF again and resend it",
                    name,
                ))
        if not out:
            out.append(finding(self.name, "pass", "เปิดไฟล์ PDF ได้ทุกไฟล์", "every PDF can be opened"))
        return out


def plain_reason(pdf_error: str) -> tuple[str, str]:
    """Why a PDF could not be opened, in words its sender can act on (Thai, English).

    `pdf_error` is the reader's own account ("PdfReadError: EOF marker not found", "the
    PDF reader failed: MemoryError"): kept in the register and the log for the staff,
    never put in a notice, which a person reads."""
    error = pdf_error.lower()
    if error == "not a pdf":
        return ("ไฟล์นี้ไม่ใช่ PDF แม้ชื่อจะลงท้ายด้วย .pdf", "it is not a PDF, although its name ends in .pdf")
    if error.startswith("the pdf reader failed"):
        return ("ระบบอ่านโครงสร้างของไฟล์นี้ไม่ได้", "the gateway could not read its structure")
    if "eof marker" in error or "startxref" in error or "truncated" in error:
        return ("ไฟล์ไม่สมบูรณ์ อาจถูกตัดหรือส่งมาไม่ครบ", "the file is incomplete: it may have been cut short")
    return ("ไฟล์เสียหาย", "the file is damaged")
