"""The notice's part of the outbox. The pipeline queues a record (outbox.queue_once);
here are what the delivery runner decides it with (gateway/notices/decide.py): the
notices still undecided, the decision's transaction, and the counts the rate limits
need: notices that went or will go out in the past hour, by one column set at the
decision (`rate_key`: the address without its +tag; `rate_domain`: its domain; both also
in the payload). Suppressed notices do not count."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from storage.db import Database, as_loaded
from storage.outbox import item_row
from storage.models import OutboxItem

NOTICE = "notice"
COUNTED_STATES = ("pending", "done", "dead", "held")  # notices that went or will go out


_RATE_COLUMNS = {"rate_key": OutboxItem.rate_key, "rate_domain": OutboxItem.rate_domain}


def rate_column_value(field: str, value: str | None) -> str | None:
    """`value` as the rate column `field` holds it: cut to the column's length (a longer
    address would be refused by PostgreSQL, and the decision retried for ever)."""
    return (value or "")[:_RATE_COLUMNS[field].type.length] or None


def notices_in_last_hour(session: Session, field: str, value: str, up_to: int | None = None) -> int:
    """Notices of the past hour whose `field` ("rate_key" or "rate_domain") is `value`,
    counted through that column's index (kind, field, created_at): the matching rows
    only. `up_to`: stop counting there (a limit needs to know only whether it is reached),
    so a domain with thousands of notices an hour costs no more than its limit."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    params = {"value": rate_column_value(field, value), "since": since}
    if up_to is not None:
        params["up_to"] = up_to
    return session.execute(_COUNTS[field, up_to is not None], params).scalar() or 0


def _count(column, limited: bool):  # noqa: ANN001, ANN202
    matching = select(_OUTBOX.c.id).where(
        _OUTBOX.c.kind == NOTICE,
        column == bindparam("value"),
        _OUTBOX.c.created_at >= bindparam("since"),
        _OUTBOX.c.state.in_(COUNTED_STATES),
    )
    if limited:
        matching = matching.limit(bindparam("up_to"))
    return select(func.count()).select_from(matching.subquery())


# Built once (two fields, with and without a limit): each decision counts once or twice.
_OUTBOX = OutboxItem.__table__
_COUNTS = {(field, limited): _count(_OUTBOX.c[field], limited)
           for field in _RATE_COLUMNS for limited in (False, True)}


def _undecided_notice_ids(session: Session, after: int, before: int, undecided_key: str) -> list[int]:
    """Pending notices still carrying the pipeline's record, with after < id < before,
    oldest first: they are decided in arrival order (gateway/notices/decide.py)."""
    stmt = _UNDECIDED.get(undecided_key)
    if stmt is None:
        stmt = _UNDECIDED[undecided_key] = (
            select(_OUTBOX.c.id).where(
                _OUTBOX.c.kind == NOTICE,
                _OUTBOX.c.state == "pending",
                _OUTBOX.c.id > bindparam("after"),
                _OUTBOX.c.id < bindparam("before"),
                _OUTBOX.c.payload[undecided_key].as_string().is_not(None),
            ).order_by(_OUTBOX.c.id))
    return list(session.execute(stmt, {"after": after, "before": before}).scalars())


_UNDECIDED: dict[str, Any] = {}


@dataclass(frozen=True)
class Decided:
    item: OutboxItem | None  # detached, to be sent now; None: suppressed, held or no longer pending
    earlier: list[int] = field(default_factory=list)  # undecided notices to decide first; then this one again


def decide_pending(db: Database, item_id: int, undecided_key: str,
                   decide: Callable[[Session, str, dict[str, Any]], tuple[str, dict[str, Any]]],
                   earlier_after: int | None = None, settled: dict[int, str] | None = None) -> Decided:
    """Turn a queued notice record (its payload holds `undecided_key`) into its
    decision, in one transaction: `decide` gives (state, payload) and may count recent
    notices in `session`.

    With `earlier_after`, the same transaction first looks for notices still undecided
    between that id and this one; if there are any, nothing is decided and they come
    back in `earlier`, to be decided before this one (the usual case finds none, and
    costs no second transaction). `settled` is told the state ("held", "suppressed")
    of a notice decided now not to be sent."""
    with db.session() as session:
        if earlier_after is not None:
            earlier = _undecided_notice_ids(session, earlier_after, item_id, undecided_key)
            if earlier:
                return Decided(None, earlier)
        return Decided(_decide_row(session, item_row(session, item_id), undecided_key, decide, settled))


def decide_pending_up_to(db: Database, item_ids: list[int], undecided_key: str,
                         decide: Callable[[Session, str, dict[str, Any]], tuple[str, dict[str, Any]]],
                         after: int, settled: dict[int, str] | None = None) -> dict[int, OutboxItem | None]:
    """`decide_pending` for a delivery thread's batch of notices, in one transaction:
    every notice still undecided with after < id <= the batch's last is decided in id
    order (the rate limits count them one after the other in the transaction), those
    of other threads among them too, as `decide_pending` decides earlier ones first.
    Returns each of `item_ids`: the item to send now, or None (suppressed, held, or no
    longer pending); `settled` is told the state of each notice decided now not to be
    sent, other threads' among them."""
    wanted = set(item_ids)
    out: dict[int, OutboxItem | None] = {}
    with db.session() as session:
        for item_id in _undecided_notice_ids(session, after, max(wanted) + 1, undecided_key):
            decided = _decide_row(session, item_row(session, item_id), undecided_key, decide, settled)
            if item_id in wanted:
                out[item_id] = decided
        for item_id in wanted - set(out):  # decided already (by another thread, or before a restart)
            out[item_id] = _decide_row(session, item_row(session, item_id), undecided_key, decide, settled)
    return out


def _decide_row(session: Session, row, undecided_key: str,  # noqa: ANN001 - a Row or None
                decide: Callable[[Session, str, dict[str, Any]], tuple[str, dict[str, Any]]],
                settled: dict[int, str] | None = None) -> OutboxItem | None:
    if row is None or row.state != "pending":
        return None
    values = dict(row._mapping)
    if undecided_key in (values["payload"] or {}):
        state, payload = decide(session, values["key"], values["payload"])
        decided = {
            "payload": payload, "state": state,
            "rate_key": rate_column_value("rate_key", payload.get("rate_key")),
            "rate_domain": rate_column_value("rate_domain", payload.get("rate_domain")),
            "last_error": "no smarthost configured" if state == "held" else None,
            # The rate limits count notices by this moment: decided is when it is made.
            "created_at": dt.datetime.now(dt.timezone.utc),
        }
        session.execute(_DECIDE, {"item_id": values["id"], **decided})
        values.update(decided)
        if state != "pending" and settled is not None:
            settled[values["id"]] = state
    if values["state"] != "pending":
        return None
    return as_loaded(OutboxItem, values)


# Built once, not the ORM's get and flush (~2 ms of CPU a notice).
_DECIDE = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("item_id")).values(
    {name: bindparam(name) for name in ("payload", "state", "rate_key", "rate_domain", "last_error", "created_at")})


def hold_notice(db: Database, item_id: int, why: str, reason: str) -> bool:
    """A pending notice that cannot go through this smarthost (a UTF-8 address, a
    smarthost without SMTPUTF8: gateway/notices/send.py) is held, not dropped: `why` is
    its last error for `outbox list` and the desk, `reason` the payload's `held` word.
    `notices release` makes it due again. False if it was no longer pending."""
    with db.session() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.state != "pending":
            return False
        item.state, item.last_error = "held", why
        item.payload = {**(item.payload or {}), "held": reason}
        return True
