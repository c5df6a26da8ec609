"""Accounts and sessions of the web desk (gateway/web/). Passwords are hashed by the
caller (argon2); this module stores and finds, and counts failed sign-ins so that an
account is locked after too many."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, or_, select, update
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


# The lock-out counts with statements that read and write the count in the database
# (failed_logins = failed_logins + 1), never a value read earlier in Python: on
# PostgreSQL sign-ins run side by side, and 18 parallel wrong passwords counted as 2.

def claim_attempt(session: Session, user_id: int, max_failures: int, lock_for: dt.timedelta) -> bool:
    """Count a sign-in attempt *before* its password is checked; True when it may be
    checked. False when the account is locked, or when this attempt is past
    `max_failures` attempts without a success (wrong ones, or ones still being checked
    alongside): then the account is locked here. So at most `max_failures` passwords
    are ever checked per lock period, however many arrive at once. The caller commits
    at once (the row stays locked on PostgreSQL until then) and checks the password
    outside the transaction; a success resets the count (record_login)."""
    now = _now()
    counted = session.execute(
        update(DeskUser)
        .where(DeskUser.id == user_id, or_(DeskUser.locked_until.is_(None), DeskUser.locked_until <= now))
        .values(failed_logins=func.coalesce(DeskUser.failed_logins, 0) + 1)
        .execution_options(synchronize_session=False))
    if counted.rowcount == 0:
        return False  # locked
    attempts = session.scalar(select(DeskUser.failed_logins).where(DeskUser.id == user_id))
    if attempts <= max_failures:
        return True
    session.execute(update(DeskUser).where(DeskUser.id == user_id)
                    .values(locked_until=now + lock_for, failed_logins=0)
                    .execution_options(synchronize_session=False))
    return False


def release_attempt(session: Session, user_id: int) -> None:
    """Take back an attempt counted by claim_attempt whose password was never checked
    (the directory could not be asked): an outage is nobody's wrong password."""
    session.execute(update(DeskUser)
                    .where(DeskUser.id == user_id, DeskUser.failed_logins > 0)
                    .values(failed_logins=DeskUser.failed_logins - 1)
                    .execution_options(synchronize_session=False))


def record_failed_login(session: Session, user_id: int, max_failures: int, lock_for: dt.timedelta) -> bool:
    """The checked password was wrong (its attempt already counted by claim_attempt):
    lock the account when the count has reached `max_failures`, and start counting
    again. True when this locked it."""
    locked = session.execute(
        update(DeskUser)
        .where(DeskUser.id == user_id, DeskUser.failed_logins >= max_failures)
        .values(locked_until=_now() + lock_for, failed_logins=0)
        .execution_options(synchronize_session=False))
    return locked.rowcount > 0


def record_login(session: Session, user: DeskUser) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = _now()


def create_session(session: Session, user: DeskUser, token_sha256: str, csrf: str, lang: str = "th",
                   idle: dt.timedelta | None = None, lifetime: dt.timedelta | None = None) -> DeskSession:
    """A new session row; with `idle`/`lifetime`, the sessions already expired (of
    anyone: a clerk who closes the browser never signs out) are deleted first, so the
    table holds the live ones, not every sign-in since the desk was installed."""
    if idle is not None and lifetime is not None:
        now = _now()
        session.execute(delete(DeskSession).where(or_(DeskSession.last_seen_at < now - idle,
                                                      DeskSession.created_at < now - lifetime)))
    row = DeskSession(token_sha256=token_sha256, user_id=user.id, csrf=csrf, lang=lang)
    session.add(row)
    session.flush()
    return row


def look_up_session(session: Session, token_sha256: str, idle: dt.timedelta,
                    lifetime: dt.timedelta) -> tuple[DeskSession | None, DeskUser | None, str | None]:
    """(session row, user, what to write) for that token, writing nothing: "end" (it
    expired, or its user is gone or disabled: row and user are None), "touch" (its
    last_seen_at is a minute old), None."""
    row = session.get(DeskSession, token_sha256)
    if row is None:
        return None, None, None
    now = _now()
    if now - _aware(row.last_seen_at) > idle or now - _aware(row.created_at) > lifetime:
        return None, None, "end"
    user = session.get(DeskUser, row.user_id)
    if user is None or user.disabled:
        return None, None, "end"
    return row, user, "touch" if now - _aware(row.last_seen_at) > dt.timedelta(minutes=1) else None


def find_session(session: Session, token_sha256: str, idle: dt.timedelta,
                 lifetime: dt.timedelta) -> tuple[DeskSession, DeskUser] | None:
    """The live session of that token and its user; an expired one is deleted."""
    row, user, write = look_up_session(session, token_sha256, idle, lifetime)
    if write == "end":
        session.execute(delete(DeskSession).where(DeskSession.token_sha256 == token_sha256))
    elif write == "touch":  # not one write per page
        row.last_seen_at = _now()
    return None if row is None else (row, user)


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
