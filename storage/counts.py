"""The figures `status`, `/metrics` and the health check show, from one set of queries:
so the command line and the dashboards always agree."""
from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.thai_time import to_bangkok
from storage.models import Letter, Message, OutboxItem, QuarantineEntry, Refusal
from storage.outbox import LETTER_COPIES
from storage.intake import add_problems
from storage.models import ImapLease, ImapMessage


@dataclass
class Counts:
    messages: dict[str, int] = field(default_factory=dict)  # by pipeline state
    letters: int = 0
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> state -> count
    quarantine: dict[str, int] = field(default_factory=dict)  # by state
    refused: dict[str, int] = field(default_factory=dict)  # refused at end of DATA, by reason


def counts(session: Session, overdue_after: float | None = None) -> Counts:
    """`overdue_after` ([delivery] dead_after): the letter's copies (never given up by
    age: storage/outbox.LETTER_COPIES) pending for longer are counted again as "overdue"."""
    outbox: dict[str, dict[str, int]] = {}
    for kind, state, count in session.execute(
        select(OutboxItem.kind, OutboxItem.state, func.count()).group_by(OutboxItem.kind, OutboxItem.state)
    ):
        outbox.setdefault(kind, {})[state] = count
    if overdue_after is not None:
        before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=overdue_after)
        for kind, count in session.execute(
            select(OutboxItem.kind, func.count()).where(OutboxItem.state == "pending", OutboxItem.created_at < before,
                                                        OutboxItem.kind.in_(LETTER_COPIES))
            .group_by(OutboxItem.kind)
        ):
            outbox.setdefault(kind, {})["overdue"] = count
    return Counts(
        messages=dict(session.execute(select(Message.state, func.count()).group_by(Message.state)).all()),
        letters=session.scalar(select(func.count()).select_from(Letter)) or 0,
        outbox=outbox,
        quarantine=dict(session.execute(
            select(QuarantineEntry.state, func.count()).group_by(QuarantineEntry.state)).all()),
        refused=dict(session.execute(select(Refusal.reason, func.count()).group_by(Refusal.reason)).all()),
    )


def notice_figures(session: Session) -> dict[str, Any]:
    """Suppression reasons of the last day and the first notice still retrying."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    reasons = Counter(
        (payload or {}).get("suppressed", "unknown")
        for payload in session.scalars(
            select(OutboxItem.payload).where(OutboxItem.kind == "notice", OutboxItem.state == "suppressed",
                                             OutboxItem.created_at >= since)
        )
    )
    # Held ones by why (no smarthost, or since session 44 a smarthost without SMTPUTF8
    # for a UTF-8 address): each waits for a person, whenever it was held. Grouped by
    # the short error column in SQL, not read from every held payload.
    held: Counter[str] = Counter()
    for error, count in session.execute(
            select(OutboxItem.last_error, func.count()).where(
                OutboxItem.kind == "notice", OutboxItem.state == "held").group_by(OutboxItem.last_error)):
        held["smarthost_lacks_smtputf8" if "SMTPUTF8" in (error or "") else "no_smarthost"] += count
    return {"suppressed_last_day": dict(sorted(reasons.items())), "held": dict(sorted(held.items())),
            "retrying": retrying(session, "notice")}


def retrying(session: Session, kind: str) -> dict[str, Any] | None:
    """The oldest item of `kind` still pending after a failed attempt, and how many
    wait so: what an operator must act on (the mail server away, the folder unwritable)."""
    waiting = session.scalar(
        select(OutboxItem).where(OutboxItem.kind == kind, OutboxItem.state == "pending",
                                 OutboxItem.last_error.is_not(None))
        .order_by(OutboxItem.id).limit(1)
    )
    if waiting is None:
        return None
    return {
        "id": waiting.id,
        "key": waiting.key,
        "queue_id": waiting.queue_id,
        "unit": waiting.unit,
        "attempts": waiting.attempts,
        "since": to_bangkok(waiting.created_at).isoformat(timespec="seconds"),
        "next_attempt_at": to_bangkok(waiting.next_attempt_at).isoformat(timespec="seconds"),
        "last_error": waiting.last_error,
        "items": session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == kind, OutboxItem.state == "pending", OutboxItem.last_error.is_not(None))) or 0,
    }


def imap_mailboxes(session: Session) -> dict[str, dict]:
    """Each pulled central mailbox: who holds its lease, UIDVALIDITY, messages by state."""
    mailboxes: dict[str, dict] = {}
    now = time.time()
    for row in session.scalars(select(ImapLease).where(ImapLease.mailbox.like("imap://%"))):
        mailboxes[row.mailbox] = {"holder": row.holder if row.expires_at > now else None,
                                  "uidvalidity": row.uidvalidity, "messages": {}}
    for mailbox, state, count in session.execute(
        select(ImapMessage.mailbox, ImapMessage.state, func.count()).group_by(ImapMessage.mailbox, ImapMessage.state)
    ):
        mailboxes.setdefault(mailbox, {"holder": None, "uidvalidity": None, "messages": {}})["messages"][state] = count
    for mailbox, high in session.execute(
        select(ImapMessage.mailbox, func.max(ImapMessage.uid)).group_by(ImapMessage.mailbox)
    ):
        mailboxes[mailbox]["highest_uid"] = high
    return add_problems(session, mailboxes)  # last error, letters left as too big (storage/intake.py)


def waiting_letter(session: Session) -> dict[str, Any] | None:
    """The oldest accepted letter the pipeline retries after a failure (its reason is
    cleared when it is finished), and how many wait so."""
    first = session.scalar(select(Message).where(Message.state == "processing", Message.reason.is_not(None))
                           .order_by(Message.received_at).limit(1))
    if first is None:
        return None
    return {"queue_id": first.queue_id, "since": to_bangkok(first.received_at).isoformat(timespec="seconds"),
            "reason": first.reason, "letters": session.scalar(select(func.count()).select_from(Message).where(
                Message.state == "processing", Message.reason.is_not(None))) or 0}
