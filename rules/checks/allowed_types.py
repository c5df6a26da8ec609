"""allowed_types: the cover letter is a PDF; enclosures are PDF, images or office
documents (both lists from RuleSettings). Archives, executables and macro files are
left to `splitting` and `executable`, which say more precisely what is wrong."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import (
    EXECUTABLE_EXTENSIONS,
    EXECUTABLE_TYPES,
    MACRO_EXTENSIONS,
    MACRO_TYPES,
    base_type,
    cover_letter,
    display_name,
    extension,
    is_archive,
    letter_files,
)
from rules.checks.real_type import mismatch
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


def _left_to_other_rules(att) -> bool:
    t = base_type(att.sniffed_type)
    ext = extension(att)
    return (
        att.size == 0
        or is_archive(att)
        or t in EXECUTABLE_TYPES
        or t in MACRO_TYPES
        or ext in EXECUTABLE_EXTENSIONS
        or ext in MACRO_EXTENSIONS
        or mismatch(att)  # real_type says what is wrong with it
    )


class AllowedTypes:
    name = "allowed_types"
    description = "The cover letter is a PDF; enclosures are PDF, images or office documents"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        cover = cover_letter(mail)
        cover_types = {t.lower() for t in settings.cover_types}
        enclosure_types = {t.lower() for t in settings.enclosure_types}
        if cover is not None and base_type(cover.sniffed_type) not in cover_types:
            out.append(finding(
                self.name, "fail",
                f"หนังสือนำ ({FILE}) ต้องเป็นไฟล์ PDF แต่ได้รับไฟล์ชนิด "
                f"{base_type(cover.sniffed_type)} กรุณาแปลงหนังสือนำเป็น PDF แล้วส่งใหม่",
                f"the cover letter ({FILE}) must be a PDF but is "
                f"{base_type(cover.sniffed_type)}; convert it to PDF and resend",
                display_name(cover),
            ))
        for att in letter_files(mail):
            if att is cover or _left_to_other_rules(att):
                continue
            t = base_type(att.sniffed_type)
            if t not in enclosure_types:
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์ {FILE} เป็นชนิด {t} ซึ่งไม่รับเป็นสิ่งที่ส่งมาด้วย "
                    "กรุณาส่งเป็น PDF รูปภาพ (JPEG/PNG/TIFF) หรือเอกสารสำนักงาน (Word/Excel/ODF)",
                    f"{FILE} is {t}, which is not accepted as an enclosure; "
                    "send it as PDF, an image (JPEG/PNG/TIFF) or an office document (Word/Excel/ODF)",
                    display_name(att),
                ))
        if not out:
            out.append(finding(self.name, "pass", "ชนิดไฟล์ถูกต้อง", "all file types are accepted"))
        return out
