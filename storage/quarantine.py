"""The quarantine (กักกัน): letters the gateway would not register, held for a person at
the central unit to release (register anyway) or reject. One entry per (message, unit)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.names import shortened
from storage.models import QuarantineEntry
from storage.text import fit

# What an entry keeps of its reasons. Until session 44 it kept them whole: a letter of
# 3,000 files each refused (one reason a file) made a row of megabytes, read again by
# every `quarantine list`, the desk's held list and `reprocess`. The letter itself (its
# raw message in the vault, or sealed) is kept whole: a release or a reprocess checks
# all of it again; only the reasons written down are bounded.
KEPT_REASONS = 200  # the first ones, in the order the rules found them
REASON_CHARS = 500  # of each text of one (message_th, message_en, attachment)
KEPT_CHARS = 100_000  # of all of them together (200 reasons of 500)
REASONS_LEFT_OUT = "reasons_left_out"  # the rule of the last reason, which counts the rest
_TEXTS = ("message_th", "message_en", "attachment")


def stored_reasons(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`reasons` as an entry keeps them: at most KEPT_REASONS, each text shortened to
    REASON_CHARS (a file's long name kept at its start and end), at most KEPT_CHARS in
    all; the rest counted by one last reason (REASONS_LEFT_OUT), in Thai and English."""
    kept: list[dict[str, Any]] = []
    used = 0
    for reason in reasons:
        if len(kept) == KEPT_REASONS or used >= KEPT_CHARS:
            break
        if not isinstance(reason, dict):
            kept.append(reason)
            continue
        fitted = {**reason, **{key: shortened(reason[key], REASON_CHARS)
                               for key in _TEXTS if isinstance(reason.get(key), str)}}
        if "message" in reason and (fitted.get("message_th") or fitted.get("message_en")):
            fitted["message"] = f"{fitted.get('message_th') or ''} / {fitted.get('message_en') or ''}"
        kept.append(fitted)
        used += sum(len(fitted[key]) for key in _TEXTS if isinstance(fitted.get(key), str))
    left = len(reasons) - len(kept) + reasons_left_out(reasons[len(kept):])
    if left:
        kept.append(left_out_reason(left))
    return kept


def left_out_reason(count: int) -> dict[str, Any]:
    th = (f"และเหตุอื่นอีก {count:,} รายการที่ไม่ได้บันทึกไว้ในรายการกักนี้ "
          "(หนังสือฉบับนี้ยังเก็บไว้ครบทุกไฟล์ เมื่อรับเข้าทะเบียนหรือตรวจซ้ำ ระบบจะตรวจทั้งฉบับอีกครั้ง)")
    en = (f"and {count:,} more reasons not written down in this entry (the letter itself is "
          "kept whole, every file of it: a release or a reprocess checks all of it again)")
    return {"rule": REASONS_LEFT_OUT, "verdict": "info", "message": f"{th} / {en}", "message_th": th,
            "message_en": en, "attachment": None, "left_out": count}


def reasons_left_out(reasons: list[Any]) -> int:
    """How many reasons an entry's stored `reasons` count without holding them."""
    return sum(int(r.get("left_out") or 0) for r in reasons
               if isinstance(r, dict) and r.get("rule") == REASONS_LEFT_OUT)


def reason_count(reasons: list[Any]) -> int:
    """How many reasons held the letter, those left out of the entry included."""
    return sum(1 for r in reasons if not (isinstance(r, dict) and r.get("rule") == REASONS_LEFT_OUT)) \
        + reasons_left_out(reasons)


def hold(session: Session, *, queue_id: str, unit: str | None, sender: str, subject: str | None,
         reasons: list[dict[str, Any]], raw_sha256: str | None) -> QuarantineEntry:
    # The From address is the sender's own words: cut to its column (storage/text.py).
    sender = fit(QuarantineEntry.__table__.c.sender, sender)
    entry = QuarantineEntry(queue_id=queue_id, unit=unit, sender=sender, subject=subject,
                            reasons=stored_reasons(reasons), raw_sha256=raw_sha256)
    session.add(entry)
    session.flush()
    return entry


