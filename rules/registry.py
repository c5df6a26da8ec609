"""All rules, in the order their findings are shown, and the one call that runs them."""
from __future__ import annotations

from collections.abc import Callable

from rules.checks import Rule, finding
from rules.checks.allowed_types import AllowedTypes
from rules.checks.duplicate_file import DuplicateFile
from rules.checks.empty_file import EmptyFile
from rules.checks.encrypted_pdf import EncryptedPdf
from rules.checks.executable import Executable
from rules.checks.naming import Naming
from rules.checks.no_document import NoDocument
from rules.checks.real_type import RealType
from rules.checks.splitting import Splitting
from rules.checks.top_secret import TopSecret
from rules.checks.unreadable_pdf import UnreadablePdf
from rules.checks.unsafe_name import UnsafeName
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings

ALL_RULES: tuple[Rule, ...] = (
    TopSecret(),
    NoDocument(),
    Executable(),
    RealType(),
    AllowedTypes(),
    EmptyFile(),
    UnreadablePdf(),
    EncryptedPdf(),
    Splitting(),
    Naming(),
    DuplicateFile(),
    UnsafeName(),
)
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in ALL_RULES}


def run_rules(mail: ParsedMail, facts: LetterFacts, settings: RuleSettings | None = None,
              on_error: Callable[[str, Exception], None] | None = None) -> list[Finding]:
    """Every rule's findings. A rule that breaks on strange input gives a warning that
    staff will check by hand instead of stopping the others (the policy can still
    reject); the error itself goes to `on_error` (the pipeline logs it), not into the
    finding, which people read."""
    settings = settings or RuleSettings()
    out: list[Finding] = []
    for rule in ALL_RULES:
        try:
            out.extend(rule.check(mail, facts, settings))
        except Exception as exc:  # noqa: BLE001 - one rule must not silence the rest
            if on_error is not None:
                on_error(rule.name, exc)
            out.append(finding(
                rule.name, "warn",
                f"ตรวจกฎ {rule.name} ไม่สำเร็จ เจ้าหน้าที่จะตรวจด้วยตนเอง",
                f"the {rule.name} check could not run; staff will check by hand",
            ))
    return out
