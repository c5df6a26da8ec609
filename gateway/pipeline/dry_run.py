"""`saraban-gateway rules check FILE.eml`: every rule, offline, on one message.

For the senders' IT staff ("why was our letter rejected?"), the central unit, and the
tests: the same parse and the same rules as the pipeline, nothing stored."""
from __future__ import annotations

import json
from pathlib import Path

from gateway.config.settings import Settings
from gateway.pipeline.parse import parse_mail
from gateway.service.services import policy_from_settings, rule_settings_from
from rules.extract import extract_facts
from rules.model import RuleSettings
from rules.policy import Policy
from rules.registry import run_rules


def check_message(raw: bytes, settings: Settings | None, unit: str | None = None) -> dict:
    rule_settings = rule_settings_from(settings) if settings else RuleSettings()
    policy = policy_from_settings(settings) if settings else Policy(default={}, per_unit={})
    mail = parse_mail(raw)
    facts = extract_facts(mail)
    findings = run_rules(mail, facts, rule_settings)
    decision = policy.decide(findings, unit or "")
    return {
        "subject": mail.subject,
        "from": mail.from_address,
        "message_id": mail.message_id,
        "facts": facts.as_dict(),
        "attachments": [
            {"filename": a.filename, "declared_type": a.declared_type, "content_type": a.sniffed_type,
             "size": a.size, "sha256": a.sha256, "pdf_pages": a.pdf_pages,
             "pdf_encrypted": a.pdf_encrypted, "pdf_error": a.pdf_error}
            for a in mail.attachments
        ],
        "decision": decision.action,
        "findings": [f.as_dict() for f in decision.findings],
        "defects": list(mail.defects),
    }


def rules_check(path: Path, settings: Settings | None, as_json: bool, unit: str | None) -> int:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"saraban-gateway: cannot read {path}: {exc.strerror}")
        return 2
    report = check_message(raw, settings, unit)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        facts = report["facts"]
        print(f"เรื่อง/subject : {report['subject']}")
        print(f"จาก/from       : {report['from']}")
        for key in ("reference", "letter_date", "urgency", "secrecy", "kind", "enclosure_count"):
            print(f"{key:15}: {facts.get(key)}")
        for a in report["attachments"]:
            print(f"file           : {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        print(f"decision       : {report['decision']}")
        for f in report["findings"]:
            where = f" [{f['attachment']}]" if f.get("attachment") else ""
            print(f"  {f['verdict']:4} {f['rule']}{where}: {f['message']}")
    return 0 if report["decision"] == "accept" else 1
