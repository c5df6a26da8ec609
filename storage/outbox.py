"""The outbox: what the gateway still owes someone (a folder copy, a registrar copy, a
notice, an alert). Every item is added at most once, keyed by (kind, key), in the
transaction that decided it is owed, so a crash can neither lose it nor make two."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
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
