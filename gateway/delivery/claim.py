"""One outbox item, one worker — also when several gateways share one PostgreSQL.

Two delivery runners (two daemons on one database) could both see an item pending and
both deliver it. On PostgreSQL a runner first takes a session-level advisory lock on
the item; whoever does not get it skips the item. The lock lives in the database
connection, so a runner killed mid-delivery releases it with its connection and the
item is retried at once, with no lease to expire. SQLite is one host's file and the
write lock already serialises everything, so there it is a no-op.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import text

from storage.db import Database

_NAMESPACE = 0x0B0C  # first key of the two-key advisory lock: "outbox item"


@contextmanager
def claimed(db: Database, item_id: int) -> Iterator[bool]:
    """Yields True if this process may work the item now, False if another one is on it."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    conn = db.engine.connect()
    try:
        mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                 {"ns": _NAMESPACE, "id": item_id}).scalar())
        conn.commit()  # the lock is the session's, not the transaction's: do not sit idle in one
        try:
            yield mine
        finally:
            if mine:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": _NAMESPACE, "id": item_id})
                    conn.commit()
                except Exception:
                    # Never hand a connection that may still hold the lock back to the pool.
                    conn.invalidate()
                    raise
    finally:
        conn.close()
