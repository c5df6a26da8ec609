"""Spool entries through check -> dispose (per recipient unit), idempotently, a few at a
time.

Each step is keyed so that running it again after a crash, at any point, ends in the
same state: the message row by queue id, a registration by (queue id, unit), a
quarantine entry by (queue id, unit), vault objects by hash. The spool file is removed
last, once the database says the message is finished.

Group commit (issue 16; Postfix's queue manager and Dovecot's `mail_fsync = optimized`
are the models): `process_batch` takes up to `[pipeline] batch` entries and writes the
register for all of them in one transaction, where one letter at a time paid three
commits (each a synchronous fsync of the SQLite WAL). Exactly-once does not rest on
the batch: a crash before its commit leaves every letter of it unregistered and still
in the spool; a crash after leaves every one registered, and the next run only removes
their spool files. If the batch's transaction fails, each letter is disposed alone, so
one bad letter costs the others nothing but a second try.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Callable

import structlog

from gateway.pipeline import classified as secret
from gateway.pipeline.check import Checked, check_entry, with_sender_verdict
from gateway.pipeline.dispose import dispose, outcome_text, recipient_for
from gateway.service.log import failure
from gateway.sender.results import SenderAuth
from gateway.service.crashpoints import crashpoint, stallpoint
from gateway.service.services import Services
from gateway.spool import SpoolEntry
from storage.fsync import fsync_dir
from storage.messages import FINISHED, finish_message, open_messages
from storage.register import lock_units

log = structlog.get_logger("gateway.pipeline.process")

OnError = Callable[[str, Exception], None]


@dataclass
class _Letter:
    """One spool entry on its way through a batch."""

    entry: SpoolEntry
    auth: SenderAuth | None = None
    checked: Checked | None = None
    first_attempt: bool = False  # its message row was made by this batch
    final: str = ""
    outcome: dict[str, str] = field(default_factory=dict)

    @property
    def queue_id(self) -> str:
        return self.entry.queue_id


def process_entry(services: Services, queue_id: str) -> str:
    """Process one spool entry alone; return the message's final state ("waiting" when
    its sender's DNS has not answered yet). Errors propagate to the caller."""
    errors: dict[str, Exception] = {}
    states = process_batch(services, [queue_id], lambda qid, exc: errors.setdefault(qid, exc))
    if queue_id in errors:
        raise errors[queue_id]
    return states.get(queue_id, "waiting")


def process_batch(services: Services, queue_ids: list[str], on_error: OnError,
                  before_register: Callable[[], None] | None = None,
                  failed_here: Collection[str] = ()) -> dict[str, str]:
    """Process several spool entries with one transaction for their register entries.

    A letter that fails is handed to `on_error` (the runner's back-off and attempt
    count) and does not stop the others. `before_register`: called once the batch is
    checked, before its register transaction (the runner's turn among several:
    gateway/pipeline/register_order.py). `failed_here`: letters this runner saw fail
    (its back-off), whatever the database kept: no run died on them. Returns queue id
    -> final state for the letters that finished."""
    letters = _read(services, queue_ids, on_error)
    if not letters:
        return {}
    try:
        # One stat a batch: the register file moved or replaced while the daemon runs
        # takes what the connections write into a file nobody opens again (session 37).
        services.db.check_file()
        states = _open_messages(services, letters, failed_here)
    except Exception as exc:  # the database refused the batch: every letter waits
        for letter in letters:
            on_error(letter.queue_id, exc)
        return {}
    finished: dict[str, str] = {}
    fresh: list[_Letter] = []
    # Not opened: the batch was cut to its first letter after a runner died (open_messages);
    # the others are the next batch's, neither failed nor finished.
    letters = [letter for letter in letters if letter.queue_id in states]
    for letter in letters:
        if states[letter.queue_id] in FINISHED:  # an earlier run registered it
            finished[letter.queue_id] = states[letter.queue_id]
        elif states[letter.queue_id] == "died":
            # Opened `max_attempts` times alone and never finished: it takes the runner
            # down each time. Parked (held in quarantine, the central unit alerted) by
            # the runner's count of failures, as a letter that fails with an exception.
            on_error(letter.queue_id, RunnerKilled())
        elif states[letter.queue_id] == "failed":
            # Parked, and held in quarantine with an alert sent, by a run killed before it
            # moved the file (gateway/pipeline/runner.py): parked as decided. Running it
            # again could register it beside its quarantine entry, or hold it twice.
            secret.park(services, letter.queue_id)
            log.warning("message_parked_after_restart", queue_id=letter.queue_id)
        else:
            letter.first_attempt = states[letter.queue_id] == "new"
            fresh.append(letter)
    crashpoint("after_spool_read")
    stallpoint("after_spool_read")
    # The batch's vault objects become durable with one syncfs, before the transaction
    # that registers them (16 files: ~4 ms, against ~130 ms for their fsyncs one by one
    # on this project's busy machine).
    with services.vault.deferred_sync():
        checked = _check(services, fresh, on_error)
    crashpoint("after_vault")
    if checked:
        if before_register is not None:
            before_register()
        try:
            services.db.check_file()  # checking may have taken seconds: looked at again
            _dispose_together(services, checked)
        except Exception as exc:  # noqa: BLE001 - rolled back whole; each letter alone now
            if len(checked) == 1:
                on_error(checked[0].queue_id, exc)
                checked = []
            else:
                log.warning("batch_rolled_back", letters=len(checked), error=failure(exc))
                checked = _dispose_alone(services, checked, on_error)
        crashpoint("after_register")
    finished.update({letter.queue_id: letter.final for letter in checked})
    moved = services.db.file_moved()
    if moved is not None and finished:
        # Moved while this batch registered: its entries may be in the file that went.
        # The spool files stay: put back, that file says finished and they are removed;
        # never put back, the letters are registered in the file the gateway uses then.
        for queue_id in finished:
            on_error(queue_id, moved)
        return {}
    crashpoint("before_spool_remove")
    _finish_spool(services, finished)
    for letter in checked:
        log.info("message_finished", queue_id=letter.queue_id, state=letter.final, outcome=letter.outcome,
                 pdfs_read_at_data=letter.checked.pdfs_read_at_data,
                 parsed_at_data=letter.checked.parsed_at_data)
    return finished


