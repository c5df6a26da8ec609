"""The pipeline runner: a process that drains the spool in arrival order.

With several runners, each claims a block of the oldest entries no other runner holds,
checks it while the others check theirs, and registers it in the order the blocks were
claimed (gateway/pipeline/register_order.py), so receive numbers follow the order of
arrival; the database constraints would keep the register right even if two runners
took the same entry."""
from __future__ import annotations

import os
import time
import zlib
from typing import TYPE_CHECKING

import structlog

from gateway.pipeline import classified as secret
from gateway.service.doorbell import MAX_NAP, Doorbell, pipeline_bell
from gateway.service.log import failure, failure_trace, setup_logging
from gateway.pipeline.process import process_batch
from gateway.pipeline.register_order import RegisterOrder
from gateway.service.crashpoints import crashpoint
from gateway.service.numbering import wait_until_open
from gateway.service.process_util import StopFlag, die_with_parent
from gateway.service.services import Services, open_services
from gateway.service import db_file, metrics
from storage.errors import is_database_file_moved, is_transient_storage_error
from storage.messages import record_failure, record_storage_wait, return_parked_for_storage
from storage.outbox import add_alert, alerts_so_far
from storage.quarantine import hold_again

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.runner.pipeline")


def partition(queue_id: str, count: int) -> int:
    return zlib.crc32(queue_id.encode()) % count


# queue id -> (failures so far, monotonic time before which it is not tried again).
# In memory on purpose: it is what a failure that cannot even be written to the
# database (the message row insert itself, a full disk) still counts.
_backoff: dict[str, tuple[int, float]] = {}
BACKOFF_MAX = 300.0
UNPARK_INTERVAL = 30.0


def run_once(services: Services, index: int = 0, count: int = 1, stop: StopFlag | None = None,
             order: RegisterOrder | None = None) -> int:
    """Process every pending entry, `[pipeline] batch` at a time (one register
    transaction per batch: gateway/pipeline/process.py); return how many were handled.
    With `order` (several runners), blocks claimed in arrival order, registered in turn."""
    if order is not None:
        return _run_claimed(services, order, stop)
    handled = 0
    now = time.monotonic()
    batch: list[str] = []
    size = services.settings.pipeline.batch
    for queue_id in services.spool.pending():
        if stop is not None and stop.stopping:
            break
        if count > 1 and partition(queue_id, count) != index:
            continue
        if _backoff.get(queue_id, (0, 0.0))[1] > now:
            continue
        if services.sender is not None and services.sender.deferred(queue_id):
            continue  # waiting for DNS to answer about its sender (gateway/sender/check.py)
        batch.append(queue_id)
        if len(batch) >= size:
            handled += _run_batch(services, batch)
            batch = []
    if batch and not (stop is not None and stop.stopping):
        handled += _run_batch(services, batch)
    return handled


def _run_claimed(services: Services, order: RegisterOrder, stop: StopFlag | None) -> int:
    handled = 0
    size = services.settings.pipeline.batch

    def eligible(queue_id: str) -> bool:
        if _backoff.get(queue_id, (0, 0.0))[1] > time.monotonic():
            return False
        # waiting for DNS to answer about its sender (gateway/sender/check.py)
        return services.sender is None or not services.sender.deferred(queue_id)

    while not (stop is not None and stop.stopping):
        block = order.claim(services.spool.pending(), size, eligible)
        if not block:
            break
        try:
            handled += _run_batch(services, block, before_register=order.wait_turn)
        finally:
            order.release()
    return handled


def _run_batch(services: Services, batch: list[str], before_register=None) -> int:  # noqa: ANN001
    failed: set[str] = set()

    def on_error(queue_id: str, exc: Exception) -> None:
        failed.add(queue_id)
        _failed(services, queue_id, exc)

    try:
        process_batch(services, batch, on_error, before_register, failed_here=_backoff.keys())
    except Exception as exc:  # noqa: BLE001 - a fault outside any one letter: each waits
        for queue_id in batch:
            if queue_id not in failed:
                _failed(services, queue_id, exc)
        return len(batch)
    for queue_id in batch:
        if queue_id not in failed:
            _backoff.pop(queue_id, None)
    return len(batch)


def process_safely(services: Services, queue_id: str) -> None:
    """One entry alone (`reprocess`, tests); failures are counted as in a batch."""
    _run_batch(services, [queue_id])


