"""Intake's records: refusals at SMTP DATA, and IMAP intake's bookkeeping: which message of which central mailbox was taken, under
which queue id, and how far it got ("spooling" -> "spooled" -> "marked", or "skipped", or
"unreadable" until the server gives it).
See gateway/intake/imap_intake.py for the life of a message."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rules.thai_time import to_bangkok
from storage.models import ImapLease, ImapMessage, Letter, Message, QuarantineEntry, Refusal
from storage.text import fit, fitted


def record_refusal(session: Session, *, reason: str, mail_from: str, message_id: str | None,
                   peer: str | None, at: dt.datetime | None = None) -> None:
    """A refusal at DATA that is counted (ลับที่สุด): who, when, which Message-ID; never content.
    `at`: when it was refused, for a record written later (default: now)."""
    session.add(Refusal(**fitted(Refusal.__table__, dict(reason=reason, mail_from=mail_from,
                                                         message_id=message_id, peer=peer,
                                                         **({"at": at} if at is not None else {})))))


def record_refusals_owed(session: Session, refusals: list[dict]) -> int:
    """Refusals recorded late (gateway/intake/refusals.py), each with its `at`; one
    already in the register (written before a crash took the file that owed it) is not
    written twice. Returns how many were written."""
    def utc(value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)

    def key(r) -> tuple:  # noqa: ANN001 - a Refusal or a dict of its fields
        get = r.get if isinstance(r, dict) else lambda name: getattr(r, name)
        return get("reason"), get("mail_from"), get("message_id"), get("peer"), utc(get("at")).isoformat()

    if not refusals:
        return 0
    first, last = min(utc(r["at"]) for r in refusals), max(utc(r["at"]) for r in refusals)
    kept = {key(r) for r in session.scalars(select(Refusal).where(
        Refusal.at >= first - dt.timedelta(seconds=1), Refusal.at <= last + dt.timedelta(seconds=1)))}
    written = 0
    for refusal in refusals:
        if key(fitted(Refusal.__table__, refusal)) not in kept:
            record_refusal(session, **refusal)
            written += 1
    return written


def note_uidvalidity(session: Session, mailbox: str, uidvalidity: int) -> int | None:
    """Remember the mailbox's UIDVALIDITY; return the one seen before (None if none)."""
    row = session.get(ImapLease, mailbox)
    previous = row.uidvalidity if row else None
    if row is not None:
        row.uidvalidity = uidvalidity
    return previous


def highest_uid(session: Session, mailbox: str, uidvalidity: int) -> int:
    return session.scalar(select(func.max(ImapMessage.uid)).where(
        ImapMessage.mailbox == mailbox, ImapMessage.uidvalidity == uidvalidity)) or 0


# The states of a row whose letter reached the spool under its queue id. A row recorded
# but never spooled (the gateway killed, or the disk refused the write, before the
# UIDVALIDITY changed; or gone from the mailbox) has a queue id the register will never
# know: a message found by its Message-ID or bytes under such a row was recorded as
# taken and never registered, and the intake waited for it five times a second for ever.
SPOOLED = ("spooled", "marked")


def spooling_under_earlier_uidvalidity(session: Session, mailbox: str,
                                       uidvalidity: int) -> list[tuple[int, int, str | None]]:
    """(uidvalidity, uid, queue id) of the rows left "spooling" under another UIDVALIDITY:
    their UIDs mean nothing now, so they cannot be fetched again."""
    return [(r.uidvalidity, r.uid, r.queue_id) for r in session.scalars(select(ImapMessage).where(
        ImapMessage.mailbox == mailbox, ImapMessage.uidvalidity != uidvalidity,
        ImapMessage.state == "spooling").order_by(ImapMessage.uidvalidity, ImapMessage.uid))]


def queue_id_taken_before(session: Session, mailbox: str, uidvalidity: int, message_id: str,
                          arrived: dt.datetime) -> str | None:
    """The queue id a message with this Message-ID got under an earlier UIDVALIDITY,
    when this one (its INTERNALDATE `arrived`, aware) reached the mailbox before that
    message was taken: a copy the mailbox gives back (restored, migrated). One that
    arrived later is a new letter, whatever its Message-ID: scanners and e-saraban
    systems reuse them, and until session 35 such a letter, after any UIDVALIDITY
    change, was recorded as taken and never registered."""
    rows = session.execute(select(ImapMessage.queue_id, ImapMessage.updated_at).where(
        ImapMessage.mailbox == mailbox, ImapMessage.message_id == fit(ImapMessage.__table__.c.message_id, message_id),
        ImapMessage.uidvalidity != uidvalidity, ImapMessage.queue_id.is_not(None),
        ImapMessage.state.in_(SPOOLED)).limit(50))
    for queue_id, taken_at in rows:
        if taken_at.tzinfo is None:  # SQLite gives naive UTC back
            taken_at = taken_at.replace(tzinfo=dt.timezone.utc)
        if arrived <= taken_at:
            return queue_id
    return None


