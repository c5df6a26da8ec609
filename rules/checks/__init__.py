"""One file per rule. A rule is a small object with `name`, `description` and
`check(mail, facts, settings) -> list[Finding]`; it says `fail` for a violation,
`warn` for advice and `pass` when all is well, and `rules.policy` decides what a
`fail` does for the receiving unit. Every message says, in Thai and in English,
how the sender can put it right.
"""
from __future__ import annotations

from typing import Protocol

from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings, Verdict


class Rule(Protocol):
    name: str
    description: str

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]: ...


def finding(rule: str, verdict: Verdict, th: str, en: str, attachment: str | None = None) -> Finding:
    return Finding(rule=rule, verdict=verdict, message_th=th, message_en=en, attachment=attachment)
