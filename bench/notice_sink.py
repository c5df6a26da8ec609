"""The smarthost of the gateway's notices during a bench: an SMTP server on loopback
(aiosmtpd, in the bench's own process) that accepts every notice and counts it.

The acknowledgement each sender gets is part of the gateway's work on a letter
(deciding, rendering, one SMTP transaction): a bench without a smarthost only holds
the notices, and one with the default rate limits (20 notices an hour to one sender)
suppresses all but the first of a burst from one sender. `config()` gives both: this
smarthost, and no rate limits."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon import free_port  # noqa: E402


class NoticeSink:
    def __init__(self) -> None:
        self.count = 0
        self._controller = None
        self.port = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's
        session.host_name = hostname
        *lines, last = responses  # PIPELINING, as the Postfix a smarthost usually is announces it
        return [*lines, "250-PIPELINING", last]

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.count += 1
        return "250 OK"

    def start(self) -> "NoticeSink":
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "NoticeSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def config(self) -> str:
        """The gateway's [notices] section for this sink."""
        return (f'\n[notices]\nsmarthost = "127.0.0.1:{self.port}"\n'
                "max_per_sender_per_hour = 0\nmax_per_domain_per_hour = 0\n")
