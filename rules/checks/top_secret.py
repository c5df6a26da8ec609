"""top_secret: ลับที่สุด (top secret) letters must go on paper, never electronically
(seed 004 appendix ก ข้อ ๓, seed 003 ระยะที่ ๔). The SMTP intake refuses them by
Subject; this rule catches those the intake could not see (IMAP pull, a marking
only inside the PDF)."""
from __future__ import annotations

from rules.checks import finding
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class TopSecret:
    name = "top_secret"
    description = "No letter classified ลับที่สุด (top secret) by e-mail"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        if facts.secrecy == "top_secret":
            return [finding(
                self.name, "fail",
                "หนังสือชั้นลับที่สุดต้องจัดส่งเป็นเอกสารกระดาษเท่านั้น ห้ามส่งทางอีเมล กรุณาส่งทางกระดาษตามระเบียบ",
                "letters classified ลับที่สุด (top secret) must be sent on paper only, never by e-mail; send it on paper",
            )]
        return [finding(self.name, "pass", "ไม่ใช่หนังสือชั้นลับที่สุด", "not classified top secret")]
