"""Queue a notice in the pipeline's own transaction, exactly once per (letter, unit).

The outbox item is written in the transaction that registers the letter (ack) or
quarantines it (reject), keyed `ack:<queue_id>:<unit>` / `reject:<queue_id>:<unit>`,
so a crash can neither lose it nor make two. A mail that must not be answered (see
loop_guard.py) still gets its item, in state `suppressed` with the reason, so the
decision is visible in `status` and is not taken again after a crash."""
from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.notices.loop_guard import suppression_reason
from gateway.sender.policy import notice_refusal
from gateway.notices.sanitize import clean_address, clean_references, clean_message_id, clean_text
from rules.model import Finding
from storage.models import Letter, OutboxItem
from storage.outbox import add_once, find_item

if TYPE_CHECKING:
    from gateway.units.directory import Unit
    from gateway.pipeline.check import Checked
    from gateway.service.services import Services
    from gateway.spool import SpoolEntry

log = structlog.get_logger("gateway.notices")

KIND = "notice"
COUNTED_STATES = ("pending", "done", "dead", "held")  # notices that went or will go out
MAX_FINDINGS = 20


def queue_acknowledgement(session: Session, services: "Services", entry: "SpoolEntry",
                          checked: "Checked", unit: "Unit", letter: Letter,
                          findings: list[Finding]) -> OutboxItem | None:
    """ได้รับหนังสือแล้ว: the receive number and the warnings, to the sender."""
    facts = checked.facts
    classified = (letter.secrecy or "none") != "none"
    payload = _common(services, entry, checked, unit) | {
        "type": "ack",
        "receive_no": letter.receive_no,
        "book": letter.book,
        "classified": classified,
        # A classified letter's subject stays out of the outbox and the notice.
        "subject": None if classified else clean_text(letter.subject or facts.subject),
        "reference": None if classified else (clean_text(facts.reference, 120) or None),
        "letter_date": None if classified else (facts.letter_date.isoformat() if facts.letter_date else None),
        "findings": _findings((f for f in findings if f.verdict == "warn"), classified),
    }
    return _queue(session, services, entry, checked, f"ack:{entry.queue_id}:{unit.address}",
                  unit.address, letter.id, payload)


def queue_rejection(session: Session, services: "Services", entry: "SpoolEntry",
                    checked: "Checked", unit_name: str, findings: list[Finding]) -> OutboxItem | None:
    """ปฏิเสธ: why the letter was not registered and how to fix each reason."""
    unit = services.directory.lookup(unit_name)
    if unit is None:  # the unit left the directory: the sender has nothing to fix
        return None
    facts = checked.facts
    classified = facts.secrecy != "none"
    subject = checked.mail.subject if checked.mail else facts.subject
    reasons = [f for f in findings if f.verdict == "fail"] or list(findings)
    payload = _common(services, entry, checked, unit) | {
        "type": "reject",
        "classified": classified,
        "subject": None if classified else clean_text(subject),
        "reference": None if classified else (clean_text(facts.reference, 120) or None),
        "findings": _findings(reasons, classified),
    }
    return _queue(session, services, entry, checked, f"reject:{entry.queue_id}:{unit.address}",
                  unit.address, None, payload)


def _common(services: "Services", entry: "SpoolEntry", checked: "Checked", unit: "Unit") -> dict[str, Any]:
    headers = incoming_headers(checked, entry)
    return {
        "to": reply_address(entry),
        "unit": unit.address,
        "unit_name_th": clean_text(unit.name_th, 200),
        "unit_name_en": clean_text(unit.name_en, 200),
        "from": notice_from(services, unit),
        "queue_id": entry.queue_id,
        "received_at": entry.received_at.isoformat(),
        "in_reply_to": clean_message_id(_header(headers, "message-id")),
        "references": clean_references(_header(headers, "references"), _header(headers, "message-id")),
    }


