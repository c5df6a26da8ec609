"""Closed SMTP sessions are let go of: the drain bookkeeping (gateway/intake/smtp_drain.py)
must not keep every connection of a busy day in the supervisor's memory."""
from __future__ import annotations

import asyncio
import gc
import smtplib

from aiosmtpd.smtp import SMTP

from gateway.intake.smtp_drain import SessionTracker


class _Handler:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        return "250 OK"


def test_closed_sessions_are_not_kept():
    async def main():
        handler = _Handler()
        tracker = SessionTracker(handler)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(tracker.wrap(lambda: SMTP(handler)), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def send(count: int) -> None:
            for _ in range(count):
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")

        await loop.run_in_executor(None, send, 50)
        for _ in range(20):
            await asyncio.sleep(0.05)
            gc.collect()
            if len(tracker.sessions) == 0:
                break
        kept = len(tracker.sessions)
        server.close()
        await server.wait_closed()
        return kept, await tracker.drain(1.0)

    kept, cut = asyncio.run(main())
    assert kept == 0
    assert cut == 0
