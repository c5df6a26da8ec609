"""What findings do: per rule, per unit, from configuration.

Each rule has an action: "reject", "warn" or "ignore".
  * a finding the rule marked `fail` stays `fail` (and the letter is rejected) only
    when the action for that rule is "reject"; with "warn" it becomes a `warn`;
  * with "ignore" the rule's findings are dropped (passes included);
  * `warn` and `pass` findings are kept as they are: a warning never rejects.
The letter is rejected when at least one `fail` remains.

The action for a rule is looked up in the unit's own table, then in the tables of
the units above it (`dindaeng.admin` -> `dindaeng`), then in the default table, then
in DEFAULT_ACTIONS; a rule named nowhere warns. Defaults (issue 3): naming and
splitting warn; wrong type, executables and a mail with no document reject;
top secret rejects (it must go on paper).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping

from rules.model import Decision, Finding

Action = Literal["warn", "reject", "ignore"]
ACTIONS: tuple[str, ...] = ("warn", "reject", "ignore")

DEFAULT_ACTIONS: dict[str, Action] = {
    "top_secret": "reject",
    "no_document": "reject",
    "executable": "reject",
    "real_type": "reject",
    "allowed_types": "reject",
    "naming": "warn",
    "splitting": "warn",
    "empty_file": "warn",
    "unreadable_pdf": "warn",
    "encrypted_pdf": "warn",
    "duplicate_file": "warn",
    "unsafe_name": "warn",
    # gateway/sender/: "fail" only where [sender] domains says quarantine (go.th)
    "sender_authenticity": "reject",
}
FALLBACK_ACTION: Action = "warn"


class PolicyError(ValueError):
    """A policy table in the configuration names an action that does not exist."""


def _validated(table: Mapping[str, str], where: str) -> dict[str, Action]:
    out: dict[str, Action] = {}
    for rule, action in table.items():
        if action not in ACTIONS:
            raise PolicyError(
                f"{where}: rule {rule!r} has action {action!r}; use one of {', '.join(ACTIONS)}"
            )
        out[str(rule)] = action  # type: ignore[assignment]
    return out


@dataclass
class Policy:
    default: dict[str, Action] = field(default_factory=dict)
    per_unit: dict[str, dict[str, Action]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.default = _validated(self.default, "rules policy default")
        self.per_unit = {
            unit: _validated(table, f"rules policy for unit {unit!r}")
            for unit, table in self.per_unit.items()
        }

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> "Policy":
        """From a config table: {"default": {rule: action}, "units": {unit: {rule: action}}}."""
        data = data or {}
        return cls(dict(data.get("default", {})), {u: dict(t) for u, t in data.get("units", {}).items()})

    def action_for(self, rule: str, unit: str | None = None) -> Action:
        if unit:
            parts = unit.split(".")
            for n in range(len(parts), 0, -1):
                table = self.per_unit.get(".".join(parts[:n]))
                if table and rule in table:
                    return table[rule]
        if rule in self.default:
            return self.default[rule]
        return DEFAULT_ACTIONS.get(rule, FALLBACK_ACTION)

    def apply(self, findings: list[Finding], unit: str | None = None) -> list[Finding]:
        out = []
        for f in findings:
            action = self.action_for(f.rule, unit)
            if action == "ignore":
                continue
            if f.verdict == "fail" and action == "warn":
                f = replace(f, verdict="warn")
            out.append(f)
        return out

    def decide(self, findings: list[Finding], unit: str | None = None) -> Decision:
        kept = self.apply(findings, unit)
        action = "reject" if any(f.verdict == "fail" for f in kept) else "accept"
        return Decision(action=action, findings=kept)


def decide(findings: list[Finding], unit: str | None = None, policy: Policy | None = None) -> Decision:
    """`Policy.decide` with the default policy when none is given."""
    return (policy or Policy()).decide(findings, unit)
