"""The outbox: what the gateway still owes someone (a folder copy, a registrar copy, a
notice, an alert). Every item is added at most once, keyed by (kind, key), in the
transaction that decided it is owed, so a crash can neither lose it nor make two; the
delivery runner works it until it is done or dead. The delivery runner, its backends
and `saraban-gateway outbox` speak no SQL: these functions do."""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from storage import lease
from storage.db import OUTBOX_CHANGED, Database, as_loaded, dialect_insert
from storage.models import Letter, LetterAttachment, OutboxItem, QuarantineEntry

_NAMESPACE = 0x0B0C  # first key of the two-key advisory lock: "outbox item"
_OUTBOX = OutboxItem.__table__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


_wall = _now  # the wall clock, as the tests step it
_monotonic = time.monotonic
_steady_lock = threading.Lock()
_ahead: float | None = None  # the largest (wall - monotonic) seen by this process, seconds


def _steady() -> dt.datetime:
    """The wall clock as retries are scheduled and found due by: it follows the wall
    clock forward, never back. An item that failed at 10:00 was due again at 10:00:10;
    the clock stepped back half an hour at 10:00:01, and it waited until the wall clock
    said 10:00:10 again, 30 minutes (`due`'s horizon caught only steps longer than
    `retry_max`, an hour; session 38). Counted on the monotonic clock since the step,
    it is due 10 seconds after it failed, as it would have been."""
    global _ahead
    wall, mono = _wall(), _monotonic()
    with _steady_lock:
        offset = wall.timestamp() - mono
        if _ahead is None or offset > _ahead:
            _ahead = offset
            return wall
        if _ahead - offset < 1.0:  # the clocks' drift (NTP slewing), not a step
            return wall
        return dt.datetime.fromtimestamp(mono + _ahead, dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# -- queuing -----------------------------------------------------------------------------


def find_item(session: Session, kind: str, key: str) -> OutboxItem | None:
    return session.scalar(select(OutboxItem).where(OutboxItem.kind == kind, OutboxItem.key == key))


def add_once(session: Session, kind: str, key: str, *, queue_id: str, unit: str | None = None,
             letter_id: int | None = None, payload: dict[str, Any] | None = None) -> tuple[OutboxItem, bool]:
    """`queue_once`, then the row read back: the item (kind, key) and whether this call
    made it."""
    new = queue_once(session, kind, key, queue_id=queue_id, unit=unit, letter_id=letter_id, payload=payload)
    item = find_item(session, kind, key)
    if item is None:  # pragma: no cover - the conflicting row is visible to us
        raise LookupError(f"outbox item {kind}/{key} neither inserted nor found")
    return item, new


def queue_once(session: Session, kind: str, key: str, *, queue_id: str, unit: str | None = None,
               letter_id: int | None = None, payload: dict[str, Any] | None = None) -> bool:
    """Add the item (kind, key) unless it exists, as one INSERT ... ON CONFLICT DO
    NOTHING on the unique key, nothing read back or flushed: how the pipeline owes
    things in its register transaction (folder and registrar copies, notices, alerts).
    A second call with the same key, after a crash or from another gateway on the same
    PostgreSQL, leaves the first row as it is. True if this call added it."""
    session.info[OUTBOX_CHANGED] = True
    dialect = session.get_bind().dialect.name
    statement = _QUEUE_ONCE.get(dialect)
    if statement is None:  # built once a dialect: a cached compiled statement, new parameters
        table = OutboxItem.__table__
        statement = _QUEUE_ONCE[dialect] = (dialect_insert(dialect)(table).on_conflict_do_nothing()
                                            .returning(table.c.id))
    result = session.execute(statement, {
        "kind": kind, "key": key, "queue_id": queue_id, "unit": unit, "letter_id": letter_id,
        "payload": payload or {},  # state, attempts and the times: the columns' defaults
    })
    return result.first() is not None  # RETURNING id: a row only when this call inserted


_QUEUE_ONCE: dict[str, Any] = {}


def add_alert(session: Session, queue_id: str, unit: str, reason: str, to: str, occasion: int = 0,
              **details: Any) -> None:
    """An alert for the unit's secret registrar ("registrar") or the central unit
    ("central"), filed by the delivery runner; it never carries letter content. Once
    per message, unit, reason and `occasion`: the how-manieth event of that kind for the
    message this one is (`alerts_so_far`; a letter parked again after a `reprocess`)."""
    key = f"{reason}:{to}:{queue_id}:{unit}" + (f":{occasion}" if occasion else "")
    if occasion:
        details["occasion"] = occasion  # its file's name too: the first one's is taken
    queue_once(session, "alert", key, queue_id=queue_id, unit=unit, payload={"to": to, "reason": reason, **details})


def alerts_so_far(session: Session, queue_id: str, reason: str) -> int:
    """How many alerts of this reason the message already has (any unit, any recipient)."""
    return session.scalar(select(func.count()).select_from(OutboxItem).where(
        OutboxItem.kind == "alert", OutboxItem.queue_id == queue_id,
        OutboxItem.key.like(f"{reason}:%"))) or 0


def withdraw(session: Session, kind: str, key: str, why: str) -> bool:
    """Take back an item that has not gone out yet (e.g. the rejection notice of a
    letter an operator released). True if it was withdrawn; an item already sent or
    being sent stays as it is."""
    item = find_item(session, kind, key)
    if item is None or item.state not in ("pending", "held"):
        return False
    item.state = "withdrawn"
    item.last_error = why
    return True


def items_for_letter(session: Session, letter_id: int) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.letter_id == letter_id).order_by(OutboxItem.id)))


