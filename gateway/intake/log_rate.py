"""One throttle for the log lines a client can have the gateway write at will (refused
RCPTs, session exceptions, aiosmtpd's unknown-command warnings, failed TLS handshakes):
each line costs the disk and the journal, and a loop of short sessions or pipelined
commands wrote them by the thousand a second (37 GB a day in session 19)."""
from __future__ import annotations

import time


class LogRate:
    """A token bucket for one kind of log line: `allow()` is None when over the rate, or
    the fields to add to the line ({"not_logged": n}, the lines left out since the last)."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second, self.burst = per_second, burst
        self._tokens, self._at = burst, time.monotonic()
        self._not_logged = 0

    def allow(self) -> dict | None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            self._not_logged += 1
            return None
        self._tokens -= 1
        skipped = {"not_logged": self._not_logged} if self._not_logged else {}
        self._not_logged = 0
        return skipped
