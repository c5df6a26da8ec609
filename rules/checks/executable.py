"""executable: programs, scripts and macro-enabled office files are never letters.
Judged by content, by extension (a renamed .exe is still refused) and by a VBA
project inside an office file; inside a zip, by the names it holds."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import (
    EXECUTABLE_EXTENSIONS,
    EXECUTABLE_TYPES,
    MACRO_EXTENSIONS,
    MACRO_TYPES,
    base_type,
    display_name,
    extension,
    has_vba_macros,
    letter_files,
    zip_member_names,
)
from rules.model import Attachment, Finding, LetterFacts, ParsedMail, RuleSettings


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _why(att: Attachment) -> str | None:
    t = base_type(att.sniffed_type)
    ext = extension(att)
    if t in EXECUTABLE_TYPES or ext in EXECUTABLE_EXTENSIONS or any(
            _ext(n) in EXECUTABLE_EXTENSIONS for n in att.other_names):
        return "program"
    if t in MACRO_TYPES or ext in MACRO_EXTENSIONS or has_vba_macros(att):
        return "macro"
    if att.data[:4] == b"PK\x03\x04":
        for member in zip_member_names(att) or []:
            if _ext(member) in EXECUTABLE_EXTENSIONS or _ext(member) in MACRO_EXTENSIONS:
                return "archive"
    return None


class Executable:
    name = "executable"
    description = "No programs, scripts or macro-enabled office files"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            why = _why(att)
            name = display_name(att)
            if why == "program":
                th, en = (
                    f"ไฟล์ {FILE} เป็นโปรแกรมหรือสคริปต์ ซึ่งรับไม่ได้ กรุณาส่งเฉพาะหนังสือและเอกสารแนบเป็น PDF",
                    f"{FILE} is a program or script and cannot be accepted; send only the letter and its enclosures as PDF",
                )
            elif why == "macro":
                th, en = (
                    f"ไฟล์ {FILE} มีแมโคร (macro) กรุณาบันทึกเป็น PDF หรือเป็นไฟล์ที่ไม่มีแมโคร (.docx/.xlsx) แล้วส่งใหม่",
                    f"{FILE} contains macros; save it as PDF or as a macro-free file (.docx/.xlsx) and resend",
                )
            elif why == "archive":
                th, en = (
                    f"ไฟล์บีบอัด {FILE} มีโปรแกรมหรือไฟล์ที่มีแมโครอยู่ข้างใน กรุณาส่งเฉพาะเอกสาร PDF แยกเป็นไฟล์",
                    f"the archive {FILE} holds programs or macro files; send only the documents, as separate PDF files",
                )
            else:
                continue
            out.append(finding(self.name, "fail", th, en, name))
        if not out:
            out.append(finding(self.name, "pass", "ไม่มีโปรแกรมหรือแมโคร", "no programs, scripts or macros"))
        return out