def folder_items(session: Session, letter_ids: list[int]) -> dict[int, OutboxItem]:
    """The folder copy owed for each of these letters, by letter id."""
    if not letter_ids:
        return {}
    return {item.letter_id: item for item in session.scalars(
        select(OutboxItem).where(OutboxItem.letter_id.in_(letter_ids), OutboxItem.kind == "folder"))}


def release_held_notices(session: Session) -> list[OutboxItem]:
    """Notices held while no smarthost was configured become due now; returns them (the
    ones released, for the register's actions)."""
    session.info[OUTBOX_CHANGED] = True
    released = list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "notice", OutboxItem.state == "held")
                                    .order_by(OutboxItem.id).with_for_update()))
    now = dt.datetime.now(dt.timezone.utc)
    for item in released:
        item.state, item.last_error, item.next_attempt_at = "pending", None, now
    return released


def items_by_id(session: Session, ids: list[int]) -> list[OutboxItem]:
    """These outbox items, in id order (those that exist)."""
    if not ids:
        return []
    return list(session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids)).order_by(OutboxItem.id)))


# -- the delivery runner -----------------------------------------------------------------


def due(db: Database, kinds: Iterable[str], limit: int = 100, retry_max: float = 3600.0) -> list[tuple[int, str]]:
    """(id, queue id) of pending items whose next attempt is due, oldest first: the
    delivery runner's threads share them by the letter's queue id.

    `fail` never schedules an attempt more than `retry_max` ahead, and an item not yet
    tried is due when it is made: an item further ahead, or untried and in the future,
    was scheduled before the system clock stepped back (a wrong clock set right, a VM
    restored from a snapshot). It is due now, not after the step: the letters filed a
    day late after the clock went back a day."""
    now = _steady()
    with db.reading() as conn:
        return [tuple(row) for row in conn.execute(_DUE, {
            "now": now, "horizon": now + dt.timedelta(seconds=retry_max), "kinds": list(kinds), "limit": limit})]


_DUE = (select(_OUTBOX.c.id, _OUTBOX.c.queue_id)
        .where(_OUTBOX.c.state == "pending",
               or_(_OUTBOX.c.next_attempt_at <= bindparam("now"), _OUTBOX.c.attempts == 0,
                   _OUTBOX.c.next_attempt_at > bindparam("horizon")),
               _OUTBOX.c.kind.in_(bindparam("kinds", expanding=True)))
        .order_by(_OUTBOX.c.id)
        .limit(bindparam("limit")))


