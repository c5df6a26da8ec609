"""A deadline for a whole conversation of a blocking network client (smtplib, ldap3).

Their `timeout` is a socket timeout: it restarts with every byte received, so a server
that answers one byte every few seconds (a broken middlebox, a stalled proxy, an
attacker) keeps a notice, a folder copy or a desk sign-in waiting for ever. Here the
connection is shut down when the deadline passes; the client's blocking read returns at
once, and the error it raises becomes `DeadlinePassed`, which says which server and how
long, in words an operator understands.

One thread keeps every deadline of the process (`_Watch`), not a timer thread each:
the delivery runner opens one for every notice it sends, and starting and ending a
thread for each cost more CPU than the rest of the deadline's work. Nor is the thread
woken for each: only a deadline sooner than its next wake-up wakes it (a notice's
deadline, added and ended many times a second, is always later)."""
from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from typing import Callable

# How long the watch sleeps with no deadline open: a deadline further off than this does
# not wake it (the thread looks again by then), a sooner one does.
IDLE_WAKE = 5.0


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
        self.ended = False  # the block has left (set under the watch's lock)
        self.until = 0.0  # when it passes (time.monotonic()), set by the watch

    def extend(self, seconds: float) -> None:
        """Let the block run until `seconds` from now, when that is later than its end:
        a wait the protocol itself bounds otherwise (RFC 5321 4.5.3.2.6, the reply to a
        message's final dot: 10 minutes)."""
        _watch.extend(self, seconds)

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
        _watch.add(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        _watch.end(self)
        if self.passed and exc_type is not None and not issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            raise DeadlinePassed(f"{self.what} did not finish answering within {self.seconds:.0f} s") from None
        return False


class _Watch:
    """The deadlines of a process, soonest first, and the one thread that cuts them.

    A deadline is cut, or marked ended, under one lock, so a block that has left is never
    cut afterwards (a kept smarthost session is not shut under the next notice). An
    ended deadline stays in the heap until it comes first; with equal timeouts, as each
    kind's are, that is at once."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wakes_at = 0.0  # when the thread looks at the heap next, at the latest

    def add(self, deadline: Deadline) -> None:
        when = time.monotonic() + deadline.seconds
        with self._changed:
            deadline.until = when
            heapq.heappush(self._heap, (when, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="deadlines")
                self._thread.start()
            elif when < self._wakes_at:
                self._changed.notify()  # sooner than the thread would look again

    def extend(self, deadline: Deadline, seconds: float) -> None:
        when = time.monotonic() + seconds
        with self._changed:
            if deadline.ended or deadline.passed or when <= deadline.until:
                return
            deadline.until = when  # its earlier entry in the heap is passed over when it comes
            heapq.heappush(self._heap, (when, next(self._order), deadline))

    def end(self, deadline: Deadline) -> None:
        with self._changed:
            deadline.ended = True
            while self._heap and self._heap[0][2].ended:
                heapq.heappop(self._heap)

    def _run(self) -> None:
        with self._changed:
            while True:
                while self._heap and self._heap[0][2].ended:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap:
                    self._wakes_at = now + IDLE_WAKE
                    self._changed.wait(IDLE_WAKE)
                    continue
                wait = self._heap[0][0] - now
                if wait > 0:
                    self._wakes_at = self._heap[0][0]
                    self._changed.wait(wait)
                    continue
                when, _, deadline = heapq.heappop(self._heap)
                if when < deadline.until:
                    continue  # extended: a later entry of its own cuts it
                try:
                    deadline._cut()  # noqa: SLF001 - under the lock: its block cannot end meanwhile
                except Exception:  # noqa: BLE001 - a client's odd socket must not end the watch
                    pass  # (every later deadline of the process would pass uncut)


_watch = _Watch()


def _forked() -> None:
    # A forked child has the lock and heap but not the thread: it starts its own.
    global _watch
    _watch = _Watch()


os.register_at_fork(after_in_child=_forked)
