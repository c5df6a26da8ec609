"""Graceful end of the SMTP sessions on SIGTERM.

After the listener closes, open sessions get `drain_timeout` seconds to finish the
transaction they are in. A message being committed to the spool (fsync and rename,
milliseconds) is let through to its 250; any other session still open after that,
also one whose letter is waiting for or in the check at DATA, is told `421 4.3.2` and
closed: the check is cancelled (its worker killed) and the draft discarded. Its sender
has no 250, so by the SMTP contract it keeps the message and retries later: nothing
accepted is lost, nothing unacknowledged was promised, and the drain ends within
`drain_timeout` (before, it waited for every letter in the DATA hook, however long the
queue for the check: 73 s with 5 slow letters queued, past systemd's stop timeout).
"""
from __future__ import annotations

import asyncio
import weakref
from typing import Callable

import structlog
from aiosmtpd.smtp import SMTP

log = structlog.get_logger(__name__)

SHUTDOWN_REPLY = b"421 4.3.2 Service shutting down, please try again later\r\n"
COMMIT_GRACE = 5.0  # seconds past drain_timeout for letters being committed to the spool


class SessionTracker:
    """Knows the open SMTP sessions and how many DATA hand-offs are in progress."""

    def __init__(self, handler) -> None:
        # Weak: a session the loop has let go of is not kept alive here until the next
        # drain (a busy day's every SMTP connection would otherwise stay in memory).
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.spooling = 0
        original = handler.handle_DATA

        async def handle_DATA(server, session, envelope):  # noqa: N802 - aiosmtpd hook name
            self.spooling += 1
            try:
                return await original(server, session, envelope)
            finally:
                self.spooling -= 1

        # aiosmtpd collects the handle_* hooks when each session starts: set before any.
        handler.handle_DATA = handle_DATA

    def wrap(self, factory: Callable[[], SMTP]) -> Callable[[], SMTP]:
        def tracked() -> SMTP:
            protocol = factory()
            self.sessions.add(protocol)
            return protocol
        return tracked

    def open_sessions(self) -> list[SMTP]:
        return [s for s in list(self.sessions) if s.transport is not None and not s.transport.is_closing()]

    def committing(self) -> int:
        return sum(1 for s in list(self.sessions) if getattr(s, "committing", False))

    async def drain(self, timeout: float, poll: float = 0.05, commit_grace: float = COMMIT_GRACE) -> int:
        """Wait for sessions to end, then close the rest; return how many were cut off."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.open_sessions() and loop.time() < deadline:
            await asyncio.sleep(poll)
        # A commit in progress (fsync, rename) finishes and gets its 250; it takes
        # milliseconds, so the wait is bounded for a disk that hangs. Letters still in
        # the DATA hook before their commit (the check, the sender check) are cut below.
        grace = loop.time() + commit_grace
        while self.committing() and loop.time() < grace:
            await asyncio.sleep(poll)
        cut = [s for s in self.open_sessions() if not getattr(s, "committing", False)]
        for protocol in cut:
            try:
                protocol.transport.write(SHUTDOWN_REPLY)
                protocol.transport.close()
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
        if cut:
            log.info("smtp_sessions_closed", count=len(cut), reply="421")
        return len(cut)
