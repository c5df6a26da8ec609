"""Decide a queued notice where it is sent: whom it may go to, whether it must not go
at all (loop guard, sender policy, rate limits), and its sanitised payload.

The pipeline queued a small record (create.py); the delivery runner calls decide()
before sending. In one transaction the record becomes the payload compose.py renders
and the item becomes `suppressed` (with the reason, final), `held` (no smarthost) or
stays `pending` to be sent now. A crash before that commit leaves the record to be
decided again; after it, the decision stands. Rate limits count notices decided in
the past hour, so they hold however long the notices waited in the outbox."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import structlog

from gateway.notices.create import UNDECIDED, author_address
from gateway.notices.loop_guard import automatic_reason, suppression_reason
from gateway.notices.sanitize import ascii_address, clean_address, clean_message_id, clean_references, clean_text
from gateway.sender.dmarc import org_domain
from gateway.sender.policy import notice_refusal
from gateway.sender.results import SenderAuth
from gateway.service import metrics
from gateway.service.crashpoints import crashpoint
from storage.models import OutboxItem
from storage.notices import Decided, decide_pending, decide_pending_up_to, notices_in_last_hour

if TYPE_CHECKING:
    from gateway.service.services import Services

log = structlog.get_logger("gateway.notices")


def undecided(item: OutboxItem) -> bool:
    return UNDECIDED in (item.payload or {})


# The delivery runner's threads send notices in parallel, but the rate limits count
# what was decided before: two threads counting at once would both see room for one
# more and both send, and a later letter's notice could take the place of an earlier
# one's. So decisions are made one at a time, in arrival (outbox id) order: a thread
# about to decide a notice first decides every earlier one still undecided. One
# delivery runner process runs at a time (a reload waits for the old one), so a lock
# in this process is enough.
_deciding = threading.Lock()
_decided_below: dict[str, int] = {}  # by database: every notice with a smaller id was decided


def decide(services: "Services", item_id: int) -> OutboxItem | None:
    """Decide the item in one transaction (storage/notices.py); the item (detached) if
    it is to be sent now, None if it is not (suppressed, held, or no longer pending:
    counted on /metrics where decided, `_count`)."""
    db = services.db
    with _deciding:
        decided = _decide_one(services, item_id, earlier_after=_decided_below.get(db.url, 0))
        if decided.earlier:
            for earlier in decided.earlier:
                try:
                    _decide_one(services, earlier)
                except Exception:  # its own thread meets the fault again and retries it; no hold-up here
                    log.exception("notice_decision_failed", item=earlier)
            decided = _decide_one(services, item_id)
        _decided_below[db.url] = max(_decided_below.get(db.url, 0), item_id)
        return decided.item


def decide_batch(services: "Services", item_ids: list[int]) -> dict[int, OutboxItem | None]:
    """`decide` for a delivery thread's batch of notices, in one transaction (and the
    earlier undecided ones of other threads with them, in id order): each id's item to
    send now, or None. Should that transaction fail (a record the decision cannot
    take), nothing is returned and each notice is decided alone where it is sent
    (`send_notice`), so one bad record holds up no other notice and fails as itself."""
    db = services.db

    def decided_in_batch(session, key: str, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:  # noqa: ANN001
        outcome = decision(session, services, key, record)
        crashpoint("in_notice_decisions")
        return outcome

    with _deciding:
        try:
            settled_now: dict[int, str] = {}  # told once the transaction is committed
            decided = decide_pending_up_to(db, item_ids, UNDECIDED, decided_in_batch,
                                           after=_decided_below.get(db.url, 0), settled=settled_now)
        except Exception as exc:  # noqa: BLE001 - each is decided alone, and fails alone
            log.warning("notice_batch_decision_failed", items=len(item_ids),
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")
            return {}
        _count(settled_now)
        _decided_below[db.url] = max(_decided_below.get(db.url, 0), *item_ids)
        return decided


def _count(settled: dict[int, str]) -> None:
    """/metrics counts a notice decided not to be sent (held, suppressed) where it is
    decided, whichever thread's it was: a batch decides other threads' earlier notices
    too, and those threads then find them no longer pending. Counted by the thread that
    owned each, a held notice decided by a neighbour was counted by no one (CI of
    session 56: two held, one counted)."""
    for state in settled.values():
        metrics.outbox("notice", state)


def _decide_one(services: "Services", item_id: int, earlier_after: int | None = None) -> Decided:
    settled: dict[int, str] = {}  # told in the transaction: counted once it is committed
    decided = decide_pending(services.db, item_id, UNDECIDED,
                             lambda session, key, record: decision(session, services, key, record), earlier_after,
                             settled)
    _count(settled)
    return decided


def decision(session, services: "Services", key: str,
             record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(state, payload) for a queued record; the reasons are those the pipeline gave
    when it decided at queue time."""
    settings = services.settings.notices
    record = dict(record)
    facts = dict(record.pop(UNDECIDED))
    if "headers" in facts:  # queued before records kept only what the headers say
        headers = [tuple(pair) for pair in facts.get("headers") or []]
        facts |= {"from_address": author_address(facts.get("raw_from")),
                  "automatic": automatic_reason(headers, bool(facts.get("autoreply_subject"))),
                  "message_id": clean_message_id(_header(headers, "message-id"))}
        facts["references"] = clean_references(_header(headers, "references"), facts["message_id"])
    author = facts.get("from_address")
    auth = facts.get("sender_auth")
    auth = None if auth is None else SenderAuth(**auth)
    to, unaligned = recipient_of(author, facts.get("envelope") or "", bool(auth is not None and auth.verified))
    payload = {
        "to": to,
        "unit": record["unit"],
        "unit_name_th": clean_text(record.get("unit_name_th"), 200),
        "unit_name_en": clean_text(record.get("unit_name_en"), 200),
        "from": record["from"],
        "queue_id": record["queue_id"],
        "received_at": record["received_at"],
        "in_reply_to": clean_message_id(facts.get("message_id")),
        "references": [i for i in map(clean_message_id, facts.get("references") or []) if i],
        "type": record["type"],
    }
    if record["type"] == "ack":
        payload |= {"receive_no": record.get("receive_no"), "book": record.get("book")}
    classified = bool(record.get("classified"))
    quoted = record["type"] == "ack" and not classified  # a rejection quotes nothing of the mail
    payload |= {
        "classified": classified,
        "subject": clean_text(record.get("subject")) if quoted else None,
        "reference": (clean_text(record.get("reference"), 120) or None) if quoted else None,
    }
    if record["type"] == "ack":
        payload["letter_date"] = record.get("letter_date")
    payload["findings"] = [{"rule": f.get("rule"), "th": clean_text(f.get("th"), 600),
                            "en": clean_text(f.get("en"), 600)} for f in record.get("findings") or []]
    # A notice filed into a unit of this gateway (own_units = "file") reaches no one
    # else, and only a letter whose From is that unit's, verified or aligned, gets one:
    # the backscatter limits are not for it, and it does not count against them. Limited,
    # a ว circular from saraban.dds to 50 districts had 30 of its receive numbers
    # suppressed for good (red team of 7 Dec 2026).
    filed_here = _to_own_unit(services, to)
    payload["rate_key"], payload["rate_domain"] = rate_keys(to) if not filed_here else (None, None)

    limit = 0 if filed_here else settings.max_per_sender_per_hour
    recent = sent_last_hour(session, to, limit) if to and limit else 0  # 0: no limit, nothing to count
    reason = suppression_reason([("From", author or "")], facts.get("envelope") or "", to, recent,
                                limit, automatic=facts.get("automatic"))
    if reason == "no_valid_recipient" and unaligned:
        reason = unaligned
    if reason is None:  # no notice to a sender whose domain did not vouch for it (backscatter)
        # DMARC names a domain by its A-labels: ราชการ.ไทย is judged as xn--12cr8ec6ec.xn--o3cw4h.
        reason = notice_refusal(auth, ascii_address(to), services.settings.sender)
    if reason is None and to and settings.max_per_domain_per_hour and not filed_here:
        if sent_last_hour_to_domain(session, payload["rate_domain"],
                                    settings.max_per_domain_per_hour) >= settings.max_per_domain_per_hour:
            reason = "rate_limit_domain"
    if reason is not None:
        payload["suppressed"] = reason
        log.info("notice_suppressed", notice=payload["type"], reason=reason, to=to, key=key)
        return "suppressed", payload
    if not settings.smarthost and not filed_here:
        log.warning("notice_held", notice=payload["type"], to=to, key=key, reason="no_smarthost")
        return "held", payload  # nowhere to send it yet; `notices release` once a smarthost is set
    log.info("notice_queued", notice=payload["type"], to=to, key=key)
    return "pending", payload


