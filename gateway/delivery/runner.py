"""The delivery runner: works the outbox until every item is done or dead.

Each outbox kind has a handler; a handler must be idempotent (it may run again after a
crash between doing the work and recording it). A failure is retried with exponential
backoff; an item still failing after `delivery.dead_after` seconds is dead, shown in
`status` and retriable from the CLI."""
from __future__ import annotations

import datetime as dt
import threading
import time
import zlib
from typing import Callable, TYPE_CHECKING

import structlog
from structlog.contextvars import bound_contextvars

from gateway.delivery.errors import PermanentFailure
from gateway.delivery.inflight import KILLS_BEFORE_DEAD, InFlight, RunnerKilled
from gateway.delivery.registrar import deliver_alert, deliver_registrar
from gateway.delivery.route import check_imap_routes, deliver_routed
from gateway.notices.decide import decide_batch
from gateway.notices.send import close_notice_sessions, send_notice
from gateway.secrecy.sealed_store import SealedStore
from gateway.service import db_file, metrics
from gateway.service.crashpoints import crashpoint
from gateway.service.doorbell import DELIVERY_BELL, MAX_NAP, Doorbell
from gateway.service.log import setup_logging
from gateway.service.process_util import StopFlag, die_with_parent
from gateway.service.services import Services, open_services
from gateway.signatures.receive_stamp import close_stampers, stamper_for
from storage import outbox
from storage.errors import is_database_file_moved, is_transient_storage_error
from storage.fsync import DirSyncs, deferred_dir_syncs
from storage.models import OutboxItem

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.runner.delivery")

# A handler returns None when its item is done, a function of the finishing transaction
# for bookkeeping of its own (the folder copy's stamped PDF), or a state when it has
# already recorded how its item ended: HELD, SUPPRESSED (counted here), outbox.SETTLED
# (counted where it was recorded: a notice decided not to be sent, gateway/notices/decide.py).
Handler = Callable[[Services, OutboxItem], Callable | str | None]


HANDLERS: dict[str, Handler] = {
    "folder": deliver_routed,  # the one folder copy, by the unit's backend (route.py)
    "registrar": deliver_registrar,  # ลับ/ลับมาก: S/MIME to the secret registrars
    "alert": deliver_alert,
    "notice": send_notice,  # acknowledgements and rejections (gateway/notices/)
}


# Before a batch's handlers run, a kind's items may be prepared together: notices are
# decided in one transaction (gateway/notices/decide.py), not one each. Keyed by the
# handler, so a test's own handler is given its items as they are.
PREPARE: dict[Handler, Callable[[Services, list[int]], dict[int, OutboxItem | None]]] = {
    send_notice: decide_batch,
}


def work_outbox(services: Services, handlers: dict[str, Handler] | None = None,
                limit: int = 100, stop: StopFlag | None = None, part: tuple[int, int] = (0, 1),
                inflight: InFlight | None = None) -> int:
    """Work the due items; `part` = (index, count): this thread's share, by the letter's
    queue id, so that no two threads of the runner ever hold the same item, and each
    letter's items (its folder copy, its notice) stay in arrival order on one thread.
    (By item id, the folder copy and the notice of each letter, made one after the
    other, fell to alternate threads: every stamp on one of them.)

    Items are worked in batches of `[delivery] batch`, as the pipeline registers
    letters: one read for the batch's items and letters, one transaction deciding its
    notices, one marking the finished ones done. A kill -9 within a batch does again
    what its finished items did (handlers are idempotent: a folder copy is filed once;
    a notice may go twice, with the same Message-ID: docs/notices.md). `inflight`: the
    thread's record of its batch, by which a runner that died on an item works the
    items it died among one at a time (gateway/delivery/inflight.py)."""
    handlers = handlers or HANDLERS
    index, count = part
    # One stat a look: what is due in a moved file is owed by nobody the gateway can see.
    services.db.check_file()
    due = [item_id for item_id, queue_id in outbox.due(services.db, handlers, limit * count,
                                                      retry_max=services.settings.delivery.retry_max)
           if count == 1 or zlib.crc32(queue_id.encode()) % count == index][:limit]
    if services.db.engine.dialect.name == "postgresql":
        due = _ours(services, due)
    size = services.settings.delivery.batch
    if inflight is not None and inflight.suspected(due):
        size = 1  # the runner died among these: one at a time, so that only the killer dies again
    for at in range(0, len(due), size):
        if stop is not None and stop.stopping:
            break
        batch = due[at:at + size]
        if inflight is not None:
            killers = inflight.killers(batch)
            for item_id in killers:
                _record_failure(services, item_id, RunnerKilled(
                    f"the delivery runner died each of the {KILLS_BEFORE_DEAD} times it worked this item"))
            inflight.end(killers)
            batch = [item_id for item_id in batch if item_id not in killers]
            inflight.start(batch)
        with outbox.claimed_many(services.db, batch) as mine:  # another gateway on the same database?
            _work_batch(services, handlers, [item_id for item_id in batch if item_id in mine], stop)
        if inflight is not None:
            inflight.end(batch)
    return len(due)


