"""A deadline for a whole conversation of a blocking network client (smtplib, ldap3).

Their `timeout` is a socket timeout: it restarts with every byte received, so a server
that answers one byte every few seconds (a broken middlebox, a stalled proxy, an
attacker) keeps a notice, a folder copy or a desk sign-in waiting for ever. Here a
timer shuts the connection down when the deadline passes; the client's blocking read
returns at once, and the error it raises becomes `DeadlinePassed`, which says which
server and how long, in words an operator understands."""
from __future__ import annotations

import socket
import threading
from typing import Callable


class DeadlinePassed(TimeoutError):
    """The server did not finish answering within the deadline; the connection was cut."""


class Deadline:
    """`with Deadline(30, lambda: client.sock, "the smarthost mail.example:25"): ...`

    `sockets` is asked for the connection's socket when the deadline passes (it may not
    exist yet when the block starts). Any exception leaving a block whose deadline
    passed is replaced by DeadlinePassed; a block that finished in time is untouched."""

    def __init__(self, seconds: float, sockets: Callable[[], socket.socket | None], what: str):
        self.seconds, self.what = seconds, what
        self._sockets = sockets
        self.passed = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        self.passed = True
        try:
            sock = self._sockets()
        except Exception:  # noqa: BLE001 - the client's state is whatever it is
            sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv() in the other thread
            except OSError:
                pass  # already closed

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._timer.cancel()
        if self.passed and exc_type is not None and not issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            raise DeadlinePassed(f"{self.what} did not finish answering within {self.seconds:.0f} s") from None
        return False
