"""Accounts and sessions of the web desk (gateway/web/). Passwords are hashed by the
caller (argon2); this module stores and finds, and counts failed sign-ins so that an
account is locked after too many."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import DeskSession, DeskUser

ROLES = ("clerk", "registrar", "auditor", "admin")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def find_user(session: Session, username: str) -> DeskUser | None:
    return session.scalar(select(DeskUser).where(DeskUser.username == username))


def all_users(session: Session) -> list[DeskUser]:
    return list(session.scalars(select(DeskUser).order_by(DeskUser.username)))


def add_user(session: Session, username: str, role: str, units: list[str], password_hash: str | None,
             display_name: str = "", source: str = "local") -> DeskUser:
    user = DeskUser(username=username, role=role, units=units, password_hash=password_hash,
                    display_name=display_name, source=source, disabled=False, thai_digits=False,
                    failed_logins=0)
    session.add(user)
    session.flush()
    return user


def is_locked(user: DeskUser, now: dt.datetime | None = None) -> bool:
    until = _aware(user.locked_until)
    return until is not None and until > (now or _now())


def record_failed_login(session: Session, user: DeskUser, max_failures: int, lock_for: dt.timedelta) -> bool:
    """Count one failed sign-in; lock the account when the count reaches `max_failures`.
    True when the account is (now) locked."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= max_failures:
        user.locked_until = _now() + lock_for
        user.failed_logins = 0
        return True
    return False


def record_login(session: Session, user: DeskUser) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = _now()


def create_session(session: Session, user: DeskUser, token_sha256: str, csrf: str, lang: str = "th") -> DeskSession:
    row = DeskSession(token_sha256=token_sha256, user_id=user.id, csrf=csrf, lang=lang)
    session.add(row)
    session.flush()
    return row


def find_session(session: Session, token_sha256: str, idle: dt.timedelta,
                 lifetime: dt.timedelta) -> tuple[DeskSession, DeskUser] | None:
    """The live session of that token and its user; an expired one is deleted."""
    row = session.get(DeskSession, token_sha256)
    if row is None:
        return None
    now = _now()
    if now - _aware(row.last_seen_at) > idle or now - _aware(row.created_at) > lifetime:
        session.delete(row)
        return None
    user = session.get(DeskUser, row.user_id)
    if user is None or user.disabled:
        session.delete(row)
        return None
    if now - _aware(row.last_seen_at) > dt.timedelta(minutes=1):  # not one write per page
        row.last_seen_at = now
    return row, user


def end_session(session: Session, token_sha256: str) -> None:
    session.execute(delete(DeskSession).where(DeskSession.token_sha256 == token_sha256))


def end_sessions_of(session: Session, user: DeskUser) -> None:
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))


def user_as_dict(user: DeskUser) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "units": list(user.units or []), "source": user.source, "disabled": user.disabled,
            "thai_digits": user.thai_digits,
            "locked_until": _aware(user.locked_until).isoformat(timespec="seconds") if user.locked_until else None,
            "last_login_at": _aware(user.last_login_at).isoformat(timespec="seconds") if user.last_login_at else None}


def set_session_lang(session: Session, token_sha256: str, lang: str) -> None:
    row = session.get(DeskSession, token_sha256)
    if row is not None:
        row.lang = lang


def set_thai_digits(session: Session, user_id: int, on: bool) -> None:
    user = session.get(DeskUser, user_id)
    if user is not None:
        user.thai_digits = on