def _to_own_unit(services: "Services", to: str | None) -> bool:
    """A notice to a unit of this gateway is filed into its folder (send.py), no
    smarthost needed."""
    return own_unit(services, to) is not None


def own_unit(services: "Services", address: str | None):  # -> Unit | None
    """The unit of this gateway whose address `address` is (saraban.dds@bangkok.go.th),
    when its notices are filed ([notices] own_units = "file"), or None."""
    directory = getattr(services, "directory", None)
    lookup = getattr(directory, "lookup", None)
    if lookup is None or services.settings.notices.own_units != "file" or not address or "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    if domain.lower().rstrip(".") != directory.domain:
        return None
    return lookup(local)


def rate_keys(address: str | None) -> tuple[str | None, str | None]:
    """(address without its +tag, its organisational domain): victim+1@, victim+2@ ...
    are one person, and s1.victim.example, s2.victim.example ... one organisation, whose
    mail server receives them all (until session 39 each subdomain had its own
    max_per_domain_per_hour). A Thai-script domain by its A-labels: สมชาย@ราชการ.ไทย and
    สมชาย@xn--12cr8ec6ec.xn--o3cw4h are one mailbox."""
    if not address or "@" not in address:
        return None, None
    local, _, domain = ascii_address(address.lower()).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}", _org_domain(domain) or domain