def _failed(services: Services, queue_id: str, exc: Exception) -> None:
    failures = _backoff.get(queue_id, (0, 0.0))[0] + 1
    delay = min(BACKOFF_MAX, services.settings.pipeline.poll_interval * 2 ** failures)
    _backoff[queue_id] = (failures, time.monotonic() + delay)
    transient = is_transient_storage_error(exc)
    if is_database_file_moved(exc):
        # Said once by the supervisor (database_file_moved) and by this runner's wait;
        # nothing is written: the only file at hand is the one that went.
        metrics.rejected("pipeline", "storage_unavailable")
        return
    with structlog.contextvars.bound_contextvars(queue_id=queue_id):
        if transient:
            # The machine's condition, not the letter's: wait, say so, never park.
            log.warning("storage_unavailable", retry_in=round(delay, 1),
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")
            metrics.rejected("pipeline", "storage_unavailable")
        elif failures <= 3 or failures % 10 == 0:  # a traceback now and then, not every retry
            # Where, not what: the exception's words may quote the letter (log.failure).
            log.error("process_failed", attempt=failures, error=failure(exc), trace=failure_trace(exc))
        else:
            log.error("process_failed", attempt=failures, retry_in=round(delay, 1), error=failure(exc))
    _count_failure(services, queue_id, exc, transient)


def _count_failure(services: Services, queue_id: str, exc: Exception, transient: bool = False) -> None:
    """Remember the error; a message that keeps failing is parked, not retried forever
    (unless storage is at fault: then it waits, however long, see _backoff)."""
    try:
        with services.db.session() as session:
            if transient:
                record_storage_wait(session, queue_id, f"{type(exc).__name__}: {exc}")
                return
            message = record_failure(session, queue_id, failure(exc), services.settings.pipeline.max_attempts)
            parked = message is not None and message.state == "failed"
            if parked:
                attempts, reason = message.attempts, message.reason
                _tell_central_unit(session, message)
        if parked:
            # Said once it is committed: a database that cannot take the commit (a full
            # disk) had the log say parked, each try, of a letter still waiting.
            log.error("message_parked", queue_id=queue_id, attempts=attempts, reason=reason)
            crashpoint("after_park_recorded")
            secret.park(services, queue_id)  # sealed: nothing parked in plaintext
            # Out of the spool, it is tried no more; sent back (`reprocess`, the desk's
            # ตรวจซ้ำ) once the fault is mended, it is tried at once, as a new letter.
            # Kept, its back-off had it wait up to BACKOFF_MAX (the fifth failure's
            # 2^5 polls and more) before the first try after the mend.
            _backoff.pop(queue_id, None)
    except Exception as inner:
        log.error("failure_not_recorded", queue_id=queue_id, error=str(inner))


def _tell_central_unit(session, message) -> None:  # noqa: ANN001 - a storage.models.Message
    """The sender already had a 250: a parked letter is held in quarantine (กักกัน) for
    each unit still owed it, where the desk and `quarantine list` show it with a retry,
    and the central unit gets an alert. In the transaction that parks it, so both come
    exactly once, also after kill -9. Nothing of the letter is read (it may be ลับ and
    it could not be read): the envelope sender, the failure's type and place
    (messages.reason, gateway/service/log.py failure), no subject, no notice to the
    sender (docs/operations.md "Parked letters")."""
    done = {rcpt for rcpt, outcome in (message.outcome or {}).items()
            if str(outcome).startswith(("registered", "duplicate"))}
    units = list(dict.fromkeys(rcpt.split("@", 1)[0].lower() for rcpt in message.recipients or []
                               if rcpt not in done))
    reasons = parked_reasons(message.queue_id, message.attempts, message.reason or "")
    for unit in units:
        hold_again(session, queue_id=message.queue_id, unit=unit, sender=message.mail_from, reasons=reasons)
    if units:
        # Each parking is told: parked again after a `reprocess`, the letter is held again
        # and the central unit must know (the key was per message, so it heard once).
        add_alert(session, message.queue_id, units[0], "parked", "central",
                  occasion=alerts_so_far(session, message.queue_id, "parked"),
                  units=", ".join(units), attempts=message.attempts, problem=message.reason or "")


def parked_reasons(queue_id: str, attempts: int, where: str) -> list[dict[str, object]]:
    """The quarantine reason of a parked letter, in Thai and English: the fault is the
    gateway's, so it says what to do, not what is wrong with the letter."""
    th = (f"ระบบตรวจหนังสือฉบับนี้ไม่สำเร็จ {attempts} ครั้ง จึงพักไว้โดยเข้ารหัส ยังไม่ได้ลงทะเบียน "
          f"เหตุขัดข้องอยู่ที่ระบบ ไม่ใช่ที่ผู้ส่ง ({where}) กรุณาแจ้งผู้ดูแลระบบ "
          "เมื่อแก้ไขแล้วกด \"ตรวจซ้ำ\"")
    en = (f"The gateway failed {attempts} times to process this letter and parked it, sealed; it is not "
          f"registered. The fault is the gateway's, not the sender's ({where}). Tell the administrator; "
          f"once it is fixed, reprocess it (saraban-gateway reprocess {queue_id}).")
    return [{"rule": "parked", "verdict": "fail", "message_th": th, "message_en": en,
             "message": f"{th} / {en}", "attachment": None}]


def retry_parked_for_storage(services: Services) -> int:
    """Letters parked because storage failed (before transient errors waited, or by an
    older version) go back to the spool once the data directory has room again."""
    returned = 0
    for queue_id in services.spool.parked():
        path = services.spool.failed / f"{queue_id}.msg"
        try:
            stat = os.statvfs(services.spool.root)
            if stat.f_bavail * stat.f_frsize < 4 * path.stat().st_size + (1 << 20):
                continue  # still no room for it in the vault and the folder
            with services.db.session() as session:
                if not return_parked_for_storage(session, queue_id):
                    continue
                secret.unpark(services, queue_id)  # opens it if it was parked sealed
        except OSError as exc:
            log.warning("unpark_failed", queue_id=queue_id, error=str(exc))
            continue
        log.info("message_unparked", queue_id=queue_id, reason="storage available again")
        returned += 1
    return returned


def rest_after_an_empty_look(spool, bell: Doorbell, seen: int, nap: float, poll: float) -> float:
    """Wait after a look at the spool that took nothing; return the next nap's length.

    Nothing in the spool: nap until a letter is announced (its writer rings after `seen`),
    longer each time up to MAX_NAP. Letters waiting that the look could not take (another
    runner's claim, a back-off, their sender's DNS): a whole poll after the look, rung or
    not. Under a backlog every arrival rings and the other runner takes it; waking for it
    only repeated the look (session 22: ~2 ms of CPU a 200 KiB letter, when this wait was
    a nap on the bell whose floor ran from the last nap, not from the look)."""
    if spool.depth() == 0:
        nap = min(nap * 2, MAX_NAP)
        bell.nap(seen, nap, floor=poll)
        return nap
    time.sleep(poll)
    return poll


MOVED_NAP_MAX = 5.0  # seconds between looks at a moved database file: back within that once put back


def wait_for_database_file(services: Services, stop: StopFlag, poll: float) -> bool:
    """While the database file is not the one the daemon started with (moved, deleted,
    replaced: storage/db.py `file_moved`), wait with every letter left in the spool,
    one stat a nap; True once it is back, False if stopped first."""
    moved = services.db.file_moved()
    if moved is None:
        return True
    log.warning("register_waits_for_database_file", path=services.db.file, detail=str(moved))
    nap = poll
    while not stop.stopping:
        time.sleep(nap)
        if services.db.file_moved() is None:
            log.info("register_goes_on", path=services.db.file)
            _backoff.clear()  # the letters that met it are not to blame: taken at once
            return True
        nap = min(nap * 2, MOVED_NAP_MAX)
    return False


def main(settings: Settings, index: int, count: int) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process=f"pipeline-{index}")
    stop = StopFlag()
    with open_services(settings, "pipeline") as services:
        db_file.pin_runner(settings, services.db)
        log.info("runner_started", index=index, count=count)
        order = RegisterOrder(services.spool.root) if count > 1 else None
        last_unpark = 0.0
        poll = settings.pipeline.poll_interval
        bell = Doorbell(settings.data_dir, pipeline_bell(index))
        stop.also.append(bell.wake)
        nap = poll
        try:
            wait_until_open(settings, lambda: stop.stopping, poll)
            while not stop.stopping:
                seen = bell.rings
                if not wait_for_database_file(services, stop, poll):
                    break
                if index == 0 and time.monotonic() - last_unpark >= UNPARK_INTERVAL:
                    last_unpark = time.monotonic()
                    try:
                        retry_parked_for_storage(services)
                    except Exception as exc:  # noqa: BLE001 - the database may be the one that is full
                        log.warning("unpark_failed", error=f"{type(exc).__name__}: {exc}")
                if run_once(services, index, count, stop, order) > 0:
                    nap = poll
                    continue
                nap = rest_after_an_empty_look(services.spool, bell, seen, nap, poll)
        finally:
            bell.close()
            log.info("runner_stopped", index=index)
