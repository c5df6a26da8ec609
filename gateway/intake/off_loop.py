"""One thread that does the IMAP intake's database and spool work, off its event loop.

A statement waits for a lock up to [storage] lock_timeout (a sysadmin's `BEGIN
IMMEDIATE` in a sqlite3 shell, a `LOCK TABLE` on PostgreSQL). Done on the event loop,
that wait held every mailbox of the process (IDLE, NOOP, lease renewal) and SIGTERM,
which the loop handles, until the runner was killed after runner_grace (session 18).

One thread per process, one call at a time, in the order they were asked for: the
intake's exactly-once steps (record, spool, mark) keep their order, and SQLite keeps
its one writer. A daemon thread: a stopping runner does not wait for a statement that
waits for a lock; what it had not committed is what a crash leaves, which the intake
resumes at its next start (gateway/intake/imap_intake.py)."""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable


class OffLoop:
    def __init__(self, name: str = "imap-intake-db"):
        self._name = name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` in the thread; its result or its exception, here. A call
        whose caller was cancelled before the thread came to it is not made."""
        future = asyncio.get_running_loop().create_future()
        self._start()
        self._calls.put((function, args, future))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            function, args, future = self._calls.get()
            if future.cancelled():
                continue
            loop = future.get_loop()
            try:
                result, failure = function(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
                result, failure = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, failure)
            except RuntimeError:  # the loop is closed: the runner has stopped
                return


def _settle(future: asyncio.Future, result: Any, failure: BaseException | None) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        future.set_result(result)
