"""Refusals at the end of DATA that must be recorded and counted (ลับที่สุด, top secret).

The record is the minimum the issue allows: reason, sender, time, Message-ID and peer —
nothing of the content. It is written off the SMTP event loop (a thread), and a failure
to record never changes the 550 the sender already got."""
from __future__ import annotations

import asyncio

import structlog
from storage.db import Database
from storage.intake import record_refusal

log = structlog.get_logger("gateway.intake.refusals")

RECORDED = ("top_secret", "dmarc_reject")  # dmarc_reject: [sender] reject_at_data


class RefusalRecorder:
    """`IntakeHandler.on_refused` callback: `recorder(reason, info)`."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._db: Database | None = None

    def __call__(self, reason: str, info: dict) -> None:
        if reason not in RECORDED:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.record(reason, info)
            return
        loop.run_in_executor(None, self.record, reason, dict(info))

    def record(self, reason: str, info: dict) -> None:
        try:
            if self._db is None:
                self._db = Database(self.database_url)
            with self._db.session() as session:
                record_refusal(session, reason=reason, mail_from=str(info.get("mail_from") or ""),
                               message_id=info.get("message_id") or None, peer=info.get("peer"))
        except Exception as exc:
            log.error("refusal_not_recorded", reason=reason, error=f"{type(exc).__name__}: {exc}")