def find_same_held(session: Session, unit: str, sender: str, raw_sha256: str | None, mail_from: str | None,
                   queue_id: str) -> int | None:
    """The id of this unit's quarantine entry (held or rejected, not released) of another
    message with these very bytes (`messages.sha256`, as received) from the same sender
    and envelope sender, or None: a sending server that never read our 250 sends the
    same bytes again, and a held letter was held a second time (two entries, a second
    rejection notice). Through ix_messages_sha256: the few messages with these bytes."""
    from storage.models import Message

    if not raw_sha256 or mail_from is None:
        return None
    return session.scalar(
        select(QuarantineEntry.id)
        .join(Message, Message.queue_id == QuarantineEntry.queue_id)
        .where(Message.sha256 == raw_sha256, Message.mail_from == fit(Message.__table__.c.mail_from, mail_from),
               QuarantineEntry.unit == unit, QuarantineEntry.sender == fit(QuarantineEntry.__table__.c.sender, sender),
               QuarantineEntry.queue_id != queue_id, QuarantineEntry.state != "released")
        .order_by(QuarantineEntry.id).limit(1))


def find_entry(session: Session, queue_id: str, unit: str) -> QuarantineEntry | None:
    """The entry of this message for this unit, in any state."""
    return session.scalar(select(QuarantineEntry).where(
        QuarantineEntry.queue_id == queue_id, QuarantineEntry.unit == unit))


def get_entry(session: Session, quarantine_id: int, lock: bool = False) -> QuarantineEntry | None:
    """The entry; with `lock`, its row is locked until the transaction ends (SELECT ...
    FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), so
    that two decisions on one entry (release and reject, or a double click) are taken
    one after the other, the second seeing the first's outcome."""
    return session.get(QuarantineEntry, quarantine_id, with_for_update=lock or None, populate_existing=lock)


def held_for_message(session: Session, queue_id: str) -> list[QuarantineEntry]:
    return list(session.scalars(select(QuarantineEntry).where(
        QuarantineEntry.queue_id == queue_id, QuarantineEntry.state == "held")))


def list_entries(session: Session, state: str | None = "held", unit: str | None = None) -> list[QuarantineEntry]:
    stmt = select(QuarantineEntry).order_by(QuarantineEntry.id)
    if state:
        stmt = stmt.where(QuarantineEntry.state == state)
    if unit:
        stmt = stmt.where(QuarantineEntry.unit == unit)
    return list(session.scalars(stmt))


def page_of_entries(session: Session, state: str, units: set[str] | None, page: int,
                    per_page: int) -> tuple[list[QuarantineEntry], int]:
    """(one page of the entries in `state`, newest first, of `units` (None: every
    unit), their count): the desk's list, by the database's index, not every entry of
    every unit read and sorted out in Python."""
    where = [QuarantineEntry.state == state]
    if units is not None:
        where.append(QuarantineEntry.unit.in_(sorted(units)))
    total = session.scalar(select(func.count()).select_from(QuarantineEntry).where(*where)) or 0
    rows = session.scalars(select(QuarantineEntry).where(*where).order_by(QuarantineEntry.id.desc())
                           .offset(max(0, page - 1) * per_page).limit(per_page))
    return list(rows), total


def units_of_entries(session: Session, ids: set[int]) -> dict[int, str]:
    """Entry id -> its unit, for the entries of `ids` that name one."""
    if not ids:
        return {}
    rows = session.execute(select(QuarantineEntry.id, QuarantineEntry.unit).where(QuarantineEntry.id.in_(sorted(ids))))
    return {entry_id: unit for entry_id, unit in rows if unit}


def forget(session: Session, entry: QuarantineEntry) -> None:
    """Close a held entry so the pipeline decides again (`reprocess`); its reasons stay
    in the operator action that asked for it."""
    session.delete(entry)


def hold_again(session: Session, *, queue_id: str, unit: str, sender: str,
               reasons: list[dict[str, Any]]) -> QuarantineEntry:
    """Hold this message for this unit, or hold its entry again with these reasons: a
    letter parked a second time after a `reprocess` (or after the daemon was killed
    between parking and moving the file, which runs the letter once more) keeps the
    one entry uq_quarantine_per_unit allows, with the newest reasons."""
    entry = find_entry(session, queue_id, unit)
    if entry is None:
        return hold(session, queue_id=queue_id, unit=unit, sender=sender, subject=None,
                    reasons=reasons, raw_sha256=None)
    entry.state, entry.reasons = "held", stored_reasons(reasons)
    return entry
