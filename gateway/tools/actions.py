"""Who did what to the register, and why: a row in `operator_actions` (the record the
central unit answers from) and a structlog event (the log the sysadmin reads)."""
from __future__ import annotations

import os
import pwd
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import OperatorAction

log = structlog.get_logger("gateway.tools")


def who() -> str:
    """The OS user running the command; under sudo, the person behind it too."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = f"uid:{os.getuid()}"
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        return f"{sudo_user} (sudo as {user})"
    return user


def record_action(session: Session, action: str, *, reason: str | None = None,
                  queue_id: str | None = None, unit: str | None = None,
                  letter_id: int | None = None, quarantine_id: int | None = None,
                  details: dict[str, Any] | None = None) -> OperatorAction:
    row = OperatorAction(who=who(), action=action, reason=reason, queue_id=queue_id, unit=unit,
                         letter_id=letter_id, quarantine_id=quarantine_id, details=details or {})
    session.add(row)
    session.flush()
    log.info(action, who=row.who, reason=reason, queue_id=queue_id, unit=unit,
             letter_id=letter_id, quarantine_id=quarantine_id, **(details or {}))
    return row


def actions_for(session: Session, *, letter_id: int | None = None, queue_id: str | None = None,
                quarantine_id: int | None = None) -> list[OperatorAction]:
    conditions = []
    if letter_id is not None:
        conditions.append(OperatorAction.letter_id == letter_id)
    if queue_id is not None:
        conditions.append(OperatorAction.queue_id == queue_id)
    if quarantine_id is not None:
        conditions.append(OperatorAction.quarantine_id == quarantine_id)
    if not conditions:
        return []
    return list(session.scalars(select(OperatorAction).where(or_(*conditions)).order_by(OperatorAction.id)))


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