def queue_id_of_same_bytes(session: Session, mailbox: str, uidvalidity: int, raw_sha256: str) -> str | None:
    """The queue id a message with exactly these bytes (SHA-256) got when it was taken
    from this mailbox under an earlier UIDVALIDITY: by the row's own hash, or, for rows
    taken before hashes were kept, by the hash of the letter the register made of it or of
    its quarantine entry."""
    earlier = (ImapMessage.mailbox == mailbox, ImapMessage.uidvalidity != uidvalidity,
               ImapMessage.queue_id.is_not(None))
    found = session.scalar(select(ImapMessage.queue_id).where(*earlier, ImapMessage.raw_sha256 == raw_sha256,
                                                              ImapMessage.state.in_(SPOOLED)).limit(1))
    if found is None:
        found = session.scalar(select(ImapMessage.queue_id).join(Letter, Letter.queue_id == ImapMessage.queue_id)
                               .where(*earlier, Letter.raw_sha256 == raw_sha256).limit(1))
    if found is None:
        found = session.scalar(select(ImapMessage.queue_id)
                               .join(QuarantineEntry, QuarantineEntry.queue_id == ImapMessage.queue_id)
                               .where(*earlier, QuarantineEntry.raw_sha256 == raw_sha256).limit(1))
    return found


def record_taken(session: Session, *, mailbox: str, uidvalidity: int, uid: int, queue_id: str | None,
                 message_id: str | None, size: int, state: str, note: str | None = None,
                 raw_sha256: str | None = None, sender: str | None = None) -> None:
    values = fitted(ImapMessage.__table__, dict(
        mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, queue_id=queue_id, message_id=message_id or None,
        size=size, state=state, note=note, raw_sha256=raw_sha256, sender=sender or None))
    earlier = session.get(ImapMessage, (mailbox, uidvalidity, uid))
    if earlier is not None and earlier.state == "unreadable":
        # Taken now that the server reads it: the same row, in the same transaction, so
        # a crash never leaves the UID without a row (and below the highest UID, unread).
        for key, value in values.items():
            setattr(earlier, key, value)
        return
    session.add(ImapMessage(**values))


def set_taken_state(session: Session, mailbox: str, uidvalidity: int, uid: int, state: str,
                    note: str | None = None, raw_sha256: str | None = None) -> None:
    row = session.get(ImapMessage, (mailbox, uidvalidity, uid))
    row.state = state
    if note:
        row.note = note
    if raw_sha256:
        row.raw_sha256 = raw_sha256


def note_error(session: Session, mailbox: str, error: str) -> None:
    """The mailbox's latest problem (login refused, server unreachable, ...), for `status`."""
    session.execute(update(ImapLease).where(ImapLease.mailbox == mailbox).values(
        last_error=error[:500], last_error_at=dt.datetime.now(dt.timezone.utc)))


def note_connected(session: Session, mailbox: str) -> None:
    session.execute(update(ImapLease).where(ImapLease.mailbox == mailbox).values(
        connected_at=dt.datetime.now(dt.timezone.utc)))


def listed_at(session: Session, mailbox: str) -> dt.datetime | None:
    """When the mailbox's last whole listing began (UTC), or None if it never was listed."""
    when = session.scalar(select(ImapLease.listed_at).where(ImapLease.mailbox == mailbox))
    if when is not None and when.tzinfo is None:  # SQLite gives naive UTC back
        when = when.replace(tzinfo=dt.timezone.utc)
    return when


def note_listed(session: Session, mailbox: str, when: dt.datetime) -> None:
    session.execute(update(ImapLease).where(ImapLease.mailbox == mailbox).values(listed_at=when))


TOO_BIG_SHOWN = 20  # per mailbox, newest first


