"""unreadable_pdf: a PDF the gateway could not open (`Attachment.pdf_error`)."""
from __future__ import annotations

from rules.checks import finding
from rules.files import display_name, is_pdf, letter_files
from rules.model import NOT_READ_IN_TIME, Finding, LetterFacts, ParsedMail, RuleSettings


class UnreadablePdf:
    name = "unreadable_pdf"
    description = "Every PDF can be opened"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            if is_pdf(att) and att.pdf_error and att.pdf_error.startswith(NOT_READ_IN_TIME):
                name = display_name(att)
                out.append(finding(
                    self.name, "warn",
                    f"อ่านไฟล์ {name} ไม่ทันในเวลาที่กำหนด ลงทะเบียนไว้แล้ว เจ้าหน้าที่ควรเปิดตรวจไฟล์นี้เอง",
                    f"{name} could not be read in time; the letter went on, a person should open this file",
                    name,
                ))
            elif is_pdf(att) and att.pdf_error and att.size > 0:
                name = display_name(att)
                reason = "".join(ch for ch in att.pdf_error if ch.isprintable())[:200]
                out.append(finding(
                    self.name, "fail",
                    f"เปิดไฟล์ {name} ไม่ได้ (ไฟล์เสียหาย: {reason}) กรุณาสร้างไฟล์ PDF ใหม่แล้วส่งอีกครั้ง",
                    f"{name} cannot be opened (damaged: {reason}); create the PDF again and resend it",
                    name,
                ))
        if not out:
            out.append(finding(self.name, "pass", "เปิดไฟล์ PDF ได้ทุกไฟล์", "every PDF can be opened"))
        return out
