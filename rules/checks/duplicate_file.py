"""duplicate_file: the same file (same SHA-256) attached more than once."""
from __future__ import annotations

from rules.checks import finding
from rules.files import display_name, letter_files
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class DuplicateFile:
    name = "duplicate_file"
    description = "No file is attached twice"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        first: dict[str, str] = {}
        out = []
        for att in letter_files(mail):
            if att.size == 0:
                continue
            name = display_name(att)
            if att.sha256 in first:
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์ {name} ซ้ำกับไฟล์ {first[att.sha256]} (เนื้อหาเหมือนกันทุกไบต์) กรุณาตรวจสอบว่าแนบไฟล์ถูกต้องครบถ้วน",
                    f"{name} is the same file as {first[att.sha256]}; check that you attached the right files",
                    name,
                ))
            else:
                first[att.sha256] = name
        return out or [finding(self.name, "pass", "ไม่มีไฟล์ซ้ำ", "no file is attached twice")]