def next_attempt_in(db: Database, kinds: Iterable[str]) -> float | None:
    """Seconds until the earliest scheduled attempt of a pending item of these kinds
    (0 if one is due already), None if none waits: how long an idle delivery runner
    may nap (gateway/service/doorbell.py)."""
    with db.reading() as conn:
        soonest = conn.execute(_SOONEST, {"kinds": list(kinds)}).scalar()
    if soonest is None:
        return None
    return max(0.0, (_aware(soonest) - _steady()).total_seconds())


_SOONEST = (select(func.min(_OUTBOX.c.next_attempt_at))
            .where(_OUTBOX.c.state == "pending", _OUTBOX.c.kind.in_(bindparam("kinds", expanding=True))))


def letter_objects(db: Database, item_ids: list[int]) -> dict[int, tuple[str, str, dt.datetime]]:
    """(where, name, when it was made) of the stored letter each of `item_ids` reads, for
    the items that read one: a folder copy its raw message in the vault ("vault", its
    sha256), a registrar copy its sealed copy ("sealed", the letter's queue id)."""
    if not item_ids:
        return {}
    with db.reading() as conn:
        rows = conn.execute(_OBJECTS, {"ids": list(item_ids)})
        out = {}
        for item_id, kind, queue_id, payload, created_at in rows:
            made = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.timezone.utc)
            sha = payload.get("raw_sha256") if isinstance(payload, dict) else None
            if sha:
                out[item_id] = ("vault", sha, made)
            elif kind == "registrar" and queue_id:
                out[item_id] = ("sealed", queue_id, made)
        return out


_OBJECTS = select(_OUTBOX.c.id, _OUTBOX.c.kind, _OUTBOX.c.queue_id, _OUTBOX.c.payload, _OUTBOX.c.created_at).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


@contextmanager
def claimed(db: Database, item_id: int) -> Iterator[bool]:
    """Yields True if this process may work the item now, False if another one is on it
    (`claimed_many` of one item)."""
    with claimed_many(db, [item_id]) as mine:
        yield item_id in mine


@contextmanager
def claimed_many(db: Database, item_ids: list[int]) -> Iterator[set[int]]:
    """Yields the ids of the items this process may work now; another one is on the rest.

    Two delivery runners (two daemons on one PostgreSQL) could both see an item pending
    and both deliver it. On PostgreSQL a runner first takes a session-level advisory lock
    on each item, all on one connection held until the items are finished; the locks
    live in the connection, so a runner killed mid-delivery releases them with it and
    the items are retried at once, with no lease to expire. SQLite is one host's file
    and its write lock already serialises everything.
    """
    if db.engine.dialect.name != "postgresql":
        yield set(item_ids)
        return
    conn = db.engine.connect()
    mine: set[int] = set()
    try:
        try:
            for item_id in item_ids:
                if conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                {"ns": _NAMESPACE, "id": item_id}).scalar():
                    mine.add(item_id)
            conn.commit()  # the locks are the session's, not the transaction's: do not sit idle in one
        except BaseException:
            conn.invalidate()  # locks taken before the failure go with the connection
            raise
        try:
            yield mine
        finally:
            if mine:
                try:
                    for item_id in mine:
                        conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": _NAMESPACE, "id": item_id})
                    conn.commit()
                except Exception:
                    # Never hand a connection that may still hold a lock back to the pool.
                    conn.invalidate()
                    raise
    finally:
        conn.close()


def pending_item(db: Database, item_id: int, with_letter: Collection[str] = ()) -> OutboxItem | None:
    """The item, detached, if it is still pending (`pending_items` of one)."""
    return pending_items(db, [item_id], with_letter).get(item_id)


