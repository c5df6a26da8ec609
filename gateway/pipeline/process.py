"""One spool entry through parse -> rules -> vault -> register, idempotently.

Each step is keyed so that running the whole function again after a crash, at any
point, ends in the same state: the Message row by queue id, a registration by
(queue id, unit), a quarantine entry by (queue id, unit), vault objects by hash.
The spool file is removed last, once the database says the message is finished.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy import select

from gateway.pipeline import classified as secret
from gateway.service import metrics
from gateway.pipeline.classified import Sealed
from gateway.service.crashpoints import crashpoint
from gateway.notices.create import queue_acknowledgement, queue_rejection
from gateway.pipeline.parse import parse_mail, sender_display_name
from gateway.service.services import Services
from gateway.signatures.check import needs_review
from gateway.spool import SpoolEntry
from rules.thai_time import be_year
from rules.extract import extract_facts
from rules.model import Finding, LetterFacts, ParsedMail
from rules.registry import run_rules
from storage.models import Letter, Message, QuarantineEntry
from storage.outbox import add_once
from storage.register import NewLetter, find_registration, find_resend, register_letter

log = structlog.get_logger("gateway.pipeline.process")

FINISHED = ("done", "quarantined")


@dataclass
class Checked:
    """The parsed message and what the rules made of it, shared by every recipient."""

    mail: ParsedMail | None
    facts: LetterFacts
    findings: list[Finding]
    raw_sha256: str
    parse_error: str | None = None
    classified: Sealed | None = None  # ลับ/ลับมาก/ลับที่สุด: sealed, never in the plain vault
    signatures: dict[int, list[dict]] = field(default_factory=dict)  # attachment index -> verdicts


def process_entry(services: Services, queue_id: str) -> str:
    """Process one spool entry; return the message's final state."""
    spool, db = services.spool, services.db
    entry = spool.read(queue_id)
    structlog.contextvars.bind_contextvars(queue_id=queue_id)
    try:
        state = _open_message(services, entry)
        if state in FINISHED:
            secret.finish_spool(services, queue_id)
            return state
        crashpoint("after_spool_read")
        checked = check_entry(services, entry)
        crashpoint("after_vault")
        outcome: dict[str, str] = {}
        for rcpt in entry.rcpt_to:
            outcome[rcpt] = _file_for_unit(services, entry, checked, rcpt)
            crashpoint("after_register")
        final = "done" if any(o.startswith(("registered", "duplicate")) for o in outcome.values()) else "quarantined"
        with db.session() as session:
            message = session.get(Message, queue_id)
            message.state = final
            message.outcome = outcome
            message.reason = None
        crashpoint("before_spool_remove")
        secret.finish_spool(services, queue_id)
        log.info("message_finished", state=final, outcome=outcome)
        return final
    finally:
        structlog.contextvars.unbind_contextvars("queue_id", "unit", "receive_no")


def _open_message(services: Services, entry: SpoolEntry) -> str:
    """Record the message (first time) or count another attempt (after a crash)."""
    import hashlib

    with services.db.session() as session:
        message = session.get(Message, entry.queue_id)
        if message is None:
            session.add(
                Message(
                    queue_id=entry.queue_id,
                    received_at=entry.received_at,
                    mail_from=entry.mail_from,
                    recipients=entry.rcpt_to,
                    size=entry.size,
                    sha256=hashlib.sha256(entry.raw).hexdigest(),
                    state="processing",
                    attempts=1,
                    outcome={},
                )
            )
            return "processing"
        if message.state == "processing":
            message.attempts += 1
        return message.state


def check_entry(services: Services, entry: SpoolEntry) -> Checked:
    """Parse the message, read its facts, run every rule, and store it: in the vault,
    or sealed (encrypted) when it is classified."""
    arrival = secret.open_arrival(services, entry)
    if arrival.error is not None:  # S/MIME no gateway key opens: sealed as it came
        facts, findings, sealed = secret.seal_undecryptable(services, entry, arrival)
        return Checked(None, facts, findings, sealed.raw_ref, classified=sealed)
    try:
        mail = parse_mail(arrival.raw, entry.mail_from, services.pdf_reader)
    except Exception as exc:  # the parser's failure is this message's verdict
        log.warning("parse_failed", error=f"{type(exc).__name__}: {exc}")
        finding = Finding(
            rule="mime_parse",
            verdict="fail",
            message_th="อ่านโครงสร้างอีเมลไม่ได้ กรุณาส่งใหม่จากโปรแกรมอีเมลมาตรฐาน",
            message_en=f"the message could not be parsed ({type(exc).__name__}); please resend it from a standard mail client",
        )
        if arrival.smime or secret.looks_classified(entry.raw):
            facts = LetterFacts(secrecy="confidential")
            sealed = secret.seal_letter(services, entry, arrival, None, facts, [finding])
            return Checked(None, facts, [finding], sealed.raw_ref, parse_error=str(exc), classified=sealed)
        return Checked(None, LetterFacts(), [finding], services.vault.put(entry.raw), parse_error=str(exc))
    facts = secret.classify(mail, extract_facts(mail), arrival)
    findings = run_rules(mail, facts, services.rule_settings)
    if secret.is_classified(facts):
        sealed = secret.seal_letter(services, entry, arrival, mail, facts, findings)
        return Checked(mail, facts, findings, sealed.raw_ref, classified=sealed)
    raw_sha256 = services.vault.put(entry.raw)
    for attachment in mail.attachments:
        services.vault.put(attachment.data, attachment.sha256)
    # Signatures are checked for ordinary letters only: a classified letter's signer
    # names would otherwise reach the plaintext register; its registrar verifies it.
    signatures: dict[int, list[dict]] = {}
    if services.signatures is not None:  # gateway/signatures/check.py
        report = services.signatures.check(entry.raw, mail)
        findings, signatures = findings + report.findings, report.by_attachment
    return Checked(mail, facts, findings, raw_sha256, signatures=signatures)


