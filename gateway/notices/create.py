"""Queue a notice in the pipeline's own transaction, exactly once per (letter, unit).

The outbox item is written in the transaction that registers the letter (ack) or
quarantines it (reject), keyed `ack:<queue_id>:<unit>` / `reject:<queue_id>:<unit>`,
so a crash can neither lose it nor make two. A mail that must not be answered (see
loop_guard.py) still gets its item, in state `suppressed` with the reason, so the
decision is visible in `status` and is not taken again after a crash."""
from __future__ import annotations

import email.parser
import email.policy
import email.utils
from typing import TYPE_CHECKING, Any

import structlog

from gateway.notices.loop_guard import suppression_reason
from gateway.sender.policy import notice_refusal
from gateway.notices.sanitize import clean_address, clean_references, clean_message_id, clean_text
from rules.model import Finding
from storage.models import Letter, OutboxItem
from storage.notices import notices_in_last_hour
from storage.outbox import add_once, find_item

if TYPE_CHECKING:
    from storage.db import Session  # the transaction the pipeline holds

    from gateway.units.directory import Unit
    from gateway.pipeline.check import Checked
    from gateway.service.services import Services
    from gateway.spool import SpoolEntry

log = structlog.get_logger("gateway.notices")

KIND = "notice"
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
        "findings": _findings((f for f in findings if f.verdict == "warn"), classified, _file_names(checked)),
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
    reasons = [f for f in findings if f.verdict == "fail"] or list(findings)
    # Nothing was registered, so nothing of the mail's own text is quoted back (a
    # forged letter's subject must not reach a third party from the unit's address);
    # In-Reply-To/References thread the notice under the sender's own message.
    payload = _common(services, entry, checked, unit) | {
        "type": "reject",
        "classified": classified,
        "subject": None,
        "reference": None,
        "findings": _findings(reasons, classified, _file_names(checked)),
    }
    return _queue(session, services, entry, checked, f"reject:{entry.queue_id}:{unit.address}",
                  unit.address, None, payload)


def _common(services: "Services", entry: "SpoolEntry", checked: "Checked", unit: "Unit") -> dict[str, Any]:
    headers = incoming_headers(checked, entry)
    to, unaligned = notice_recipient(entry, sender_verified(checked))
    return {
        "to": to,
        "not_answered": unaligned,  # why no address may be answered, if none may
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
    unaligned = payload.pop("not_answered", None)
    to = payload["to"]
    payload["rate_key"], payload["rate_domain"] = rate_keys(to)
    recent = sent_last_hour(session, to) if to else 0
    reason = suppression_reason(incoming_headers(checked, entry), entry.mail_from, to,
                                recent, settings.max_per_sender_per_hour)
    if reason == "no_valid_recipient" and unaligned:
        reason = unaligned
    if reason is None:  # no notice to a sender whose domain did not vouch for it (backscatter)
        reason = notice_refusal(getattr(checked, "sender_auth", None), to, services.settings.sender)
    if reason is None and to and settings.max_per_domain_per_hour:
        if sent_last_hour_to_domain(session, payload["rate_domain"]) >= settings.max_per_domain_per_hour:
            reason = "rate_limit_domain"
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


def rate_keys(address: str | None) -> tuple[str | None, str | None]:
    """(address without its +tag, domain): victim+1@, victim+2@ ... are one person."""
    if not address or "@" not in address:
        return None, None
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}", domain


def sent_last_hour(session: Session, to: str) -> int:
    """Notices to this address in the past hour, whatever +tag each one carried."""
    key, _ = rate_keys(to)
    return notices_in_last_hour(session, "rate_key", key) if key else 0


def sent_last_hour_to_domain(session: Session, domain: str | None) -> int:
    return notices_in_last_hour(session, "rate_domain", domain) if domain else 0


def incoming_headers(checked: "Checked", entry: "SpoolEntry") -> tuple[tuple[str, str], ...]:
    """The top-level headers: from the parsed mail, or read directly when the MIME
    parser gave up (a rejection for an unparseable mail needs the loop checks too)."""
    if checked.mail is not None:
        return checked.mail.headers
    message = _raw_headers(entry)
    if not message:  # a mail too broken for even the header parser: answer nobody
        return (("Auto-Submitted", "unparseable"),)
    return tuple((k, str(v)) for k, v in message.items())


def sender_verified(checked: "Checked") -> bool:
    """Whether the From domain passed sender authentication (DKIM/SPF/DMARC aligned).

    The hook for the sender-authenticity work (gateway/sender/): a verified From may be
    answered even when the envelope sender is at another domain (a mailing service
    sending for a ministry). Until it reports, only alignment counts."""
    auth = getattr(checked, "sender_auth", None)
    return bool(auth is not None and getattr(auth, "verified", False))


def _org_domain(domain: str) -> str:
    """The organisational part of a domain, for alignment: `dds.bangkok.go.th` and
    `mail.bangkok.go.th` are both `bangkok.go.th` (Thai second levels: go, co, ac,
    or, in, mi, net). A public-suffix list would be exact; this covers .th and gTLDs."""
    labels = domain.lower().strip(".").split(".")
    if len(labels) >= 3 and labels[-1] == "th" and labels[-2] in ("go", "co", "ac", "or", "in", "mi", "net"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def notice_recipient(entry: "SpoolEntry", verified: bool = False) -> tuple[str | None, str | None]:
    """(address, None) the notice may go to, or (None, why not).

    Only the From address (the letter's author) or the envelope sender, never Reply-To
    (anyone can write a victim's address there: backscatter), and only when the two
    align (same organisational domain) or the From domain is verified. Read from the
    raw header, not the decoded one: an encoded-word display name may decode to text
    with its own `<address>` or line breaks, and must stay a name."""
    raw = _raw_headers(entry)
    value = raw.get("from") if raw else None
    author = clean_address(email.utils.parseaddr(str(value))[1]) if value else None
    envelope = clean_address((entry.mail_from or "").strip("<> "))
    if author and (verified or (envelope and _org_domain(author.rpartition("@")[2])
                                == _org_domain(envelope.rpartition("@")[2]))):
        return author, None
    if not envelope and not author:
        return None, None  # nobody to answer: the loop guard says why
    return None, "sender_not_aligned"


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


def _file_names(checked: "Checked") -> list[str]:
    return [a.filename or "" for a in checked.mail.attachments] if checked.mail else []


def _findings(findings, classified: bool = False, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Each finding's rule and how to fix it. A file name is the sender's text: it is
    named by its place ("ไฟล์แนบที่ 2" / "attached file 2"), never quoted, so a notice
    carries nothing an attacker wrote but the registered subject."""
    names = names or []
    out = []
    for finding in findings:
        if classified:
            out.append({"rule": finding.rule, "th": _CLASSIFIED_TH, "en": _CLASSIFIED_EN})
            continue
        th, en = finding.message_th, finding.message_en
        if finding.attachment:
            n = names.index(finding.attachment) + 1 if finding.attachment in names else None
            th = th.replace(finding.attachment, f"ไฟล์แนบที่ {n}" if n else "ไฟล์แนบ")
            en = en.replace(finding.attachment, f"attached file {n}" if n else "the attached file")
        out.append({
            "rule": finding.rule,
            "th": clean_text(th, 600),
            "en": clean_text(en, 600),
        })
    return out[:MAX_FINDINGS]
