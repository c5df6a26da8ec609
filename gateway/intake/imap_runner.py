"""The IMAP intake runner: a process that pulls the `[[imap_intake]]` mailboxes.

One asyncio task per mailbox; each holds the mailbox's lease in the database while it
reads, so two gateways sharing a database never take one letter twice. What it pulls
goes into the same spool as SMTP intake and on through the same pipeline."""
from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import structlog

from gateway.units.directory import load_directory
from gateway.intake.clock_guard import clock_guard, receipt_clock
from gateway.intake.disk_space import storage_guard
from gateway.intake.imap_intake import MailboxConsumer
from gateway.intake.off_loop import OffLoop
from gateway.service.log import setup_logging
from gateway.service.process_util import die_with_parent
from gateway.spool import Spool, follow_queue_ids, open_spool
from storage import lease
from storage.messages import newest_queue_id
from storage.db import Database

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.runner.imap")

STOP_WAIT = 5.0  # seconds a stopping mailbox may take to end its round


def consumers(settings: Settings, db: Database, spool: Spool) -> list[MailboxConsumer]:
    directory = load_directory(settings.directory_path, settings.gateway.domain)
    holder = lease.holder_name(settings.data_dir)
    off_loop = OffLoop()  # one thread for every mailbox of the process: SQLite's one writer
    receipt = receipt_clock(db, "imap", settings.data_dir)  # shared with SMTP: gateway/intake/clock_guard.py
    made = []
    for config in settings.imap_intake:
        if directory.lookup(config.unit) is None:
            log.error("imap_intake_unknown_unit", unit=config.unit, mailbox=config.key,
                      hint="add the unit to the unit directory; this mailbox is not read")
            continue
        made.append(MailboxConsumer(config, db, spool, holder, settings.gateway.domain,
                                    settings.smtp.max_message_size, guard=storage_guard(settings),
                                    off_loop=off_loop, clock=clock_guard(settings, db, config.key, receipt),
                                    receipt=receipt))
    return made


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    db = settings.open_database()
    # Restarted after the register file was moved, it must not make a new one at the path.
    from gateway.service.db_file import pin_runner

    pin_runner(settings, db)
    db.create_schema()
    with db.session() as session:  # its queue ids after every one given before this start
        follow_queue_ids([newest_queue_id(session)])
    try:
        readers = consumers(settings, db, open_spool(settings))
        tasks = [asyncio.create_task(c.run(stop)) for c in readers]
        # With nothing to read, stay up anyway: an exiting runner would be restarted forever.
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ended = [task for task in tasks if task.done()]  # a reader that failed: the runner stops, is restarted
        stop.set()
        # Each mailbox ends its round and lets its lease go; one whose statement waits for
        # a lock another program holds is left to it (what it had not committed is taken
        # again at the next start, exactly once), within the daemon's runner_grace.
        if tasks:
            _, waiting = await asyncio.wait(tasks, timeout=min(STOP_WAIT, settings.service.runner_grace / 2))
            for task in waiting:
                log.warning("imap_intake_stopped_waiting", hint="its database statement was still waiting for a lock")
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in ended:
            task.result()
    finally:
        db.dispose()


def main(settings: Settings) -> None:
    die_with_parent()
    setup_logging(settings.logging.level, settings.logging.format, process="imap-intake")
    log.info("runner_started", mailboxes=len(settings.imap_intake))
    asyncio.run(serve(settings))
    log.info("runner_stopped")
