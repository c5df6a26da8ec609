"""The database schema. Every uniqueness the durability contract relies on is a
database constraint, not a check in Python, so that two processes cannot both win."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Message(Base):
    """One accepted spool entry and how far the pipeline got with it."""

    __tablename__ = "messages"

    queue_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    mail_from: Mapped[str] = mapped_column(String(512))
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)
    # Of the raw message as received: a letter sent again byte for byte is found by it
    # (storage/register.py), with or without a Message-ID.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    # processing -> done | quarantined ; failed attempts are counted, not a state
    state: Mapped[str] = mapped_column(String(20), default="processing", index=True)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per unit
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who really sent it, as the pipeline settled it (gateway/sender/results.py): kept
    # here too so that a quarantined letter released later keeps its verdict.
    sender_auth: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)


class RegisterCounter(Base):
    """The last receive number (เลขรับ) given in one register book in one BE year."""

    __tablename__ = "register_counters"

    unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    book: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Letter(Base):
    """An entry in a unit's receive register (ทะเบียนหนังสือรับ)."""

    __tablename__ = "letters"
    __table_args__ = (
        UniqueConstraint("unit", "book", "year", "number", name="uq_letter_number"),
        UniqueConstraint("queue_id", "unit", name="uq_letter_per_unit"),
        Index("ix_letter_resend", "unit", "sender", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("messages.queue_id"), index=True)
    unit: Mapped[str] = mapped_column(String(64))
    book: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)  # Buddhist era
    number: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    sender: Mapped[str] = mapped_column(String(512))
    sender_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)  # เรื่อง, as the letter gives it
    # The Subject header as the sender's client wrote it (often "ที่ ... ลงวันที่ ... เรื่อง ...").
    mail_subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)  # ที่
    letter_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # ลงวันที่
    addressee: Mapped[str | None] = mapped_column(Text, nullable=True)  # เรียน / ถึง
    urgency: Mapped[str] = mapped_column(String(20), default="normal")
    secrecy: Mapped[str] = mapped_column(String(20), default="none")
    kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    findings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="registered")  # or cancelled
    review: Mapped[bool] = mapped_column(default=False)  # flagged for a person to look at
    # ยืนยันผู้ส่ง: who really sent it (SPF, DKIM, ARC, DMARC; gateway/sender/results.py).
    sender_auth: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    attachments: Mapped[list["LetterAttachment"]] = relationship(
        back_populates="letter", order_by="LetterAttachment.position", cascade="all, delete-orphan"
    )

    @property
    def receive_no(self) -> str:
        """'15/2569', as written in the register and on the stamp."""
        return f"{self.number}/{self.year}"


class LetterAttachment(Base):
    __tablename__ = "letter_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # a letter sent again (storage/register.py)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(200))  # sniffed from the bytes
    declared_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    signatures: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    letter: Mapped[Letter] = relationship(back_populates="attachments")


class OutboxItem(Base):
    """Work owed to the outside world after a commit: filing, notices, forwards.

    Written in the same transaction as the registration it follows (a transactional
    outbox), so a crash can never leave a registered letter without its delivery."""

    __tablename__ = "outbox"
    # The notice rate limits count the past hour's notices to one person or one domain
    # (storage/notices.py) through ix_outbox_rate_key / ix_outbox_rate_domain: only the
    # rows that match, never the JSON payload of every notice of the hour.
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_outbox_key"),
                      Index("ix_outbox_kind_created", "kind", "created_at"),
                      Index("ix_outbox_rate_key", "kind", "rate_key", "created_at"),
                      Index("ix_outbox_rate_domain", "kind", "rate_domain", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # folder | notice | ...
    key: Mapped[str] = mapped_column(String(200))  # what makes it the same item
    queue_id: Mapped[str] = mapped_column(String(40), index=True)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A decided notice's recipient without its +tag, and its domain (gateway/notices/decide.py).
    rate_key: Mapped[str | None] = mapped_column(String(320), nullable=True)
    rate_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # Not a column: the registered letter it files, read with the item for the kinds
    # that file one (outbox.pending_item), in one transaction rather than two.
    letter = None  # Letter | None


class QuarantineEntry(Base):
    """A letter the gateway would not register, with the reasons, for a person."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("queue_id", "unit", name="uq_quarantine_per_unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[str] = mapped_column(String(40), index=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    sender: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raw_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="held")  # held|released|rejected


class Refusal(Base):
    """A message refused at the end of DATA whose refusal must be counted, e.g.
    ลับที่สุด (top secret): only who, when, which Message-ID and why, never content."""

    __tablename__ = "refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    reason: Mapped[str] = mapped_column(String(40), index=True)
    mail_from: Mapped[str] = mapped_column(String(512))
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    peer: Mapped[str | None] = mapped_column(String(100), nullable=True)


class OperatorAction(Base):
    """Something a person did to the register or the quarantine (release, reject,
    reprocess, cancel, import), with who did it and why: the central unit answers for
    every number, including the ones a person decided."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    who: Mapped[str] = mapped_column(String(200))  # the OS user (and the sudo user behind it)
    action: Mapped[str] = mapped_column(String(40), index=True)
    queue_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), nullable=True, index=True)
    quarantine_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The IMAP intake: who may read a mailbox, and what was taken from it. UIDVALIDITY and
