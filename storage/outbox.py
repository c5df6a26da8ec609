"""The outbox: what the gateway still owes someone (a folder copy, a registrar copy, a
notice, an alert). Every item is added at most once, keyed by (kind, key), in the
transaction that decided it is owed, so a crash can neither lose it nor make two."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import OutboxItem


def find_item(session: Session, kind: str, key: str) -> OutboxItem | None:
    return session.scalar(select(OutboxItem).where(OutboxItem.kind == kind, OutboxItem.key == key))


def add_once(session: Session, kind: str, key: str, *, queue_id: str, unit: str | None = None,
             letter_id: int | None = None, payload: dict[str, Any] | None = None,
             state: str = "pending", last_error: str | None = None) -> tuple[OutboxItem, bool]:
    """The item (kind, key), added now unless it exists; returns it and whether it is new."""
    existing = find_item(session, kind, key)
    if existing is not None:
        return existing, False
    item = OutboxItem(kind=kind, key=key, queue_id=queue_id, unit=unit, letter_id=letter_id,
                      payload=payload or {}, state=state, last_error=last_error)
    session.add(item)
    session.flush()
    return item, True


def add_alert(session: Session, queue_id: str, unit: str, reason: str, to: str, **details: Any) -> None:
    """An alert for the unit's secret registrar ("registrar") or the central unit
    ("central"), filed by the delivery runner; it never carries letter content."""
    add_once(session, "alert", f"{reason}:{to}:{queue_id}:{unit}", queue_id=queue_id, unit=unit,
             payload={"to": to, "reason": reason, **details})


def withdraw(session: Session, kind: str, key: str, why: str) -> bool:
    """Take back an item that has not gone out yet (e.g. the rejection notice of a
    letter an operator released). True if it was withdrawn; an item already sent or
    being sent stays as it is."""
    item = find_item(session, kind, key)
    if item is None or item.state not in ("pending", "held"):
        return False
    item.state = "withdrawn"
    item.last_error = why
    return True


def items_for_letter(session: Session, letter_id: int) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.letter_id == letter_id).order_by(OutboxItem.id)))


def folder_items(session: Session, letter_ids: list[int]) -> dict[int, OutboxItem]:
    """The folder copy owed for each of these letters, by letter id."""
    if not letter_ids:
        return {}
    return {item.letter_id: item for item in session.scalars(
        select(OutboxItem).where(OutboxItem.letter_id.in_(letter_ids), OutboxItem.kind == "folder"))}


def release_held_notices(session: Session) -> int:
    """Notices held while no smarthost was configured become due now; returns how many."""
    return session.execute(
        update(OutboxItem)
        .where(OutboxItem.kind == "notice", OutboxItem.state == "held")
        .values(state="pending", last_error=None, next_attempt_at=dt.datetime.now(dt.timezone.utc))
    ).rowcount


def items_in_state(session: Session, state: str | None = None, kind: str | None = None,
                   limit: int | None = None) -> list[OutboxItem]:
    """Outbox items in id order, of one state and kind if given (`outbox list`, the
    desk's operations page)."""
    stmt = select(OutboxItem).order_by(OutboxItem.id).limit(limit)
    if state:
        stmt = stmt.where(OutboxItem.state == state)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    return list(session.scalars(stmt))


def retry_items(session: Session, ids: list[int] | None = None, dead: bool = False) -> tuple[list[int], list[str]]:
    """Make dead (or waiting) items due now; the dead-letter clock starts again from now
    (the first creation time is kept in the payload). Returns the ids retried and one
    sentence per id refused. `outbox retry` and the desk's operations page use it."""
    now = dt.datetime.now(dt.timezone.utc)
    retried: list[int] = []
    refused: list[str] = []
    if dead:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.state == "dead")))
    else:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids or []))))
        missing = set(ids or []) - {item.id for item in items}
        refused += [f"{i}: no such outbox item" for i in sorted(missing)]
    for item in items:
        if item.state == "done":
            refused.append(f"{item.id}: already done")
            continue
        item.payload = {**(item.payload or {}), "first_created_at": (item.payload or {}).get(
            "first_created_at", item.created_at.isoformat())}
        item.state, item.next_attempt_at, item.created_at = "pending", now, now
        retried.append(item.id)
    return retried, refused
