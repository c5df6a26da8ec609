"""One spool entry through check -> dispose (per recipient unit), idempotently.

Each step is keyed so that running the whole function again after a crash, at any
point, ends in the same state: the message row by queue id, a registration by
(queue id, unit), a quarantine entry by (queue id, unit), vault objects by hash.
The spool file is removed last, once the database says the message is finished.
"""
from __future__ import annotations

import hashlib

import structlog

from gateway.pipeline import classified as secret
from gateway.pipeline.check import check_entry, with_sender_verdict
from gateway.pipeline.dispose import dispose, outcome_text, recipient_for
from gateway.service.crashpoints import crashpoint
from gateway.service.services import Services
from gateway.spool import SpoolEntry
from storage.messages import FINISHED, finish_message, open_message

log = structlog.get_logger("gateway.pipeline.process")


def process_entry(services: Services, queue_id: str) -> str:
    """Process one spool entry; return the message's final state."""
    entry = services.spool.read(queue_id)
    with structlog.contextvars.bound_contextvars(queue_id=queue_id):
        auth = None
        if services.sender is not None:  # who really sent it (gateway/sender/)
            auth = services.sender.settle(entry)
            if auth is None:  # DNS did not answer: the letter waits in the spool
                return "waiting"
        state = _open_message(services, entry)
        if state in FINISHED:
            secret.finish_spool(services, queue_id)
            return state
        crashpoint("after_spool_read")
        checked = check_entry(services, entry)
        if auth is not None:
            with_sender_verdict(checked, auth, services.settings.sender)
        crashpoint("after_vault")
        outcome: dict[str, str] = {}
        for rcpt in entry.rcpt_to:
            recipient = recipient_for(services, entry, checked, rcpt)
            with structlog.contextvars.bound_contextvars(unit=recipient.unit_name):
                with services.db.session() as session:
                    disposition, letter = dispose(services, session, recipient)
                outcome[rcpt] = outcome_text(disposition, letter)
            crashpoint("after_register")
        final = "done" if any(o.startswith(("registered", "duplicate")) for o in outcome.values()) else "quarantined"
        with services.db.session() as session:
            finish_message(session, queue_id, final, outcome,
                           sender_auth=auth.as_dict() if auth is not None else None)
        crashpoint("before_spool_remove")
        secret.finish_spool(services, queue_id)
        log.info("message_finished", state=final, outcome=outcome)
        return final


def _open_message(services: Services, entry: SpoolEntry) -> str:
    """Record the message (first time) or count another attempt (after a crash)."""
    with services.db.session() as session:
        return open_message(session, queue_id=entry.queue_id, received_at=entry.received_at,
                            mail_from=entry.mail_from, recipients=entry.rcpt_to, size=entry.size,
                            sha256=hashlib.sha256(entry.raw).hexdigest())
