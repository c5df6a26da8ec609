"""The notice's part of the outbox: the pipeline's one INSERT (insert_once), and the
counts the rate limits need (gateway/notices/decide.py): notices that went or will go
out in the past hour, by one payload field (`rate_key`: the address without
its +tag; `rate_domain`: its domain). Suppressed notices do not count."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import OutboxItem

NOTICE = "notice"
COUNTED_STATES = ("pending", "done", "dead", "held")  # notices that went or will go out


def notices_in_last_hour(session: Session, field: str, value: str) -> int:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    return session.scalar(
        select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == NOTICE,
            OutboxItem.created_at >= since,
            OutboxItem.state.in_(COUNTED_STATES),
            OutboxItem.payload[field].as_string() == value,
        )
    ) or 0


def insert_once(session: Session, kind: str, key: str, *, queue_id: str, unit: str | None,
                letter_id: int | None, payload: dict[str, Any]) -> None:
    """Add the outbox item (kind, key) unless it exists, as one INSERT ... ON CONFLICT
    DO NOTHING on the unique key: the pipeline's part of a notice. Nothing is read
    back and nothing is flushed, unlike outbox.add_once (a SELECT, a savepoint and an
    ORM flush); a second call with the same key, after a crash or from another
    gateway on the same PostgreSQL, leaves the first row as it is."""
    session.execute(_INSERT_ONCE[session.get_bind().dialect.name], {
        "kind": kind, "key": key, "queue_id": queue_id, "unit": unit, "letter_id": letter_id,
        "payload": payload,  # state, attempts and the times: the columns' defaults
    })


# Built once, so each INSERT is a cached compiled statement with new parameters.
_INSERT_ONCE = {name: insert(OutboxItem.__table__).on_conflict_do_nothing()
                for name, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))}


def decide_pending(db: Database, item_id: int, undecided: Callable[[dict[str, Any]], bool],
                   decide: Callable[[Session, str, dict[str, Any]], tuple[str, dict[str, Any]]]
                   ) -> OutboxItem | None:
    """Turn a queued notice record into its decision, in one transaction: `decide`
    gives (state, payload) and may count recent notices in `session`. Returns the item
    (detached) if it is to be sent now, None if not (suppressed, held, or no longer
    pending)."""
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        if row is None or row.state != "pending":
            return None
        if undecided(row.payload or {}):
            state, payload = decide(session, row.key, row.payload)
            row.payload, row.state = payload, state
            row.last_error = "no smarthost configured" if state == "held" else None
            # The rate limits count notices by this moment: decided is when it is made.
            row.created_at = dt.datetime.now(dt.timezone.utc)
            session.flush()
        if row.state != "pending":
            return None
        session.expunge(row)
        return row
