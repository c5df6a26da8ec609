"""Who did what to the register, and why: a row in `operator_actions` (the record the
central unit answers from) and a structlog event (the log the sysadmin reads)."""
from __future__ import annotations

import os
import pwd
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

import structlog

from storage.actions import add_action
from storage.models import OperatorAction

log = structlog.get_logger("gateway.tools")


_acting_as: ContextVar[str | None] = ContextVar("acting_as", default=None)


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Actions taken inside are recorded as this person's (the web desk's signed-in
    clerk, `web:somchai`) instead of the operating-system user's."""
    token = _acting_as.set(name)
    try:
        yield
    finally:
        _acting_as.reset(token)


def who() -> str:
    """The OS user running the command; under sudo, the person behind it too; the
    signed-in person when called from the web desk (acting_as)."""
    if (person := _acting_as.get()) is not None:
        return person
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = f"uid:{os.getuid()}"
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        return f"{sudo_user} (sudo as {user})"
    return user


def record_action(session, action: str, *, reason: str | None = None,
                  queue_id: str | None = None, unit: str | None = None,
                  letter_id: int | None = None, quarantine_id: int | None = None,
                  details: dict[str, Any] | None = None) -> OperatorAction:
    row = add_action(session, who=who(), action=action, reason=reason, queue_id=queue_id, unit=unit,
                     letter_id=letter_id, quarantine_id=quarantine_id, details=details)
    log.info(action, who=row.who, reason=reason, queue_id=queue_id, unit=unit,
             letter_id=letter_id, quarantine_id=quarantine_id, **(details or {}))
    return row


def action_as_dict(row: OperatorAction) -> dict[str, Any]:
    from rules.thai_time import to_bangkok

    return {
        "at": to_bangkok(row.at).isoformat(timespec="seconds"),
        "who": row.who,
        "action": row.action,
        "reason": row.reason,
        "queue_id": row.queue_id,
        "unit": row.unit,
        "details": row.details or {},
    }