# UID are unsigned 32-bit numbers on the wire, hence BigInteger (a PostgreSQL INTEGER
# stops at 2^31).


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
    # IMAP intake's last problem with the mailbox (login refused, server unreachable, ...)
    # and when; `connected_at`: the last time a session got as far as SELECT.
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    connected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # When the last whole listing of the mailbox's new messages began (our clock): a
    # message first listed after it reached the mailbox after it, whatever INTERNALDATE
    # says (gateway/intake/imap_intake.py `_received_at`).
    listed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ImapMessage(Base):
    """A message taken from a pulled mailbox, keyed by (mailbox, UIDVALIDITY, UID).

    The queue id is chosen and recorded *before* the message is written to the spool, so
    a crash anywhere re-spools it under the same id and the register's (queue id, unit)
    constraint keeps it to one registration.
    state: spooling -> spooled -> marked; or skipped (too big, or already ours); or
    unreadable (the server would not give it; tried again) -> spooling, or gone; a
    spooling row whose message left the mailbox before it could be spooled again is
    gone, one whose UIDVALIDITY changed first is superseded (the message is taken again
    under the new one). Only spooled and marked rows stand for a letter taken.
    raw_sha256: of the bytes spooled (a restored mailbox's letter is known by it);
    sender: kept for a message left on the server (too big), for `status`; subject is no
    longer written (such a letter is not read, so it may be ลับ) and stays NULL."""

    __tablename__ = "imap_messages"
    __table_args__ = (Index("ix_imap_message_state", "mailbox", "state"),
                      Index("ix_imap_message_mid", "mailbox", "message_id"),
                      Index("ix_imap_message_sha", "mailbox", "raw_sha256"))

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="spooling")
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)
    raw_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sender: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)

# --- the web desk (gateway/web/): people who sign in, their sessions, and what they
# add to a register entry (notes, assignment to a department). A session is stored by
# the SHA-256 of its cookie value, so a copy of the database does not let anyone take
# over a signed-in clerk's session.


class DeskUser(Base):
    """Someone who signs in to the desk. `role` is clerk | registrar | auditor | admin;
    `units` are the unit addresses (saraban.latkrabang) a clerk or secret registrar
    (นายทะเบียนลับ) keeps. Auditors and administrators are not bound to units."""

    __tablename__ = "desk_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None: directory (LDAP) account
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | ldap
    role: Mapped[str] = mapped_column(String(16))
    units: Mapped[list[Any]] = mapped_column(JSON, default=list)
    disabled: Mapped[bool] = mapped_column(default=False)
    thai_digits: Mapped[bool] = mapped_column(default=False)  # ๑๒๓ instead of 123 in what the desk writes
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class DeskSession(Base):
    __tablename__ = "desk_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(2), default="th")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class LetterNote(Base):
    """A note a person wrote on a register entry (shown on the letter's page)."""

    __tablename__ = "letter_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    who: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)


class LetterAssignment(Base):
    """การปฏิบัติ: the department a letter was passed to; the newest row is the current one."""

    __tablename__ = "letter_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    who: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(300))
