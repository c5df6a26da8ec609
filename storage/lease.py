"""Leases in the database: one holder at a time for a named thing, across gateways.

Used for "one consumer per pulled mailbox" and for "one gateway files an outbox item".
Every change is a single conditional UPDATE (or an INSERT guarded by the primary key),
so SQLite (one writer at a time) and PostgreSQL (row lock, WHERE re-checked after a
concurrent commit) both let exactly one contender win. Expiry is wall-clock epoch
seconds: gateways sharing a database must keep their clocks in sync (NTP)."""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import ImapLease


class LeaseLost(Exception):
    """Another gateway holds the lease now; stop working on what it covers."""


def holder_name(data_dir: Path) -> str:
    """Stable per gateway instance: a restarted runner of the same gateway gets its lease back."""
    return f"{socket.gethostname()}:{data_dir}"


@dataclass
class Claim:
    ok: bool
    existed: bool  # a lease row was there before: somebody (maybe we) tried earlier
    holder: str | None = None  # who holds it, when not ok


def acquire(db: Database, name: str, holder: str, ttl: float) -> Claim:
    now = time.time()
    try:
        with db.session() as session:
            taken = session.execute(
                update(ImapLease)
                .where(ImapLease.mailbox == name,
                       or_(ImapLease.holder == holder, ImapLease.expires_at < now))
                .values(holder=holder, expires_at=now + ttl)
            ).rowcount
            if taken == 1:
                return Claim(True, True)
            current = session.get(ImapLease, name)
            if current is not None:
                return Claim(False, True, current.holder)
            session.add(ImapLease(mailbox=name, holder=holder, expires_at=now + ttl))
            session.flush()
            return Claim(True, False)
    except IntegrityError:  # another gateway inserted it between our look and our insert
        return Claim(False, True)


def fence(session: Session, name: str, holder: str, ttl: float) -> None:
    """Inside a transaction that records work: renew, or raise LeaseLost (and roll back)."""
    now = time.time()
    renewed = session.execute(
        update(ImapLease)
        .where(ImapLease.mailbox == name, ImapLease.holder == holder, ImapLease.expires_at >= now)
        .values(expires_at=now + ttl)
    ).rowcount
    if renewed != 1:
        raise LeaseLost(f"lease {name} is no longer held by {holder}")


def renew(db: Database, name: str, holder: str, ttl: float) -> bool:
    try:
        with db.session() as session:
            fence(session, name, holder, ttl)
        return True
    except LeaseLost:
        return False


def release(db: Database, name: str, holder: str) -> None:
    """Let another gateway take over at once (clean shutdown)."""
    with db.session() as session:
        session.execute(update(ImapLease).where(ImapLease.mailbox == name, ImapLease.holder == holder)
                        .values(expires_at=0.0))


def forget(db: Database, names: list[str]) -> None:
    if names:
        with db.session() as session:
            session.execute(delete(ImapLease).where(ImapLease.mailbox.in_(names)))


def holders(session: Session, prefix: str) -> list[ImapLease]:
    return list(session.scalars(select(ImapLease).where(ImapLease.mailbox.like(prefix + "%"))))
