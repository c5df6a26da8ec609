"""Who did what to the register, and why: the `operator_actions` table, the record the
central unit answers from."""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import OperatorAction


def add_action(session: Session, *, who: str, action: str, reason: str | None = None,
               queue_id: str | None = None, unit: str | None = None, letter_id: int | None = None,
               quarantine_id: int | None = None, details: dict[str, Any] | None = None) -> OperatorAction:
    row = OperatorAction(who=who, action=action, reason=reason, queue_id=queue_id, unit=unit,
                         letter_id=letter_id, quarantine_id=quarantine_id, details=details or {})
    session.add(row)
    session.flush()
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


def actions_for_letters(session: Session, letter_ids: list[int]) -> dict[int, list[OperatorAction]]:
    out: dict[int, list[OperatorAction]] = {}
    if letter_ids:
        for act in session.scalars(select(OperatorAction).where(OperatorAction.letter_id.in_(letter_ids))
                                   .order_by(OperatorAction.id)):
            out.setdefault(act.letter_id, []).append(act)
    return out


SKIPPED_NUMBERS = ("numbers_given_before_restore", "numbers_skipped_for_cut_over")


def skipped_numbers(session: Session, unit: str, book: str, year: int) -> list[tuple[int, int, str, str | None]]:
    """(first, last, why, the folder) of each run of numbers the register (unit, book,
    Buddhist-era year) skipped: given before a restore (`raise_counters`), or left to the
    previous system by a cut-over number set after the register began (`allocate_number`)."""
    acts = session.scalars(select(OperatorAction).where(OperatorAction.action.in_(SKIPPED_NUMBERS),
                                                        OperatorAction.unit == unit).order_by(OperatorAction.id))
    runs = []
    for act in acts:
        details = act.details or {}
        if details.get("book") == book and details.get("year") == year:
            runs.append((int(details["first"]), int(details["last"]), act.action, details.get("seen_in")))
    return runs