def _queue(session: Session, services: "Services", entry: "SpoolEntry", checked: "Checked",
           key: str, unit: str, letter_id: int | None, payload: dict[str, Any]) -> OutboxItem | None:
    settings = services.settings.notices
    if not settings.enabled:
        return None
    existing = find_item(session, KIND, key)
    if existing is not None:
        return existing
    to = payload["to"]
    recent = sent_last_hour(session, to) if to else 0
    reason = suppression_reason(incoming_headers(checked, entry), entry.mail_from, to,
                                recent, settings.max_per_sender_per_hour)
    if reason is None:  # no notice to a sender whose domain did not vouch for it (backscatter)
        reason = notice_refusal(getattr(checked, "sender_auth", None), to, services.settings.sender)
    state = "pending"
    if reason is not None:
        state = "suppressed"
        payload["suppressed"] = reason
        log.info("notice_suppressed", notice=payload["type"], reason=reason, to=to, key=key)
    elif not settings.smarthost:
        state = "held"  # nowhere to send it yet; `notices release` once a smarthost is set
        log.warning("notice_held", notice=payload["type"], to=to, key=key, reason="no_smarthost")
    else:
        log.info("notice_queued", notice=payload["type"], to=to, key=key)
    item, _ = add_once(session, KIND, key, queue_id=entry.queue_id, letter_id=letter_id, unit=unit,
                       payload=payload, state=state,
                       last_error="no smarthost configured" if state == "held" else None)
    return item


def sent_last_hour(session: Session, to: str) -> int:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    return session.scalar(
        select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == KIND,
            OutboxItem.created_at >= since,
            OutboxItem.state.in_(COUNTED_STATES),
            OutboxItem.payload["to"].as_string() == to,
        )
    ) or 0


def incoming_headers(checked: "Checked", entry: "SpoolEntry") -> tuple[tuple[str, str], ...]:
    """The top-level headers: from the parsed mail, or read directly when the MIME
    parser gave up (a rejection for an unparseable mail needs the loop checks too)."""
    if checked.mail is not None:
        return checked.mail.headers
    message = _raw_headers(entry)
    if not message:  # a mail too broken for even the header parser: answer nobody
        return (("Auto-Submitted", "unparseable"),)
    return tuple((k, str(v)) for k, v in message.items())


def reply_address(entry: "SpoolEntry") -> str | None:
    """Reply-To, else From, else the envelope sender: the notice is a service response
    meant for the letter's author (RFC 3834 section 4), not for a bounce address.

    Read from the raw header, not the decoded one: an encoded-word display name may
    decode to text with its own `<address>` or line breaks, and must stay a name."""
    raw = _raw_headers(entry)
    candidates = []
    for name in ("reply-to", "from"):
        value = raw.get(name)
        if value:
            candidates.append(email.utils.parseaddr(str(value))[1])
    for candidate in [*candidates, entry.mail_from]:
        address = clean_address(candidate)
        if address:
            return address
    return None


def _raw_headers(entry: "SpoolEntry"):
    try:
        return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(entry.raw)
    except Exception:  # no usable header block: only the envelope is left
        return {}


def notice_from(services: "Services", unit: "Unit") -> str:
    """The unit's own address unless units.toml ([unit.settings] notice_from) or
    [notices] from_address says otherwise."""
    chosen = unit.settings.get("notice_from") or services.settings.notices.from_address
    return chosen or unit.full_address(services.directory.domain)


def _header(headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


# A classified letter's findings can quote its file names; the notice (and the outbox
# row it is built from, stored in plaintext) names only the rule.
_CLASSIFIED_TH = "รายละเอียดไม่แสดงในอีเมลเนื่องจากเป็นหนังสือชั้นความลับ กรุณาติดต่อหน่วยสารบรรณกลาง"
_CLASSIFIED_EN = "details are not given by e-mail for a classified letter; please contact the central saraban unit"


def _findings(findings, classified: bool = False) -> list[dict[str, Any]]:
    out = []
    for finding in findings:
        if classified:
            out.append({"rule": finding.rule, "th": _CLASSIFIED_TH, "en": _CLASSIFIED_EN})
            continue
        out.append({
            "rule": finding.rule,
            "th": clean_text(finding.message_th, 600),
            "en": clean_text(finding.message_en, 600),
        })
    return out[:MAX_FINDINGS]
