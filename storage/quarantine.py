"""The quarantine (กักกัน): letters the gateway would not register, held for a person at
the central unit to release (register anyway) or reject. One entry per (message, unit)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import QuarantineEntry
from storage.text import fit


def hold(session: Session, *, queue_id: str, unit: str | None, sender: str, subject: str | None,
         reasons: list[dict[str, Any]], raw_sha256: str | None) -> QuarantineEntry:
    # The From address is the sender's own words: cut to its column (storage/text.py).
    sender = fit(QuarantineEntry.__table__.c.sender, sender)
    entry = QuarantineEntry(queue_id=queue_id, unit=unit, sender=sender, subject=subject,
                            reasons=reasons, raw_sha256=raw_sha256)
    session.add(entry)
    session.flush()
    return entry


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
    entry.state, entry.reasons = "held", reasons
    return entry