# How long a letter copy whose letter is in another gateway's data directory is left to that gateway.
FOREIGN_GRACE = dt.timedelta(minutes=10)


def _ours(services: Services, item_ids: list[int]) -> list[int]:
    """The items this gateway can work. Two gateways on one PostgreSQL share the register
    and the outbox but each keeps its own vault: a folder copy of a letter the other one
    received is the other's to file. Taken here, it failed (the letter's bytes are not in
    this vault), counted an attempt and backed off, and a busy gateway, which takes the
    oldest items first and holds a batch's claims until the batch ends, took it again
    each time it was due: the copy bounced between failures for minutes (session 17's full
    run). Left alone, it is filed by the gateway that has it. One no gateway has for
    FOREIGN_GRACE (a vault lost) is worked, and fails where `status` shows it.

    The same for a classified letter's registrar copy, sealed in the data directory of
    the gateway that received it: taken by the other one (session 20), it failed there,
    was put in quarantine as undeliverable and the central unit was alerted that it was
    "kept encrypted in quarantine", though its own gateway filed it a moment later."""
    objects = outbox.letter_objects(services.db, item_ids)
    if not objects:
        return item_ids
    now = dt.datetime.now(dt.timezone.utc)
    sealed = SealedStore(services.settings.data_dir)

    def here(where: str, name: str) -> bool:
        return services.vault.has(name) if where == "vault" else sealed.has(name, "raw")

    return [item_id for item_id in item_ids
            if item_id not in objects or now - objects[item_id][2] > FOREIGN_GRACE
            or here(*objects[item_id][:2])]


def _work_batch(services: Services, handlers: dict[str, Handler], item_ids: list[int],
                stop: StopFlag | None) -> None:
    items = outbox.pending_items(services.db, item_ids, with_letter=outbox.LETTER_COPIES)
    prepared: dict[int, OutboxItem | None] = {}
    for handler, prepare in PREPARE.items():
        ids = [i for i, item in items.items() if handlers.get(item.kind) is handler]
        if ids:
            prepared |= prepare(services, ids)
    done: list[tuple[OutboxItem, Callable | None]] = []
    syncs = None
    try:
        # The folder copies' and stamped PDFs' directories are synced once for the batch,
        # before the transaction that marks the batch done (each file before its rename).
        with deferred_dir_syncs() as syncs:
            _run_handlers(services, handlers, item_ids, items, prepared, done, stop, syncs)
    finally:
        if syncs is not None and syncs.done:
            # An item whose directory could not be synced is a failed attempt of its
            # own (recorded after the others, whose notices must not go again).
            _finish(services, [(item, also) for item, also in done if item.id not in syncs.failed], stop)
            for item, _also in done:
                if item.id in syncs.failed:
                    with bound_contextvars(queue_id=item.queue_id, unit=item.unit, kind=item.kind,
                                           outbox_id=item.id):
                        _record_failure(services, item.id, syncs.failed[item.id])


