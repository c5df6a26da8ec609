"""One row per accepted message (its spool entry): opened when the pipeline first sees
it, counted on every further attempt, finished once every recipient unit is decided."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from storage.errors import is_transient_reason
from storage.models import Message
from storage.text import fit

FINISHED = ("done", "quarantined")


def get_message(session: Session, queue_id: str) -> Message | None:
    return session.get(Message, queue_id)


def open_messages(session: Session, arrivals: list[dict[str, Any]],
                  max_attempts: int | None = None, failed_here: Collection[str] = ()) -> dict[str, str]:
    """Record each message the first time; after a crash count another attempt. Each
    dict holds queue_id, received_at, mail_from, recipients, size and sha256. Returns
    queue id -> state: `new` when this call recorded it (nothing of it can be
    registered or held yet), `processing` on a later attempt, or a finished state when
    an earlier run completed it.

    With `max_attempts` (the pipeline runner's batches): a batch holding a message an
    earlier run opened and left with no failure recorded (that run died on it, or
    beside it: a letter that kills the runner, its memory past the machine's, dies
    every time) opens only its first arrival, and the others are not in the result
    (the next batch's): the letter that took a runner down takes only itself down
    again, and is the only one counted for it. Such a message opened `max_attempts`
    times (twice at least) is `died`: to be parked. A failure recorded (the runner's
    back-off, a storage wait) is no death: its batch is whole; nor is one the caller
    saw and could not record (`failed_here`: the database went away meanwhile).

    One SELECT for the batch and one INSERT (executemany) for the new rows: a
    `session.get` per message flushed the row before it and loaded a whole Message
    (~1 ms of CPU a letter)."""
    found = {queue_id: (state, attempts, silent) for queue_id, state, attempts, silent in session.execute(
        _STATES, {"ids": [a["queue_id"] for a in arrivals]})}
    died_on = {queue_id for queue_id, (state, _attempts, silent) in found.items()
               if state == "processing" and silent and queue_id not in failed_here}
    if max_attempts is not None and len(arrivals) > 1 and died_on:
        arrivals = arrivals[:1]
    states = {queue_id: state for queue_id, (state, _attempts, _silent) in found.items()}
    new: list[dict[str, Any]] = []
    again: list[dict[str, str]] = []
    result: dict[str, str] = {}
    for a in arrivals:
        queue_id = a["queue_id"]
        state = states.get(queue_id)
        if state is None:
            # mail_from: an IMAP letter's is its Return-Path or From, the sender's words.
            new.append({"queue_id": queue_id, "received_at": a["received_at"],
                        "mail_from": fit(_MESSAGES.c.mail_from, a["mail_from"]),
                        "recipients": a["recipients"], "size": a["size"], "sha256": a["sha256"],
                        "message_id": None, "state": "processing", "outcome": {}, "reason": None,
                        "attempts": 1})
            states[queue_id] = "processing"  # the same entry twice: the second is another attempt
            result[queue_id] = "new"
            continue
        if state == "processing":
            again.append({"m_queue_id": queue_id})
            # At least once alone before it is parked: the batch it first died in
            # counted every letter of it.
            if max_attempts is not None and queue_id in died_on and found[queue_id][1] >= max(max_attempts, 2):
                state = "died"
        result[queue_id] = state
    if new:
        session.execute(insert(_MESSAGES), new)
    if again:
        session.execute(_COUNT_ATTEMPT, again)
    return result


def finish_message(session: Session, queue_id: str, state: str, outcome: dict[str, str],
                   sender_auth: dict[str, Any] | None = None) -> None:
    # One UPDATE, no read first: the row exists (open_messages made it earlier).
    values: dict[str, Any] = {"m_queue_id": queue_id, "state": state, "outcome": outcome}
    if sender_auth is None:
        session.execute(_FINISH, values)
    else:  # kept so that a letter released later keeps its verdict
        session.execute(_FINISH_WITH_AUTH, {**values, "sender_auth": sender_auth})


# On the table, not the mapped class, and built once: an ORM-enabled UPDATE takes the
# ORM's bulk-update path (~0.7 ms of CPU a letter) to keep loaded Message objects in
# step, and the transactions that finish a message have none loaded. (updated_at's
# onupdate is the column's, so the table's UPDATE sets it too.)
_MESSAGES = Message.__table__
_FINISH = (update(_MESSAGES).where(_MESSAGES.c.queue_id == bindparam("m_queue_id"))
           .values(state=bindparam("state"), outcome=bindparam("outcome"), reason=None))
_FINISH_WITH_AUTH = _FINISH.values(sender_auth=bindparam("sender_auth"))
_STATES = select(_MESSAGES.c.queue_id, _MESSAGES.c.state, _MESSAGES.c.attempts, _MESSAGES.c.reason.is_(None)).where(
    _MESSAGES.c.queue_id.in_(bindparam("ids", expanding=True)))
# The reason goes with the attempt that failed: one found unset at the next open is an
# attempt that ended with nothing recorded (the runner died: open_messages).
_COUNT_ATTEMPT = (update(_MESSAGES).where(_MESSAGES.c.queue_id == bindparam("m_queue_id"))
                  .values(attempts=_MESSAGES.c.attempts + 1, reason=None))


# The spool's own queue ids: 16 hex digits of nanoseconds and 8 random ones (gateway/spool.py);
# the paper emergency register's (`emg` + 29) and any other form are not the clock's.
QUEUE_ID_LENGTH = 24
_NEWEST_QUEUE_ID = (select(_MESSAGES.c.queue_id).where(func.length(_MESSAGES.c.queue_id) == QUEUE_ID_LENGTH)
                    .order_by(_MESSAGES.c.queue_id.desc()).limit(1))


def newest_queue_id(session: Session) -> str | None:
    """The highest spool queue id any message was recorded under (one step down the
    primary key's index), or None."""
    return session.execute(_NEWEST_QUEUE_ID).scalar()


def forgive_daemon_death(session: Session, queue_ids: Collection[str]) -> int:
    """The daemon starts after its last run ended with these letters open (kill -9 of
    the whole daemon, a power cut, the supervisor's crash): that run's attempt was not
    the letter's doing, so it does not count towards parking. Only `queue_ids`, this
    gateway's own spool: another gateway sharing the database may be working its own
    letters now. The attempt still counts as one nothing was recorded for, so the
    letter is opened alone first, as after a runner's death. Returns how many."""
    ids, forgiven = list(queue_ids), 0
    for start in range(0, len(ids), 500):  # a spool of 100,000 after an outage: SQLite's variable limit
        forgiven += session.execute(
            update(_MESSAGES).where(_MESSAGES.c.queue_id.in_(ids[start:start + 500]),
                                    _MESSAGES.c.state == "processing", _MESSAGES.c.reason.is_(None),
                                    _MESSAGES.c.attempts > 0)
            .values(attempts=_MESSAGES.c.attempts - 1)).rowcount
    return forgiven


def record_failure(session: Session, queue_id: str, reason: str, max_attempts: int) -> Message | None:
    """Remember why an attempt failed; a message that keeps failing becomes `failed`
    (parked) instead of being retried forever. Returns the row, or None if unknown."""
    message = session.get(Message, queue_id)
    if message is None:
        return None
    message.reason = reason[:500]
    if message.attempts >= max_attempts:
        message.state = "failed"
    return message


def record_storage_wait(session: Session, queue_id: str, reason: str) -> None:
    """A try that failed on storage (a full disk, an I/O error): the reason is shown,
    the attempt does not count towards parking (storage/errors.py)."""
    message = session.get(Message, queue_id)
    if message is not None:
        message.reason = reason[:500]
        message.attempts = max(0, message.attempts - 1)


def return_parked_for_storage(session: Session, queue_id: str) -> bool:
    """A parked message whose last failure was storage's goes back to `processing` with
    a full set of attempts; True if it did (the caller moves its spool file back)."""
    message = session.get(Message, queue_id)
    if message is None or message.state != "failed" or not is_transient_reason(message.reason):
        return False
    start_over(message)
    return True


def count_attempt(session: Session, queue_id: str, reason: str) -> None:
    message = session.get(Message, queue_id)
    if message is not None:
        message.attempts += 1
        message.reason = reason[:500]


def start_over(message: Message) -> None:
    """A message sent through the pipeline again (`reprocess`): a full set of attempts."""
    message.state = "processing"
    message.attempts = 0
    message.reason = None


def set_outcome(message: Message, unit: str, outcome: str) -> None:
    """Record one unit's outcome under the recipient address it was sent to."""
    outcomes: dict[str, Any] = dict(message.outcome or {})
    keys = [k for k in outcomes if k.split("@", 1)[0].lower() == unit] or [
        r for r in (message.recipients or []) if r.split("@", 1)[0].lower() == unit] or [unit]
    for key in keys:
        outcomes[key] = outcome
    message.outcome = outcomes  # a new dict, so the JSON column is written
    if any(str(v).startswith(("registered", "duplicate")) for v in outcomes.values()):
        message.state = "done"


def record_imported(session: Session, *, queue_id: str, received_at: dt.datetime, address: str,
                    size: int, sha256: str) -> Message:
    """The message row of a letter that did not come by mail (the paper emergency
    register): finished from the start, so the pipeline never looks for it."""
    message = session.get(Message, queue_id)
    if message is None:
        message = Message(queue_id=queue_id, received_at=received_at, mail_from=address, recipients=[address],
                          size=size, sha256=sha256, state="done", attempts=1, outcome={})
        session.add(message)
        session.flush()
    return message
