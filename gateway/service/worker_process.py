"""One child process that takes one job at a time through a pipe, under a deadline.

The stamping child (gateway/signatures/receive_stamp.py), the signature workers
(gateway/signatures/worker.py) and the PDF reader (gateway/pipeline/pdf_pool.py) parse
files a sender chose, so each runs in a child of its own: a file that overruns its
deadline costs one child, killed here, and the next job gets a new one.

The child is a fresh interpreter (gateway/service/process_util.py `start_child`): it
holds nothing of the runner's (no database connection, no vault handle), and no
forkserver process is kept beside each runner for it. What crosses the pipe is bytes;
what they mean is the owner's business."""
from __future__ import annotations

import select
from typing import Any, Callable

from gateway.service.process_util import ChildProcess, start_child


class WorkerProcess:
    """`target(conn, *args)` runs in the child and answers each job it reads from `conn`
    (bytes: `Connection.recv_bytes`, or `recv` for a pickle) until `conn` reads EOF.

    `replaced`: the owner's log event (`log`, a structlog logger) for a child found
    dead while idle; `idle_reason` says so in the owner's words."""

    def __init__(self, target: Callable[..., None], args: tuple, name: str, *, log: Any, replaced: str,
                 idle_reason: str):
        self.target = target
        self.args = args
        self.name = name
        self.log = log
        self.replaced = replaced
        self.idle_reason = idle_reason
        self.process: ChildProcess | None = None
        self._conn = None  # the runner's end of the pipe
        self._poller: select.poll | None = None  # for _conn: Connection.poll builds a poller per call

    def _start(self) -> None:
        process = start_child(self.name, self.target, self.args, connected=True)
        self.process, self._conn = process, process.connection
        self._poller = select.poll()
        self._poller.register(self._conn.fileno(), select.POLLIN)

    def start(self) -> None:
        """Start the child now, if there is none, rather than with its first job."""
        if self.process is None:
            self._start()

    def send_bytes(self, payload: bytes, **log_fields: Any) -> None:
        """Hand `payload` to the child, starting one if there is none. `log_fields` go
        with the owner's event when the child is found dead first.

        Raises OSError (a broken pipe twice) if not even a new child takes it; the new
        child is then killed."""
        if self.process is not None and not self.process.is_alive():
            # It died between jobs (killed, the kernel's OOM killer): the job in hand had
            # no part in it, so it gets a new child rather than a failure.
            self.log.warning(self.replaced, reason=self.idle_reason, exitcode=self.process.exitcode,
                             **log_fields)
            self.kill()
        if self.process is None:
            self._start()
        try:
            self._conn.send_bytes(payload)
        except (BrokenPipeError, ConnectionResetError):
            # It died so shortly before that the check above missed it: the job never
            # reached it, so it goes to a new child, once.
            self.kill()
            self._start()
            try:
                self._conn.send_bytes(payload)
            except BaseException:
                self.kill()
                raise

    def answer(self, timeout: float) -> bytes | str:
        """The child's next answer (bytes); or "timeout" when none came within `timeout`
        seconds, or "crashed" when the child is gone (EOF on the pipe), and either way
        the child is killed: the next job gets a new one."""
        if self._conn is None:
            return "crashed"
        # At 0, an answer already sent is still taken; a negative timeout would wait forever.
        if not self._poller.poll(max(timeout, 0.0) * 1000):
            self.kill()
            return "timeout"
        try:
            return self._conn.recv_bytes()
        except (EOFError, OSError):
            self.kill()
            return "crashed"

    def kill(self) -> None:
        process, conn = self.process, self._conn
        self.process = self._conn = self._poller = None
        if process is not None:
            process.kill()
            process.join(5)
            conn.close()

    def close(self, grace: float = 5.0) -> None:
        """Let the child finish: it reads EOF and leaves; killed if it has not within
        `grace` seconds (it was in a job)."""
        process, conn = self.process, self._conn
        self.process = self._conn = self._poller = None
        if process is not None:
            conn.close()
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join(5)