def _run_handlers(services: Services, handlers: dict[str, Handler], item_ids: list[int],
                  items: dict[int, OutboxItem], prepared: dict[int, OutboxItem | None],
                  done: list[tuple[OutboxItem, Callable | None]], stop: StopFlag | None,
                  syncs: DirSyncs) -> None:
    for item_id in item_ids:
        if stop is not None and stop.stopping:
            break
        item = items.get(item_id)
        if item is None:
            continue  # finished meanwhile by another runner
        if item_id in prepared:
            item = prepared[item_id]
            if item is None:  # settled in its preparation (a suppressed or held notice), counted there
                continue
        syncs.owner = item.id  # the directories its handler writes in are its own to sync
        outcome = _attempt(services, handlers, item)
        if isinstance(outcome, str) and outcome in outbox.SETTLED_STATES:  # the handler recorded how it ended
            if outcome != outbox.SETTLED:  # SETTLED: counted where it was recorded
                metrics.outbox(item.kind, outcome)
        elif outcome is not _FAILED:
            done.append((item, outcome))


_FAILED = object()  # what _attempt returns for an item whose failure it recorded


# Seconds between tries to record a finished batch while the database is away.
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.5, 30.0


def _finish(services: Services, done: list[tuple[OutboxItem, Callable | None]], stop: StopFlag | None) -> None:
    """Mark the batch's finished items done in one transaction.

    The work is done (the notices accepted by the smarthost, the copies filed): while
    the database is away, the record waits here, in this thread, however long. Left
    pending, the items were done again once it was back: a PostgreSQL restart while a
    notice was being sent gave the sender two acknowledgements. Only a stop (SIGTERM)
    gives up, as a crash would (the copy is found, a notice may repeat).

    Any other failure (an item's own bookkeeping refused): each alone, and one whose
    bookkeeping is refused again is a failed attempt (backed off, its reason in `outbox
    list`), so it neither holds up the others nor comes back at once, forever."""
    delay = RECORD_RETRY_FIRST
    while True:
        try:
            # Marked done in a file no longer at the path, the work is forgotten with it: the
            # record waits here until the file is back (or the stop), as for a database away.
            services.db.check_file()
            outbox.finish_many(services.db, [(item.id, also) for item, also in done])
            crashpoint("after_batch_done")
            break
        except Exception as exc:
            if not is_transient_storage_error(exc):
                _finish_one_by_one(services, done)
                return
            if stop is not None and stop.stopping:
                raise
            log.warning("outbox_unavailable", done_not_recorded=len(done), retry_in=delay,
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX)
    for item, _also in done:
        metrics.outbox(item.kind, "done")


def _finish_one_by_one(services: Services, done: list[tuple[OutboxItem, Callable | None]]) -> None:
    log.warning("batch_finish_failed", items=len(done))
    for item, also in done:
        with bound_contextvars(queue_id=item.queue_id, unit=item.unit, kind=item.kind, outbox_id=item.id):
            try:
                outbox.finish(services.db, item.id, also=also)
            except Exception as exc:
                _record_failure(services, item.id, exc)
                continue
        metrics.outbox(item.kind, "done")


def _record_failure(services: Services, item_id: int, exc: Exception) -> None:
    delivery = services.settings.delivery
    error = f"{type(exc).__name__}: {str(exc)[:500]}"
    failed = outbox.fail(services.db, item_id, error, dead_after=delivery.dead_after,
                         retry_base=delivery.retry_base, retry_max=delivery.retry_max,
                         permanent=isinstance(exc, PermanentFailure), at_least=getattr(exc, "retry_after", 0.0))
    if failed.dead:
        log.error("delivery_dead", attempts=failed.attempts, error=error)
        metrics.outbox(failed.kind, "dead")
    elif failed.overdue:  # a copy of the letter, never given up (storage/outbox.py)
        log.error("delivery_overdue", attempts=failed.attempts, retry_in=failed.retry_in, error=error)
        metrics.outbox(failed.kind, "overdue")
    else:
        log.warning("delivery_retry", attempts=failed.attempts, retry_in=failed.retry_in, error=error)
        metrics.outbox(failed.kind, "retry")


