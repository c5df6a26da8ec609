"""`saraban-gateway rules check FILE.eml`: the pipeline on one message, writing nothing.

For the senders' IT staff ("why was our letter rejected?"), the central unit, and the
tests. The same read, the same rules, the same signature checks and the same
disposition chain (gateway/pipeline/dispose.py) as the daemon, so what it prints is
what the daemon would do; only what needs the register (was it already registered,
held, or resent?) is left out, and nothing is stored, sealed or sent."""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gateway.config.settings import DEFAULT_CONFIG, Settings, load_settings
from gateway.pipeline import classified as secret
from gateway.pipeline.check import (Checked, PdfBudget, judge, parse_failure, read_entry, verify_signatures,
                                    with_sender_verdict)
from gateway.pipeline.dispose import Known, decide, recipient_for
from gateway.service.services import Services, open_services
from gateway.spool import SpoolEntry
from gateway.sender.check import check_message as sender_check
from gateway.sender.dmarc import from_domains
from gateway.sender.dns import Resolver
from gateway.sender.results import SenderAuth, not_checked
from rules.model import LetterFacts, ReadingOverdue

DRY_RUN_ID = "dry-run"


@contextmanager
def dry_run_services(settings: Settings | None) -> Iterator[Services]:
    """The pipeline's services without a database; with no settings, the defaults."""
    with open_services(settings or load_settings(DEFAULT_CONFIG, environ={}), "dry_run") as services:
        yield services


def check_message(raw: bytes, settings: Settings | Services | None, unit: str | None = None,
                  dns: bool = False) -> dict:
    """What the daemon would make of `raw` for `unit` (any unit when None). `dns`: also
    check the sender (DKIM, ARC, DMARC), which needs DNS."""
    if isinstance(settings, Services):
        return _check(settings, raw, unit, dns)
    with dry_run_services(settings) as services:
        return _check(services, raw, unit, dns)


def _check(services: Services, raw: bytes, unit: str | None, dns: bool = False) -> dict:
    entry = SpoolEntry(queue_id=DRY_RUN_ID, mail_from="", rcpt_to=[unit or ""],
                       received_at=dt.datetime.now(dt.timezone.utc), peer=None, helo=None, raw=raw, path=Path())
    budget = PdfBudget(services)
    arrival, mail, error = read_entry(services, entry, budget)
    digest = hashlib.sha256(raw).hexdigest()
    if mail is not None:
        try:
            facts, findings = judge(services, entry, arrival, mail, budget.clock)
        except ReadingOverdue as exc:  # as the pipeline: held unread
            mail, error = None, exc
    if mail is None:
        findings = [parse_failure(error)] if error else []
        facts = LetterFacts(secrecy=secret.unreadable_secrecy(raw)) if error or arrival.smime else LetterFacts()
        checked = Checked(None, facts, findings, digest, parse_error=str(error) if error else None)
    else:
        signatures = {}
        if not secret.is_classified(facts):
            findings, signatures = verify_signatures(services, entry, mail, findings, budget)
        checked = Checked(mail, facts, findings, digest, signatures=signatures)
    if secret.is_classified(checked.facts) or arrival.smime:
        # What sealing would record, without sealing anything.
        checked.classified = secret.Sealed(DRY_RUN_ID, checked.facts.secrecy, digest,
                                           opaque=secret.is_opaque(mail), smime=arrival.smime)
    sender = check_sender(raw, services.settings, dns)  # gateway/sender/
    if services.settings.sender.enabled:
        with_sender_verdict(checked, sender, services.settings.sender)
    recipient = recipient_for(services, entry, checked, unit or "")
    skip = () if unit else ("unit_directory",)  # no unit named: judge as for any unit
    disposition = decide(services, recipient, Known(), skip=skip)
    registers = disposition.action == "register"
    book = None
    if registers:
        register = services.settings.register_
        book = register.secret_book if checked.classified else register.general_book
    return {
        "subject": mail.subject if mail else None,
        "from": mail.from_address if mail else _from_header(raw),
        "message_id": mail.message_id if mail else None,
        "facts": checked.facts.as_dict(),
        "attachments": [
            {"filename": a.filename, "declared_type": a.declared_type, "content_type": a.sniffed_type,
             "size": a.size, "sha256": a.sha256, "pdf_pages": a.pdf_pages,
             "pdf_encrypted": a.pdf_encrypted, "pdf_error": a.pdf_error,
             "signatures": checked.signatures.get(a.index)}
            for a in (mail.attachments if mail else [])
        ],
        "decision": "accept" if registers else "reject",
        "disposition": {"action": disposition.action, "rule": disposition.rule, "book": book,
                        "classified": checked.classified is not None, "review": disposition.review,
                        "notify_sender": disposition.notify_sender},
        "findings": [f.as_dict() for f in disposition.findings] if disposition.findings else
                    [f.as_dict() for f in checked.findings],
        "defects": list(mail.defects) if mail else [],
        "sender_auth": sender.as_dict(),
        "sender_verified": sender.label_th if sender.dns_checked else "ยืนยันผู้ส่ง: ไม่ได้ตรวจ",
    }


