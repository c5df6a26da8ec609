"""Tables of the IMAP intake: who may read a mailbox, and what was taken from it.

UIDVALIDITY and UID are unsigned 32-bit numbers on the wire, hence BigInteger (a
PostgreSQL INTEGER stops at 2^31)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, _utcnow


class ImapLease(Base):
    """One consumer per mailbox: the holder may read it until `expires_at` (epoch seconds).

    Taken and renewed by conditional UPDATEs, which both SQLite (one writer at a time)
    and PostgreSQL (row lock, re-checked WHERE) decide for exactly one gateway."""

    __tablename__ = "imap_leases"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[float] = mapped_column(Float)
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # as last seen


class ImapMessage(Base):
    """A message taken from a pulled mailbox, keyed by (mailbox, UIDVALIDITY, UID).

    The queue id is chosen and recorded *before* the message is written to the spool, so
    a crash anywhere re-spools it under the same id and the register's (queue id, unit)
    constraint keeps it to one registration.
    state: spooling -> spooled -> marked; or skipped (too big, or already ours)."""

    __tablename__ = "imap_messages"
    __table_args__ = (Index("ix_imap_message_state", "mailbox", "state"),
                      Index("ix_imap_message_mid", "mailbox", "message_id"))

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="spooling")
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)
