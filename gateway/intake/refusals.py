"""Refusals at the end of DATA that must be recorded and counted (ลับที่สุด, top secret).

The record is the minimum the issue allows: reason, sender, time, Message-ID and peer —
nothing of the content. It is written off the SMTP event loop, in a thread of its own:
on the loop's shared pool, a database another program held locked kept each record's
thread waiting, and the pool's few threads are the ones that commit an accepted letter
to the spool before its 250 (session 18). A failure to record never changes the 550 the
sender already got."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import structlog
from storage.db import Database
from storage.intake import record_refusal

log = structlog.get_logger("gateway.intake.refusals")

RECORDED = ("top_secret", "dmarc_reject")  # dmarc_reject: [sender] reject_at_data


class RefusalRecorder:
    """`IntakeHandler.on_refused` callback: `recorder(reason, info)`."""

    def __init__(self, open_database: Callable[[], Database]):
        self.open_database = open_database
        self._db: Database | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="refusals")

    def __call__(self, reason: str, info: dict) -> None:
        if reason not in RECORDED:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.record(reason, info)
            return
        loop.run_in_executor(self._thread, self.record, reason, dict(info))

    def record(self, reason: str, info: dict) -> None:
        try:
            if self._db is None:
                self._db = self.open_database()
            with self._db.session() as session:
                record_refusal(session, reason=reason, mail_from=str(info.get("mail_from") or ""),
                               message_id=info.get("message_id") or None, peer=info.get("peer"))
        except Exception as exc:
            log.error("refusal_not_recorded", reason=reason, error=f"{type(exc).__name__}: {exc}")
