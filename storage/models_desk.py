"""Tables of the central unit's web desk (gateway/web/): people who sign in, their
sessions, and what they add to a register entry (notes, assignment to a department).

A session is stored by the SHA-256 of its cookie value, so a copy of the database does
not let anyone take over a signed-in clerk's session."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, _utcnow


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
