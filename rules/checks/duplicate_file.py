"""duplicate_file: the same file (same SHA-256) attached more than once."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import display_name, letter_files
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class DuplicateFile:
    name = "duplicate_file"
    description = "No file is attached twice"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        first: dict[str, int] = {}  # each content's first file, by its place in the letter
        out = []
        for att in letter_files(mail):
            if att.size == 0:
                continue
            name = display_name(att)
            if att.sha256 in first:
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์ {FILE} ซ้ำกับไฟล์แนบที่ {first[att.sha256]} (เนื้อหาเหมือนกันทุกไบต์) กรุณาตรวจสอบว่าแนบไฟล์ถูกต้องครบถ้วน",
                    f"{FILE} is the same file as attached file {first[att.sha256]}; check that you attached the right files",
                    name,
                ))
            else:
                # By its place, not its name: the other name is the sender's text too.
                first[att.sha256] = next(n for n, a in enumerate(mail.attachments, 1) if a is att)
        return out or [finding(self.name, "pass", "ไม่มีไฟล์ซ้ำ", "no file is attached twice")]