def check_sender(raw: bytes, settings: Settings, dns: bool) -> SenderAuth:
    """DKIM, ARC and DMARC of a file; without `dns`, a verdict that says it was not
    checked. No SMTP session here: SPF (the connecting IP) cannot be checked."""
    if not dns:
        domains = from_domains(raw)
        return not_checked(domains[0] if domains else None,
                           "DKIM and DMARC were not checked: they need DNS (use --dns)")
    return sender_check(raw, Resolver.from_settings(settings.dns), settings.sender)


def _from_header(raw: bytes) -> str | None:
    try:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536].decode("latin-1")
        from_lines = [line[5:] for line in head.splitlines() if line.lower().startswith("from:")]
        return email.utils.parseaddr(from_lines[0])[1] if from_lines else None
    except Exception:
        return None


def rules_check(path: Path, settings: Settings | None, as_json: bool, unit: str | None,
                dns: bool = False) -> int:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"saraban-gateway: cannot read {path}: {exc.strerror}")
        return 2
    report = check_message(raw, settings, unit, dns)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        facts = report["facts"]
        print(f"เรื่อง/subject : {report['subject']}")
        print(f"จาก/from       : {report['from']}")
        from gateway.tools.register_rows import SECRECY_LABEL, URGENCY_LABEL

        labels = {"urgency": URGENCY_LABEL, "secrecy": SECRECY_LABEL}
        for key in ("reference", "letter_date", "urgency", "secrecy", "kind", "enclosure_count"):
            value = facts.get(key)
            if key in labels and value in labels[key]:
                value = f"{labels[key][value]} ({value})"
            print(f"{key:15}: {'-' if value is None else value}")
        for a in report["attachments"]:
            name = a["filename"] if a["filename"] else "(no file name)"
            print(f"file           : {name} ({a['content_type']}, {a['size']} bytes)")
        auth = report["sender_auth"]
        print(f"ยืนยันผู้ส่ง    : {report['sender_verified']}")
        if auth["dns_checked"]:
            dkim = ", ".join(f"{x['domain']}={x['result']}" for x in auth["dkim"]) or "none"
            print(f"  dkim=[{dkim}] arc={auth['arc']} dmarc={auth['dmarc']}"
                  + (f" (p={auth['dmarc_policy']})" if auth["dmarc_policy"] else "")
                  + " spf=not checked (no SMTP connection)")
        else:
            print("  DKIM and DMARC were not checked: they need DNS (run with --dns)")
        d = report["disposition"]
        what = f"register in the {d['book']} book" if d["action"] == "register" else "hold in quarantine"
        print(f"decision       : {report['decision']} (the daemon would {what}; chain link: {d['rule']})")
        for f in report["findings"]:
            where = f" [{f['attachment']}]" if f.get("attachment") else ""
            print(f"  {f['verdict']:4} {f['rule']}{where}: {f['message']}")
    return 0 if report["decision"] == "accept" else 1
