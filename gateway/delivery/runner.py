"""The delivery runner: works the outbox until every item is done or dead.

Each outbox kind has a handler; a handler must be idempotent (it may run again after a
crash between doing the work and recording it). A failure is retried with exponential
backoff; an item still failing after `delivery.dead_after` seconds is dead, shown in
`status` and retriable from the CLI."""
from __future__ import annotations

import threading
import time
import zlib
from typing import Callable

import structlog
from structlog.contextvars import bound_contextvars

from gateway.config.settings import Settings
from gateway.delivery.errors import PermanentFailure
from gateway.delivery.registrar import deliver_alert, deliver_registrar
from gateway.delivery.route import check_imap_routes, deliver_routed
from gateway.notices.send import close_notice_sessions, send_notice
from gateway.service import metrics
from gateway.service.log import setup_logging
from gateway.service.process_util import StopFlag, die_with_parent
from gateway.service.services import Services, open_services
from gateway.signatures.receive_stamp import close_stampers
from storage import outbox
from storage.errors import is_transient_storage_error
from storage.models import OutboxItem

log = structlog.get_logger("gateway.runner.delivery")

# A handler returns None when its item is done, a function of the finishing transaction
# for bookkeeping of its own (the folder copy's stamped PDF), or outbox.SETTLED when
# it has already recorded how its item ended.
Handler = Callable[[Services, OutboxItem], Callable | str | None]


HANDLERS: dict[str, Handler] = {
    "folder": deliver_routed,  # the one folder copy, by the unit's backend (route.py)
    "registrar": deliver_registrar,  # ลับ/ลับมาก: S/MIME to the secret registrars
    "alert": deliver_alert,
    "notice": send_notice,  # acknowledgements and rejections (gateway/notices/)
}


def work_outbox(services: Services, handlers: dict[str, Handler] | None = None,
                limit: int = 100, stop: StopFlag | None = None, part: tuple[int, int] = (0, 1)) -> int:
    """Work the due items; `part` = (index, count): this thread's share, by the letter's
    queue id, so that no two threads of the runner ever hold the same item, and each
    letter's items (its folder copy, its notice) stay in arrival order on one thread.
    (By item id, the folder copy and the notice of each letter, made one after the
    other, fell to alternate threads: every stamp on one of them.)"""
    handlers = handlers or HANDLERS
    index, count = part
    due = [item_id for item_id, queue_id in outbox.due(services.db, handlers, limit * count,
                                                      retry_max=services.settings.delivery.retry_max)
           if count == 1 or zlib.crc32(queue_id.encode()) % count == index][:limit]
    for item_id in due:
        if stop is not None and stop.stopping:
            break
        with outbox.claimed(services.db, item_id) as mine:  # another gateway on the same database?
            if mine:
                _attempt(services, handlers, item_id, stop)
    return len(due)


def _attempt(services: Services, handlers: dict[str, Handler], item_id: int, stop: StopFlag | None = None) -> None:
    item = outbox.pending_item(services.db, item_id, with_letter=outbox.LETTER_COPIES)
    if item is None:
        return
    # Scoped to this item: the next item's events must not carry this one's unit.
    with bound_contextvars(queue_id=item.queue_id, unit=item.unit, kind=item.kind, outbox_id=item.id):
        try:
            outcome = handlers[item.kind](services, item)
        except Exception as exc:
            delivery = services.settings.delivery
            error = f"{type(exc).__name__}: {str(exc)[:500]}"
            failed = outbox.fail(services.db, item_id, error, dead_after=delivery.dead_after,
                                 retry_base=delivery.retry_base, retry_max=delivery.retry_max,
                                 permanent=isinstance(exc, PermanentFailure))
            if failed.dead:
                log.error("delivery_dead", attempts=failed.attempts, error=error)
                metrics.outbox(failed.kind, "dead")
            elif failed.overdue:  # a copy of the letter, never given up (storage/outbox.py)
                log.error("delivery_overdue", attempts=failed.attempts, retry_in=failed.retry_in, error=error)
                metrics.outbox(failed.kind, "overdue")
            else:
                log.warning("delivery_retry", attempts=failed.attempts, retry_in=failed.retry_in, error=error)
                metrics.outbox(failed.kind, "retry")
            return
        if outcome != outbox.SETTLED:
            _record_done(services, item_id, outcome, stop)
        metrics.outbox(item.kind, "done")


# Seconds between tries to record a finished item while the database is away.
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.5, 30.0


def _record_done(services: Services, item_id: int, outcome: Callable | None, stop: StopFlag | None) -> None:
    """The work is done (the notice accepted by the smarthost, the copy filed): its
    record waits for the database, however long it is away, here in this thread. Left
    pending, the item was done again once the database was back: a PostgreSQL restart
    while a notice was being sent gave the sender two acknowledgements. Only a stop
    (SIGTERM) gives up, as a crash would (the copy is found, a notice may repeat)."""
    delay = RECORD_RETRY_FIRST
    while True:
        try:
            outbox.finish(services.db, item_id, also=outcome)
            return
        except Exception as exc:
            if not is_transient_storage_error(exc) or (stop is not None and stop.stopping):
                raise
            log.warning("outbox_unavailable", done_not_recorded=True, retry_in=delay,
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX)


def main(settings: Settings) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process="delivery")
    stop = StopFlag()
    with open_services(settings, "delivery") as services:
        log.info("runner_started")
        # A route that cannot work is said at start-up, naming unit and folder, rather than
        # found when a letter has waited on it; letters are received either way.
        for problem in check_imap_routes(settings):
            log.error("imap_route_unusable", problem=problem)
        count = settings.delivery.threads
        # Threads, not processes: the heavy part of an item (the receive stamp) runs in
        # each thread's own stamping child; the rest waits on disk and network.
        threads = [threading.Thread(target=_work, args=(services, stop, (i, count)), daemon=True,
                                    name=f"delivery-{i}") for i in range(1, count)]
        for thread in threads:
            thread.start()
        try:
            _work(services, stop, (0, count))
            for thread in threads:
                thread.join()
        finally:
            close_stampers()  # the stamping child goes with the runner (issue 13)
            log.info("runner_stopped")


def _work(services: Services, stop: StopFlag, part: tuple[int, int]) -> None:
    idle = services.settings.pipeline.poll_interval * 2
    try:
        while not stop.stopping:
            try:
                if work_outbox(services, stop=stop, part=part) == 0:
                    close_notice_sessions(idle_only=True)
                    time.sleep(idle)
            except Exception as exc:  # noqa: BLE001 - the database away: wait, never end the thread
                log.warning("outbox_unavailable", error=f"{type(exc).__name__}: {str(exc)[:300]}")
                time.sleep(max(idle, 1.0))
    finally:
        close_notice_sessions()  # this thread's session with the smarthost (notices/send.py)