def _attempt(services: Services, handlers: dict[str, Handler], item: OutboxItem):
    """Run the item's handler: its outcome (for the batch's finishing transaction), or
    _FAILED once its failure is recorded."""
    # Scoped to this item: the next item's events must not carry this one's unit.
    with bound_contextvars(queue_id=item.queue_id, unit=item.unit, kind=item.kind, outbox_id=item.id):
        try:
            return handlers[item.kind](services, item)
        except Exception as exc:
            _record_failure(services, item.id, exc)
            return _FAILED


def _warm_stamping_child(settings: Settings) -> None:
    """The stamping child started with the runner, not with the first letter."""
    try:
        stamper_for(settings).warm()
    except Exception:  # noqa: BLE001 - no seal, no font: each letter's stamp says so (stamp_unavailable)
        pass


def main(settings: Settings) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process="delivery")
    stop = StopFlag()
    with open_services(settings, "delivery") as services:
        db_file.pin_runner(settings, services.db)
        log.info("runner_started")
        # A route that cannot work is said at start-up, naming unit and folder, rather than
        # found when a letter has waited on it; letters are received either way. Beside
        # the filing, not before it: a stuck IMAP server held every unit's copies, the
        # Maildir ones too, for the check's timeouts (session 17).
        threading.Thread(target=_say_unusable_routes, args=(settings,), daemon=True,
                         name="imap-route-check").start()
        if settings.signatures.stamp:
            _warm_stamping_child(settings)
        count = settings.delivery.threads
        # Threads, not processes: the heavy part of an item (the receive stamp) runs in a
        # stamping child the threads share (another only while one is held up: receive_stamp.py
        # StampingChildren); the rest waits on disk and network.
        bell = Doorbell(settings.data_dir, DELIVERY_BELL)
        stop.also.append(bell.wake)
        threads = [threading.Thread(target=_work, args=(services, stop, (i, count), bell), daemon=True,
                                    name=f"delivery-{i}") for i in range(1, count)]
        for thread in threads:
            thread.start()
        try:
            _work(services, stop, (0, count), bell)
            for thread in threads:
                thread.join()
        finally:
            bell.close()
            close_stampers()  # the stamping child goes with the runner (issue 13)
            log.info("runner_stopped")


def _say_unusable_routes(settings: Settings) -> None:
    for problem in check_imap_routes(settings):
        log.error("imap_route_unusable", problem=problem)


MOVED_NAP_MAX = 5.0  # seconds between looks at a moved database file


def _wait_for_database_file(services: Services, stop: StopFlag, moved: Exception) -> None:
    """Until the database file the daemon started with is back at its path (or the stop):
    said once, one stat a nap, nothing written meanwhile."""
    log.warning("outbox_waits_for_database_file", path=services.db.file, detail=str(moved)[:600])
    nap = 0.2
    while not stop.stopping and services.db.file_moved() is not None:
        time.sleep(nap)
        nap = min(nap * 2, MOVED_NAP_MAX)


def _work(services: Services, stop: StopFlag, part: tuple[int, int], bell: Doorbell) -> None:
    """Work due items until stopped; with none due, nap until rung (an item made), the
    next scheduled attempt, or a nap that doubles from `idle` to MAX_NAP."""
    idle = services.settings.pipeline.poll_interval * 2
    inflight = InFlight(services.settings.data_dir / f"delivery-{part[0]}.inflight")
    nap = idle
    try:
        while not stop.stopping:
            seen = bell.rings
            try:
                if work_outbox(services, stop=stop, part=part, inflight=inflight) > 0:
                    nap = idle
                    continue
                close_notice_sessions(idle_only=True)
                nap = min(nap * 2, MAX_NAP)
                ahead = outbox.next_attempt_in(services.db, HANDLERS)
                bell.nap(seen, nap if not ahead else min(nap, ahead), floor=idle)
            except Exception as exc:  # noqa: BLE001 - the database away: wait, never end the thread
                if is_database_file_moved(exc):
                    _wait_for_database_file(services, stop, exc)
                    continue
                log.warning("outbox_unavailable", error=f"{type(exc).__name__}: {str(exc)[:300]}")
                time.sleep(max(idle, 1.0))
    finally:
        close_notice_sessions()  # this thread's session with the smarthost (notices/send.py)