def _read(services: Services, queue_ids: list[str], on_error: OnError) -> list[_Letter]:
    letters = []
    for queue_id in queue_ids:
        with structlog.contextvars.bound_contextvars(queue_id=queue_id):
            try:
                entry = services.spool.read(queue_id)
                auth = None
                if services.sender is not None:  # who really sent it (gateway/sender/)
                    auth = services.sender.settle(entry)
                    if auth is None:  # DNS did not answer: the letter waits in the spool
                        continue
            except FileNotFoundError:
                continue  # another runner or an earlier run finished it
            except Exception as exc:  # noqa: BLE001 - this letter's problem, not the batch's
                on_error(queue_id, exc)
                continue
        letters.append(_Letter(entry, auth))
    return letters


class RunnerKilled(Exception):
    """The runner died each time it processed this letter (killed with it: its memory
    past the machine's, a crash in a library); the reason a parked letter shows."""


def _open_messages(services: Services, letters: list[_Letter], failed_here: Collection[str] = ()) -> dict[str, str]:
    """Record each message (first time) or count another attempt (after a crash), in
    one transaction committed before any checking: a letter that crashes the runner
    has its attempts counted, is tried alone, and is parked after `max_attempts`
    (storage/messages.open_messages)."""
    with services.db.session() as session:
        return open_messages(session, [
            {"queue_id": letter.queue_id, "received_at": letter.entry.received_at,
             "mail_from": letter.entry.mail_from, "recipients": letter.entry.rcpt_to,
             "size": letter.entry.size, "sha256": letter.entry.sha256}
            for letter in letters
        ], max_attempts=services.settings.pipeline.max_attempts, failed_here=failed_here)


def _check(services: Services, letters: list[_Letter], on_error: OnError) -> list[_Letter]:
    checked = []
    for letter in letters:
        with structlog.contextvars.bound_contextvars(queue_id=letter.queue_id):
            try:
                letter.checked = check_entry(services, letter.entry)
            except Exception as exc:  # noqa: BLE001 - this letter's problem, not the batch's
                on_error(letter.queue_id, exc)
                continue
        if letter.auth is not None:
            with_sender_verdict(letter.checked, letter.auth, services.settings.sender)
        checked.append(letter)
    return checked


def _lock_units(services: Services, session, letters: list[_Letter]) -> None:
    """All the units these letters go to, at once and in order (storage/register.py
    `lock_units`): another gateway's transaction never holds one of them while waiting
    for another this one holds."""
    lock_units(session, [recipient_for(services, letter.entry, letter.checked, rcpt).unit_name
                         for letter in letters for rcpt in letter.entry.rcpt_to])


def _dispose_together(services: Services, letters: list[_Letter]) -> None:
    with services.db.session() as session:
        _lock_units(services, session, letters)
        for letter in letters:
            _dispose_letter(services, session, letter)


def _dispose_alone(services: Services, letters: list[_Letter], on_error: OnError) -> list[_Letter]:
    done = []
    for letter in letters:
        try:
            with services.db.session() as session:
                _lock_units(services, session, [letter])
                _dispose_letter(services, session, letter)
        except Exception as exc:  # noqa: BLE001
            on_error(letter.queue_id, exc)
            continue
        done.append(letter)
    return done


def _dispose_letter(services: Services, session, letter: _Letter) -> None:
    """Every recipient unit's disposition and the message's final state, in the
    caller's transaction."""
    entry, checked = letter.entry, letter.checked
    outcome: dict[str, str] = {}
    with structlog.contextvars.bound_contextvars(queue_id=entry.queue_id):
        for rcpt in entry.rcpt_to:
            recipient = recipient_for(services, entry, checked, rcpt, first_attempt=letter.first_attempt)
            with structlog.contextvars.bound_contextvars(unit=recipient.unit_name):
                disposition, registered = dispose(services, session, recipient)
            outcome[rcpt] = outcome_text(disposition, registered)
        final = "done" if any(o.startswith(("registered", "duplicate")) for o in outcome.values()) else "quarantined"
        finish_message(session, entry.queue_id, final, outcome,
                       sender_auth=letter.auth.as_dict() if letter.auth is not None else None)
    letter.final, letter.outcome = final, outcome


def _finish_spool(services: Services, finished: dict[str, str]) -> None:
    """Remove (or shred) the spool files of finished letters, with one directory fsync
    for all: a removal that a crash undoes only makes the next run see a finished
    message and remove it again."""
    for queue_id in finished:
        secret.finish_spool(services, queue_id, sync=False)
    if finished:
        fsync_dir(services.spool.new)