def sent_last_hour(session, to: str, limit: int = 0) -> int:
    """Notices to this address in the past hour, whatever +tag each one carried; with a
    limit, counted no further than it."""
    key, _ = rate_keys(to)
    return notices_in_last_hour(session, "rate_key", key, limit or None) if key else 0


def sent_last_hour_to_domain(session, domain: str | None, limit: int = 0) -> int:
    return notices_in_last_hour(session, "rate_domain", domain, limit or None) if domain else 0


def _org_domain(domain: str) -> str | None:
    """The organisational domain, for alignment (RFC 7489 3.2): the public suffix list's
    (gateway/sender/dmarc.py, the one DMARC uses), so `dds.bangkok.go.th` and
    `mail.bangkok.go.th` are both `bangkok.go.th` (go.th, ac.th, co.th, or.th, in.th,
    mi.th, net.th are public suffixes) while `attacker.co.uk` and `victim.co.uk`, or
    `a.com.au` and `b.com.au`, are two organisations. None for a public suffix itself
    (`co.uk`, `go.th`): nobody's organisation, aligned with nothing."""
    domain = domain.lower().strip(".")
    if not domain:
        return None
    found = org_domain(domain)  # the domain itself when it is a public suffix
    if found == domain and org_domain(f"x.{domain}") == f"x.{domain}":
        return None  # `x.co.uk` is its own organisation: `co.uk` is a public suffix
    return found


def notice_recipient(raw_from: str | None, mail_from: str,
                     verified: bool = False) -> tuple[str | None, str | None]:
    """(address, None) the notice may go to, or (None, why not).

    Only the From address (the letter's author) or the envelope sender, never Reply-To
    (anyone can write a victim's address there: backscatter), and only when the two
    align (same organisational domain) or the From domain is verified. `raw_from` is
    the raw header, not the decoded one: an encoded-word display name may decode to
    text with its own `<address>` or line breaks, and must stay a name."""
    return recipient_of(author_address(raw_from), mail_from, verified)


def recipient_of(author: str | None, mail_from: str, verified: bool = False) -> tuple[str | None, str | None]:
    """notice_recipient of the From's address (create.author_address)."""
    author = clean_address(author)
    envelope = clean_address((mail_from or "").strip("<> "))
    if author and (verified or (envelope and _aligned(author, envelope))):
        return author, None
    if not envelope and not author:
        return None, None  # nobody to answer: the loop guard says why
    return None, "sender_not_aligned"


def _aligned(author: str, envelope: str) -> bool:
    # By A-labels: a From of ราชการ.ไทย and an envelope of xn--12cr8ec6ec.xn--o3cw4h align.
    org = _org_domain(ascii_address(author).rpartition("@")[2])
    return org is not None and org == _org_domain(ascii_address(envelope).rpartition("@")[2])


def _header(headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
