"""The pipeline runner: a process that drains the spool in arrival order.

With several runners, each takes the entries whose queue id falls in its partition, so
no two runners ever work on the same entry; the database constraints would keep the
register right even if they did."""
from __future__ import annotations

import time
import zlib

import structlog

from gateway.config.settings import Settings
from gateway.service.log import setup_logging
from gateway.pipeline.process import process_entry
from gateway.service.process_util import StopFlag, die_with_parent
from gateway.service.services import Services, open_services
from storage.messages import record_failure

log = structlog.get_logger("gateway.runner.pipeline")


def partition(queue_id: str, count: int) -> int:
    return zlib.crc32(queue_id.encode()) % count


def run_once(services: Services, index: int = 0, count: int = 1, stop: StopFlag | None = None) -> int:
    """Process every pending entry of this partition; return how many were handled."""
    handled = 0
    for queue_id in services.spool.pending():
        if stop is not None and stop.stopping:
            break
        if count > 1 and partition(queue_id, count) != index:
            continue
        if services.sender is not None and services.sender.deferred(queue_id):
            continue  # waiting for DNS to answer about its sender (gateway/sender/check.py)
        process_safely(services, queue_id)
        handled += 1
    return handled


def process_safely(services: Services, queue_id: str) -> None:
    try:
        process_entry(services, queue_id)
    except FileNotFoundError:
        pass  # another runner or an earlier run finished it
    except Exception as exc:
        log.exception("process_failed", queue_id=queue_id, error=f"{type(exc).__name__}: {exc}")
        _count_failure(services, queue_id, exc)


def _count_failure(services: Services, queue_id: str, exc: Exception) -> None:
    """Remember the error; a message that keeps failing is parked, not retried forever."""
    try:
        with services.db.session() as session:
            message = record_failure(session, queue_id, f"{type(exc).__name__}: {exc}",
                                     services.settings.pipeline.max_attempts)
            parked = message is not None and message.state == "failed"
            if parked:
                log.error("message_parked", queue_id=queue_id, attempts=message.attempts, reason=message.reason)
        if parked:
            services.spool.park(queue_id)
    except Exception as inner:
        log.error("failure_not_recorded", queue_id=queue_id, error=str(inner))
    time.sleep(min(5.0, services.settings.pipeline.poll_interval * 20))


def main(settings: Settings, index: int, count: int) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process=f"pipeline-{index}")
    stop = StopFlag()
    with open_services(settings, "pipeline") as services:
        log.info("runner_started", index=index, count=count)
        try:
            while not stop.stopping:
                if run_once(services, index, count, stop) == 0:
                    time.sleep(settings.pipeline.poll_interval)
        finally:
            log.info("runner_stopped", index=index)
