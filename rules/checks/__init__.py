"""One file per rule. A rule is a small object with `name`, `description` and
`check(mail, facts, settings) -> list[Finding]`; it says `fail` for a violation,
`warn` for advice and `pass` when all is well, and `rules.policy` decides what a
`fail` does for the receiving unit. Every message says, in Thai and in English,
how the sender can put it right.
"""
from __future__ import annotations

import secrets
from typing import Protocol

from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings, Verdict


class Rule(Protocol):
    name: str
    description: str

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]: ...


# Where a finding's file name goes in its sentence (f"ไฟล์ {FILE} ว่างเปล่า"): the notice
# to the sender puts the file's place there instead ("ไฟล์แนบที่ 2"), as a parameter.
# Unguessable, so that no other text of the sentence (a type, a file's own words) is
# taken for it; cut out at once, so it never leaves the process.
FILE = f"\x00{secrets.token_hex(8)}\x00"


def finding(rule: str, verdict: Verdict, th: str, en: str, attachment: str | None = None) -> Finding:
    """`attachment`: the file the finding is about, named where th and en say {FILE}."""
    if attachment is None:
        return Finding(rule=rule, verdict=verdict, message_th=th, message_en=en)
    return Finding(rule=rule, verdict=verdict, message_th=th.replace(FILE, attachment),
                   message_en=en.replace(FILE, attachment), attachment=attachment,
                   parts_th=tuple(th.split(FILE)), parts_en=tuple(en.split(FILE)))