def add_problems(session: Session, mailboxes: dict[str, dict]) -> dict[str, dict]:
    """Add to `storage.counts.imap_mailboxes`'s figures what a person must act on: the
    mailbox's last error (Bangkok time) and the messages left on the server as too big."""
    for row in session.scalars(select(ImapLease).where(ImapLease.mailbox.in_(list(mailboxes)))):
        info = mailboxes[row.mailbox]
        info["last_error"] = row.last_error
        info["last_error_at"] = _bangkok(row.last_error_at)
        info["connected_at"] = _bangkok(row.connected_at)
        # Under the mailbox's UIDVALIDITY now: after a change the mailbox is read again.
        info["unreadable"] = [
            {"uidvalidity": r.uidvalidity, "uid": r.uid, "message_id": r.message_id, "sender": r.sender,
             "at": _bangkok(r.updated_at), "note": r.note}
            for r in session.scalars(select(ImapMessage).where(
                ImapMessage.mailbox == row.mailbox, ImapMessage.uidvalidity == row.uidvalidity,
                ImapMessage.state == "unreadable").order_by(ImapMessage.uid).limit(TOO_BIG_SHOWN))]
    for mailbox, info in mailboxes.items():
        info.setdefault("last_error", None)
        info.setdefault("unreadable", [])
        # Gone from the mailbox before the register had it: a person must ask for it again.
        info["gone"] = [
            {"uidvalidity": r.uidvalidity, "uid": r.uid, "message_id": r.message_id, "sender": r.sender,
             "at": _bangkok(r.updated_at), "note": r.note}
            for r in session.scalars(select(ImapMessage).where(
                ImapMessage.mailbox == mailbox, ImapMessage.state == "gone",
                (ImapMessage.message_id.is_(None)) | ImapMessage.message_id.not_in(
                    select(ImapMessage.message_id).where(ImapMessage.mailbox == mailbox,
                                                         ImapMessage.state.in_(SPOOLED),
                                                         ImapMessage.message_id.is_not(None))))
                .order_by(ImapMessage.updated_at.desc()).limit(TOO_BIG_SHOWN))]
        # One whose Message-ID was taken since (a person let it in again) is dealt with.
        taken_since = select(ImapMessage.message_id).where(
            ImapMessage.mailbox == mailbox, ImapMessage.queue_id.is_not(None), ImapMessage.message_id.is_not(None))
        info["too_big"] = [
            # No subject: the letter was not read, so it may be ลับ (gateway/intake/imap_intake.py).
            {"uidvalidity": r.uidvalidity, "uid": r.uid, "size": r.size, "sender": r.sender,
             "message_id": r.message_id, "at": _bangkok(r.updated_at), "note": r.note}
            for r in session.scalars(select(ImapMessage).where(
                ImapMessage.mailbox == mailbox, ImapMessage.state == "skipped", ImapMessage.queue_id.is_(None),
                (ImapMessage.message_id.is_(None)) | ImapMessage.message_id.not_in(taken_since))
                .order_by(ImapMessage.updated_at.desc()).limit(TOO_BIG_SHOWN))]
    return mailboxes


def _bangkok(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:  # SQLite gives naive UTC back
        when = when.replace(tzinfo=dt.timezone.utc)
    return to_bangkok(when).isoformat(timespec="seconds")


def still_spooling(session: Session, mailbox: str, uidvalidity: int,
                   state: str = "spooling") -> list[tuple[int, str | None, str | None]]:
    """(uid, queue id, envelope sender) of the rows a crash left between "recorded" and
    "spooled" (or, with `state`, of the rows in that state: "unreadable", to try again),
    by UID."""
    return [(r.uid, r.queue_id, r.sender) for r in session.scalars(select(ImapMessage).where(
        ImapMessage.mailbox == mailbox, ImapMessage.uidvalidity == uidvalidity,
        ImapMessage.state == state).order_by(ImapMessage.uid))]



def spooled_with_message_state(session: Session, mailbox: str) -> list[tuple[int, int, str, str | None]]:
    """(uidvalidity, uid, queue id, state of its message row or None) of every spooled
    row of the mailbox, by UID: what may now be marked on the server."""
    return [tuple(row) for row in session.execute(
        select(ImapMessage.uidvalidity, ImapMessage.uid, ImapMessage.queue_id, Message.state)
        .join(Message, Message.queue_id == ImapMessage.queue_id, isouter=True)
        .where(ImapMessage.mailbox == mailbox, ImapMessage.state == "spooled")
        .order_by(ImapMessage.uid))]
