"""empty_file: a zero-byte attachment (a failed upload or a broken mail client)."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import display_name, letter_files
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class EmptyFile:
    name = "empty_file"
    description = "No attachment is empty"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = [
            finding(
                self.name, "fail",
                f"ไฟล์ {FILE} ว่างเปล่า (0 ไบต์) กรุณาแนบไฟล์ใหม่แล้วส่งอีกครั้ง",
                f"{FILE} is empty (0 bytes); attach the file again and resend",
                display_name(att),
            )
            for att in letter_files(mail)
            if att.size == 0
        ]
        return out or [finding(self.name, "pass", "ไม่มีไฟล์ว่าง", "no empty files")]