def pending_items(db: Database, item_ids: list[int], with_letter: Collection[str] = ()) -> dict[int, OutboxItem]:
    """The items still pending (another runner may have finished some), detached, by id;
    for the kinds in `with_letter`, `item.letter` is its registered letter with the
    attachments, read in the same transaction.

    A read: on SQLite it takes no write lock (Database.reading), so it never waits for
    a pipeline runner's register transaction. Three statements for the whole batch,
    built once, not the ORM's `get` and `selectinload` (~1.4 ms of CPU an item, for
    rows only read; then ~0.6 ms an item read one by one)."""
    if not item_ids:
        return {}
    with db.reading() as conn:
        items = {row.id: as_loaded(OutboxItem, row) for row in conn.execute(_ITEMS, {"ids": list(item_ids)})
                 if row.state == "pending"}
        letter_ids = {item.letter_id for item in items.values()
                      if item.kind in with_letter and item.letter_id is not None}
        if letter_ids:
            letters = {row.id: as_loaded(Letter, row) for row in conn.execute(_LETTERS, {"ids": list(letter_ids)})}
            attachments: dict[int, list[LetterAttachment]] = {letter_id: [] for letter_id in letters}
            for row in conn.execute(_ATTACHMENTS_OF_MANY, {"ids": list(letters)}):
                attachments[row.letter_id].append(as_loaded(LetterAttachment, row))
            for letter_id, letter in letters.items():
                set_committed_value(letter, "attachments", attachments[letter_id])
            for item in items.values():
                if item.kind in with_letter and item.letter_id in letters:
                    item.letter = letters[item.letter_id]
        return items


def last_item_id(db: Database) -> int:
    """The highest outbox id now (0 when empty): items added later are newer than this."""
    with db.reading() as conn:
        return conn.execute(select(func.max(_OUTBOX.c.id))).scalar() or 0


def item_row(executor, item_id: int):  # noqa: ANN001, ANN201 - a Connection or Session; a Row or None
    """The outbox row `item_id` as it is, by a statement built once (the delivery
    runner's read, the notice's decision)."""
    return executor.execute(_ITEM, {"item_id": item_id}).first()


