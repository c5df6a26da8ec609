"""The delivery runner: works the outbox until every item is done or dead.

Each outbox kind has a handler; a handler must be idempotent (it may run again after a
crash between doing the work and recording it). A failure is retried with exponential
backoff; an item still failing after `delivery.dead_after` seconds is dead, shown in
`status` and retriable from the CLI."""
from __future__ import annotations

import datetime as dt
import time
from typing import Callable

import structlog
from sqlalchemy import select

from gateway.service import metrics
from gateway.config.settings import Settings
from gateway.service.crashpoints import crashpoint
from gateway.delivery.maildir import deliver
from gateway.delivery.registrar import deliver_alert, deliver_registrar
from gateway.delivery.folder_copy import build_folder_copy
from gateway.sender.results import authserv_id
from gateway.service.log import setup_logging
from gateway.delivery.claim import claimed
from gateway.notices.send import send_notice
from gateway.delivery.errors import PermanentFailure
from gateway.service.process_util import StopFlag, die_with_parent
from gateway.service.services import Services, open_services
from gateway.signatures.receive_stamp import close_stampers, signature_headers, stamp_job_for, with_receive_stamp
from storage.models import Letter, OutboxItem

log = structlog.get_logger("gateway.runner.delivery")

Handler = Callable[[Services, OutboxItem], None]


def deliver_folder(services: Services, item: OutboxItem) -> None:
    with services.db.session() as session:
        letter = session.get(Letter, item.letter_id)
        unit = services.directory.lookup(letter.unit)
        folder = unit.folder if unit else letter.unit
        copy = build_folder_copy(
            services.vault.get(letter.raw_sha256),
            receive_no=letter.receive_no,
            unit=letter.unit,
            book=letter.book,
            subject=letter.subject,
            queue_id=letter.queue_id,
            findings=letter.findings,
            review=letter.review,
            extra_headers=signature_headers(letter),
            sender_auth=letter.sender_auth, authserv_id=authserv_id(services.settings),
        )
        stamp_job = stamp_job_for(services.settings, letter, unit, services.vault)
    copy = with_receive_stamp(services.settings, copy, stamp_job)  # ตรารับ: docs/signatures.md
    path = deliver(services.settings.folders_dir, folder, item.queue_id, item.unit or letter.unit, copy)
    crashpoint("after_folder_write")
    log.info("filed", queue_id=item.queue_id, unit=letter.unit, receive_no=letter.receive_no,
             backend="maildir", path=str(path))
    metrics.filed(letter.received_at)


HANDLERS: dict[str, Handler] = {"folder": deliver_folder}
# Classified letters (ลับ/ลับมาก): sealed to the secret registrars; their alerts.
HANDLERS["registrar"] = deliver_registrar
HANDLERS["alert"] = deliver_alert
HANDLERS["notice"] = send_notice  # acknowledgements and rejections (gateway/notices/)


def _deliver_routed(services: Services, item: OutboxItem) -> None:
    from gateway.delivery.route import deliver_routed  # per-unit backend: maildir, imap, smtp

    deliver_routed(services, item)


HANDLERS["folder"] = _deliver_routed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def work_outbox(services: Services, handlers: dict[str, Handler] | None = None,
                limit: int = 100, stop: StopFlag | None = None) -> int:
    handlers = handlers or HANDLERS
    now = _now()
    with services.db.session() as session:
        due = list(
            session.scalars(
                select(OutboxItem.id)
                .where(OutboxItem.state == "pending", OutboxItem.next_attempt_at <= now,
                       OutboxItem.kind.in_(list(handlers)))
                .order_by(OutboxItem.id)
                .limit(limit)
            )
        )
    for item_id in due:
        if stop is not None and stop.stopping:
            break
        with claimed(services.db, item_id) as mine:  # another gateway on the same database?
            if mine:
                _attempt(services, handlers, item_id)
    return len(due)


def _attempt(services: Services, handlers: dict[str, Handler], item_id: int) -> None:
    delivery = services.settings.delivery
    with services.db.session() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.state != "pending":
            return
        session.expunge(item)
    try:
        handlers[item.kind](services, item)
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:500]}"
        with services.db.session() as session:
            row = session.get(OutboxItem, item_id)
            row.attempts += 1
            row.last_error = error
            age = (_now() - _aware(row.created_at)).total_seconds()
            if age >= delivery.dead_after or isinstance(exc, PermanentFailure):
                row.state = "dead"
                log.error("delivery_dead", kind=row.kind, queue_id=row.queue_id, unit=row.unit,
                          attempts=row.attempts, error=error)
                metrics.outbox(row.kind, "dead")
            else:
                delay = min(delivery.retry_base * 2 ** (row.attempts - 1), delivery.retry_max)
                row.next_attempt_at = _now() + dt.timedelta(seconds=delay)
                log.warning("delivery_retry", kind=row.kind, queue_id=row.queue_id, unit=row.unit,
                            attempts=row.attempts, retry_in=delay, error=error)
                metrics.outbox(row.kind, "retry")
        return
    with services.db.session() as session:
        row = session.get(OutboxItem, item_id)
        row.state = "done"
        row.attempts += 1
        row.done_at = _now()
    metrics.outbox(item.kind, "done")


def main(settings: Settings) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process="delivery")
    stop = StopFlag()
    with open_services(settings, "delivery") as services:
        log.info("runner_started")
        try:
            while not stop.stopping:
                if work_outbox(services, stop=stop) == 0:
                    time.sleep(settings.pipeline.poll_interval * 2)
        finally:
            close_stampers()  # the stamping child goes with the runner (issue 13)
            log.info("runner_stopped")