def _file_for_unit(services: Services, entry: SpoolEntry, checked: Checked, rcpt: str) -> str:
    unit = services.directory.lookup(rcpt)
    unit_name = unit.address if unit else rcpt.split("@", 1)[0].lower()
    structlog.contextvars.bind_contextvars(unit=unit_name)
    mail = checked.mail
    sender = (mail.from_address if mail and mail.from_address else entry.mail_from).lower()
    message_id = mail.message_id if mail else None
    with services.db.session() as session:
        existing = find_registration(session, entry.queue_id, unit_name)
        if existing is not None:
            return f"registered {existing.receive_no}"
        held = session.scalar(
            select(QuarantineEntry).where(
                QuarantineEntry.queue_id == entry.queue_id, QuarantineEntry.unit == unit_name
            )
        )
        if held is not None:
            return "quarantined"
        if checked.classified is not None:
            return secret.file_classified(services, session, entry, checked, unit, unit_name, sender)
        if unit is None:
            return _quarantine(session, entry, checked, unit_name, sender, [
                Finding("unit_directory", "fail",
                        "หน่วยงานผู้รับถูกลบออกจากสมุดรายชื่อหลังรับอีเมล",
                        "the receiving unit was removed from the directory after the message was accepted"),
            ])
        resend = find_resend(session, unit_name, sender, message_id)
        if resend is not None:
            log.info("resend_recognised", receive_no=resend.receive_no, message_id=message_id)
            return f"duplicate of {resend.receive_no}"
        if checked.mail is None:
            return _quarantine(session, entry, checked, unit_name, sender, checked.findings,
                               notices=services)
        decision = services.policy.decide(checked.findings, unit_name)
        if decision.action == "reject":
            return _quarantine(session, entry, checked, unit_name, sender, decision.findings,
                               notices=services)
        new = letter_from_checked(services, entry, checked, unit_name, sender, decision.findings)
        letter = register_and_file(services, session, new)
        structlog.contextvars.bind_contextvars(receive_no=letter.receive_no)
        queue_acknowledgement(session, services, entry, checked, unit, letter, decision.findings)
        log.info("registered", book=new.book, number=letter.number, year=letter.year,
                 warnings=len(decision.warnings))
        metrics.registered(unit_name, new.book, entry.received_at)
        return f"registered {letter.receive_no}"


def letter_from_checked(services: Services, entry: SpoolEntry, checked: Checked, unit_name: str,
                        sender: str, findings: list[Finding], review: bool = False) -> NewLetter:
    """The register entry a checked message makes for one unit (its book by secrecy)."""
    assert checked.mail is not None
    book = services.settings.register_.general_book
    if checked.facts.secrecy in ("confidential", "secret"):
        book = services.settings.register_.secret_book
    return NewLetter(
        queue_id=entry.queue_id,
        unit=unit_name,
        book=book,
        received_at=entry.received_at,
        sender=sender,
        raw_sha256=checked.raw_sha256,
        sender_name=sender_display_name(checked.mail),
        subject=checked.mail.subject or checked.facts.subject,
        message_id=checked.mail.message_id,
        facts=checked.facts.as_dict(),
        findings=[f.as_dict() for f in findings if f.verdict != "pass"],
        attachments=[
            {
                "filename": a.filename,
                "sha256": a.sha256,
                "size": a.size,
                "content_type": a.sniffed_type,
                "declared_type": a.declared_type,
                "signatures": checked.signatures.get(a.index),
            }
            for a in checked.mail.attachments
        ],
        review=review or needs_review(findings),
    )


def register_and_file(services: Services, session, new: NewLetter) -> Letter:
    """Give the letter its receive number and owe its filing into the unit's folder, in
    the caller's transaction. Every way a letter gets a number comes through here: the
    pipeline, a release from quarantine, the import of the paper emergency register."""
    settings = services.settings
    letter = register_letter(session, new, start=settings.start_number(new.unit, new.book, be_year(new.received_at)))
    add_once(session, "folder", f"{new.queue_id}:{new.unit}", queue_id=new.queue_id, letter_id=letter.id,
             unit=new.unit, payload={"raw_sha256": new.raw_sha256, "backend": settings.delivery.backend})
    return letter


def _quarantine(session, entry: SpoolEntry, checked: Checked, unit: str, sender: str,
                findings: list[Finding], notices: Services | None = None) -> str:
    reasons = [f.as_dict() for f in findings if f.verdict == "fail"] or [f.as_dict() for f in findings]
    session.add(
        QuarantineEntry(
            queue_id=entry.queue_id,
            unit=unit,
            sender=sender,
            subject=checked.mail.subject if checked.mail else None,
            reasons=reasons,
            raw_sha256=checked.raw_sha256,
        )
    )
    if notices is not None:  # the rejection notice, in the same transaction
        queue_rejection(session, notices, entry, checked, unit, findings)
    log.info("quarantined", reasons=[r["rule"] for r in reasons])
    for reason in reasons:
        metrics.rejected("rules", reason["rule"])
    return "quarantined"
