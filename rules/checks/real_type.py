"""real_type: a file is what its content is (libmagic), not what its name or its
Content-Type claim. A `.pdf` whose bytes are not a PDF fails; a PDF labelled
`application/octet-stream` or sent `inline` is still a PDF and passes."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import EXTENSION_TYPES, PDF, base_type, display_name, extension, letter_files
from rules.model import Attachment, Finding, LetterFacts, ParsedMail, RuleSettings


def claims_pdf(att: Attachment) -> bool:
    ext = extension(att)
    return ext == "pdf" or (ext is None and base_type(att.declared_type) == PDF)


def mismatch(att: Attachment) -> bool:
    """The name (or, nameless, the declared type) promises a type the content is not."""
    sniffed = base_type(att.sniffed_type)
    if claims_pdf(att):
        return sniffed != PDF
    ext = extension(att)
    return ext in EXTENSION_TYPES and sniffed not in {t.lower() for t in EXTENSION_TYPES[ext]}


class RealType:
    name = "real_type"
    description = "Each file's content matches its name (a .pdf must really be a PDF)"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            if att.size == 0:
                continue  # empty_file speaks about those
            sniffed = base_type(att.sniffed_type)
            ext = extension(att)
            if not mismatch(att):
                continue
            if claims_pdf(att):
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์ {FILE} ไม่ใช่ไฟล์ PDF จริง (เนื้อไฟล์เป็น {sniffed}) "
                    "กรุณาส่งออก (Export/Save as) เป็น PDF ใหม่แล้วส่งอีกครั้ง",
                    f"{FILE} is not really a PDF (its content is {sniffed}); "
                    "export or save the document as PDF again and resend it",
                    display_name(att),
                ))
            else:
                out.append(finding(
                    self.name, "fail",
                    f"ชื่อไฟล์ {FILE} ลงท้าย .{ext} แต่เนื้อไฟล์เป็น {sniffed} "
                    "กรุณาตั้งนามสกุลให้ตรงกับชนิดไฟล์จริง หรือบันทึกเป็นชนิดที่ถูกต้อง",
                    f"{FILE} is named .{ext} but its content is {sniffed}; "
                    "give it the extension of its real type or save it in the right format",
                    display_name(att),
                ))
        if not out:
            out.append(finding(self.name, "pass", "ชนิดของไฟล์ตรงกับชื่อไฟล์", "every file is what its name says"))
        return out