_ITEM = select(_OUTBOX).where(_OUTBOX.c.id == bindparam("item_id"))
_ITEMS = select(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
_LETTERS = select(Letter.__table__).where(Letter.__table__.c.id.in_(bindparam("ids", expanding=True)))
_ATTACHMENTS_OF_MANY = (select(LetterAttachment.__table__)
                        .where(LetterAttachment.__table__.c.letter_id.in_(bindparam("ids", expanding=True)))
                        .order_by(LetterAttachment.__table__.c.letter_id, LetterAttachment.__table__.c.position))


# What a handler returns when it has already recorded how its item ended: the runner
# then spends no transaction on it. HELD and SUPPRESSED say which state it was left in,
# so that /metrics does not count it as sent; SETTLED, that it was counted where it was
# recorded (a notice decided not to be sent, decided maybe by another thread).
SETTLED = "settled"
HELD = "held"
SUPPRESSED = "suppressed"
SETTLED_STATES = (SETTLED, HELD, SUPPRESSED)


def finish(db: Database, item_id: int, also: Callable[[Session], None] | None = None) -> None:
    """The item is done (`finish_many` of one)."""
    finish_many(db, [(item_id, also)])


def finish_many(db: Database, done: list[tuple[int, Callable[[Session], None] | None]]) -> None:
    """These items are done, in one transaction; each one's `also` (its handler's own
    bookkeeping, e.g. where the stamped copy is kept) is written in it too. An item its
    handler decided not to send (a suppressed or held notice:
    gateway/notices/decide.py) stays as it is. One UPDATE an item from a statement
    built once, nothing read first."""
    if not done:
        return
    with db.session() as session:
        for _item_id, also in done:
            if also is not None:
                also(session)
        now = _now()
        session.execute(_FINISH, [{"item_id": item_id, "done_at": now} for item_id, _also in done])


_FINISH = (update(_OUTBOX)
           .where(_OUTBOX.c.id == bindparam("item_id"),  # not NOT IN: an expanding list cannot be executemany'd
                  _OUTBOX.c.state != "suppressed", _OUTBOX.c.state != "held")
           .values(state="done", attempts=_OUTBOX.c.attempts + 1, done_at=bindparam("done_at")))


@dataclass(frozen=True)
class Failure:
    kind: str
    queue_id: str
    unit: str | None
    attempts: int
    dead: bool
    retry_in: float  # seconds; 0 when dead
    overdue: bool = False  # older than dead_after, kept: a copy of the letter itself


# The letter's own copies (its unit's folder copy, its registrar's S/MIME copy): read
# with their registered letter (`pending_item`), and an acknowledged letter. A failure to make them is never given up by age: a mail server
# down over a long holiday (Songkran, ~5 days) would otherwise leave every letter
# received meanwhile unfiled until someone ran `outbox retry --dead`. Past `dead_after`
# such an item is "overdue" (status, /metrics, `delivery_overdue` in the log) and keeps
# its attempts every `retry_max`; only a permanent failure ends it.
LETTER_COPIES = frozenset({"folder", "registrar"})


def fail(db: Database, item_id: int, error: str, *, dead_after: float, retry_base: float,
         retry_max: float, permanent: bool = False, at_least: float = 0.0) -> Failure:
    """Record a failed attempt: back off exponentially, or dead once the item is older
    than `dead_after` seconds (or the failure is permanent). An item of
    LETTER_COPIES is dead only by a permanent failure; past `dead_after` it is
    overdue and keeps being retried. `at_least`: the next attempt no sooner (an
    earlier attempt's work may still land)."""
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        row.attempts += 1
        row.last_error = error
        age = (_now() - _aware(row.created_at)).total_seconds()
        delay = 0.0
        old = age >= dead_after
        if permanent or (old and row.kind not in LETTER_COPIES):
            row.state = "dead"
        else:
            delay = max(min(retry_base * 2 ** (row.attempts - 1), retry_max), at_least)
            row.next_attempt_at = _steady() + dt.timedelta(seconds=delay)
        return Failure(row.kind, row.queue_id, row.unit, row.attempts, row.state == "dead", delay,
                       overdue=old and row.state != "dead")


def update_payload(db: Database, item_id: int, **changes: Any) -> None:
    """Remember progress inside an item (e.g. the addresses a partial forward reached)."""
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        row.payload = {**(row.payload or {}), **changes}


def forget_finished_claims(db: Database, prefix: str = "outbox:") -> None:
    """Drop claim leases of items that are done (a dead item keeps its claim: it is the
    record that an earlier attempt may have filed it)."""
    with db.session() as session:
        names = [row.mailbox for row in lease.holders(session, prefix)]
        ids = [int(name[len(prefix):]) for name in names if name[len(prefix):].isdigit()]
        done = set(session.scalars(select(OutboxItem.id).where(OutboxItem.id.in_(ids), OutboxItem.state == "done")))
    lease.forget(db, [f"{prefix}{i}" for i in done])


# -- registrar copies of classified letters ------------------------------------------------


def hold_for_registrar(db: Database, letter: Letter, reasons: list[dict],
                       also: Callable[[Session], None] | None = None) -> bool:
    """Quarantine a registered classified letter whose registrar copy cannot be made, and
    in the same transaction do `also(session)` (queue the alert). True when it was held
    just now, False when it already was (nothing is done twice)."""
    with db.session() as session:
        held = session.scalar(select(QuarantineEntry.id).where(
            QuarantineEntry.queue_id == letter.queue_id, QuarantineEntry.unit == letter.unit))
        if held is not None:
            return False
        session.add(QuarantineEntry(queue_id=letter.queue_id, unit=letter.unit, sender=letter.sender,
                                    subject=None, reasons=reasons, raw_sha256=letter.raw_sha256))
        if also is not None:
            also(session)
        return True


def release_registrar_hold(db: Database, queue_id: str, unit: str, rule: str) -> None:
    """The registrar copy went out: the hold that waited for a certificate is over."""
    with db.session() as session:
        for held in session.scalars(select(QuarantineEntry).where(
                QuarantineEntry.queue_id == queue_id, QuarantineEntry.unit == unit,
                QuarantineEntry.state == "held")):
            if any(r.get("rule") == rule for r in held.reasons or []):
                held.state = "released"


# -- `saraban-gateway outbox` and the desk's operations page -------------------------------


def items_in_state(session: Session, state: str | None = None, kind: str | None = None,
                   limit: int | None = None) -> list[OutboxItem]:
    """Outbox items in id order, of one state and kind if given (`outbox list`, the
    desk's operations page)."""
    stmt = select(OutboxItem).order_by(OutboxItem.id).limit(limit)
    if state:
        stmt = stmt.where(OutboxItem.state == state)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    return list(session.scalars(stmt))


# In English and Thai since session 38: the desk's operations page showed them as they
# were, in English, on its Thai page, and `outbox retry` said them so to a Thai clerk.
NO_SUCH_ITEM = "no such outbox item (ไม่พบรายการนี้ กรุณาดูเลขรายการจาก outbox list)"
ALREADY_DONE = "already done (ส่งเรียบร้อยแล้ว ไม่ต้องสั่งซ้ำ)"
# States a person or the gateway decided on, not failures: retried, a held notice failed
# at once towards dead (session 38), a suppressed one (no notice to a sender whose domain
# did not vouch for it, a rate limit, an automatic message) and a withdrawn one (the
# rejection notice of a letter since released) went out. The command line refused only
# held ones; the desk's operations page refused none (until session 52).
NOT_FAILED = {
    "held": "held, not failed: no smarthost is configured, so it cannot be sent; set [notices] smarthost (or "
            "SARABAN_SMARTHOST), then run `saraban-gateway notices release` / "
            "รอผู้ดูแลระบบตั้งค่า smarthost แล้วสั่ง notices release ไม่ต้องสั่งส่งซ้ำ",
    "suppressed": "suppressed, not failed: the gateway decided not to send this notice (the reason is in "
                  "`outbox list`), so it is not sent again / ระบบตัดสินใจไม่ส่งหนังสือแจ้งฉบับนี้ "
                  "(ดูเหตุผลได้จาก outbox list) จึงไม่ส่งซ้ำ",
    "withdrawn": "withdrawn, not failed: taken back before it went out (its letter was released or cancelled), "
                 "so it is not sent again / รายการนี้ถูกถอนก่อนส่งออก (หนังสือได้รับการปล่อยหรือยกเลิกแล้ว) จึงไม่ส่งซ้ำ",
}


def retry_items(session: Session, ids: list[int] | None = None, dead: bool = False) -> tuple[list[int], list[str]]:
    """Make dead (or waiting) items due now; the dead-letter clock starts again from now
    (the first creation time is kept in the payload). Returns the ids retried and one
    sentence per id refused. `outbox retry` and the desk's operations page use it."""
    session.info[OUTBOX_CHANGED] = True
    now = dt.datetime.now(dt.timezone.utc)
    retried: list[int] = []
    refused: list[str] = []
    if dead:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.state == "dead")))
    else:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids or []))))
        missing = set(ids or []) - {item.id for item in items}
        refused += [f"{i}: {NO_SUCH_ITEM}" for i in sorted(missing)]
    for item in items:
        if item.state == "done":
            refused.append(f"{item.id}: {ALREADY_DONE}")
            continue
        if item.state in NOT_FAILED:
            refused.append(f"{item.id}: {NOT_FAILED[item.state]}")
            continue
        item.payload = {**(item.payload or {}), "first_created_at": (item.payload or {}).get(
            "first_created_at", item.created_at.isoformat())}
        item.state, item.next_attempt_at, item.created_at = "pending", now, now
        retried.append(item.id)
    return retried, refused
