"""Run PDF inspection in a child process with a timeout and a memory cap.

A PDF that hangs the parser costs one child process, which is killed and replaced; the
letter gets a finding ("could not be read in time") instead of stalling the queue.
With signature checking on, the signature worker reads the text of every PDF it takes
(gateway/signatures/worker.py); this pool reads only the larger ones."""
from __future__ import annotations

import json
import resource
import threading
import time

import structlog

from gateway.pipeline.pdf_inspect import PdfInfo, info_fields, info_from_fields, inspect_pdf
from gateway.service.process_util import exit_now
from gateway.service.worker_process import WorkerProcess
from rules.model import NOT_READ_IN_TIME

log = structlog.get_logger("gateway.pipeline.pdf_pool")

MEMORY_CAP = 1024 * 1024 * 1024  # bytes of address space per inspection child
# What a finding says when the child died on a file: the words of the ProcessPoolExecutor
# this pool used until 2026-11, kept so that the finding reads as before.
DIED = "BrokenProcessPool"


def _limit_memory() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    except (ValueError, OSError):
        pass


def _reader_main(conn) -> None:
    """The reading child: a PDF's bytes in, `_answer` out, one file at a time, until the
    runner closes its end of the pipe."""
    _limit_memory()
    # The message reader, for a forwarded letter (.eml) in a PDF's attachments pane
    # (importing parse.py sets gateway/pipeline/file_texts.py's `message_reader`).
    import gateway.pipeline.parse  # noqa: F401
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            exit_now(0)  # not Python's teardown of pypdf and friends: the runner waits
        try:
            answer = _answer(inspect_pdf(data))
        except Exception as exc:  # MemoryError (MEMORY_CAP) included: the runner decides
            answer = _answer(exc)
        conn.send_bytes(answer)


# The child's answer is data, never a pickle: the child parses the sender's PDF, and a
# parser fault that took it over must not run code in the runner (which holds the
# database and the vault) through what it unpickles. One JSON object, as the stamping
# child's (gateway/signatures/receive_stamp.py).
_MAX_NAME = 100


def _answer(outcome: PdfInfo | Exception) -> bytes:
    if isinstance(outcome, PdfInfo):
        fields = info_fields(outcome)
    else:
        fields = {"raised": type(outcome).__name__, "message": str(outcome)[:2000]}
    # surrogatepass: pypdf's text may hold a lone surrogate; json.loads reads it back so
    return json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass")


class ReaderRaised(Exception):
    """What inspect_pdf raised in the child, raised in the runner under the same name and
    with the same message (`_read_answer`): the letter's parse fails closed, and says what
    failed as it did when the executor sent the exception itself."""


def _read_answer(payload: bytes) -> PdfInfo:
    """The child's answer (`_answer`); raises MemoryError or a ReaderRaised for what
    inspect_pdf raised, ValueError for anything that is not an answer."""
    fields = json.loads(payload)
    if isinstance(fields, dict) and "raised" in fields:
        name, message = fields["raised"], fields.get("message")
        if not (isinstance(name, str) and name.isidentifier() and len(name) <= _MAX_NAME
                and isinstance(message, str)):
            raise ValueError("not an answer")
        if name == "MemoryError":
            raise MemoryError(message)
        raise type(name, (ReaderRaised,), {"__module__": __name__})(message)
    try:
        return info_from_fields(fields)
    except ValueError:
        raise ValueError("not an answer") from None


class PdfPool:
    def __init__(self, timeout: float = 20.0, workers: int = 1):
        self.timeout = timeout
        self.workers = workers
        # Each starts its child with its first file; a child found dead while idle is
        # replaced then: not that file's doing.
        self._idle = [WorkerProcess(_reader_main, (), "pdf", log=log, replaced="pdf_worker_replaced",
                                    idle_reason="the PDF worker ended while idle") for _ in range(workers)]
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(workers)

    def inspect(self, data: bytes, timeout: float | None = None) -> PdfInfo:
        """`timeout`: what is left of the letter's time for PDF work, when less than
        the pool's own limit per file."""
        limit = self.timeout if timeout is None else min(self.timeout, timeout)
        with self._slots:
            with self._lock:
                worker = self._idle.pop()
            try:
                return self._inspect(worker, data, limit)
            finally:
                with self._lock:
                    self._idle.append(worker)

    @staticmethod
    def _inspect(worker: WorkerProcess, data: bytes, limit: float) -> PdfInfo:
        started = time.monotonic()
        answer = _ask(worker, data, limit)
        if answer == "crashed" and (left := limit - (time.monotonic() - started)) > 0:
            # A child killed from outside (the kernel's OOM killer taking the largest
            # process, a person's kill) dies as one whose parser a file crashed; only a
            # second child dying on it says it is the file's doing. Taken at once for the
            # file's, an ordinary letter was read as one whose PDF cannot be read: at
            # least ลับ (sealed, the secret book) and its sender told to make it again.
            log.warning("pdf_worker_died_reading_again", timeout_s=round(left, 1))
            answer = _ask(worker, data, left)
        if answer == "timeout":
            return PdfInfo(None, None, False, f"{NOT_READ_IN_TIME} ({limit:.0f} s)")
        failure = DIED
        if answer != "crashed":
            try:
                return _read_answer(answer)  # and what inspect_pdf raised, the child kept
            except MemoryError:
                failure = "MemoryError"
            except ValueError:  # not an answer: a child taken over is no longer trusted
                pass
            worker.kill()
        return PdfInfo(None, None, False, f"the PDF reader failed: {failure}")

    def close(self) -> None:
        with self._lock:
            workers = list(self._idle)
        for worker in workers:
            worker.close()


def _ask(worker: WorkerProcess, data: bytes, limit: float) -> bytes | str:
    """The child's answer about `data`, or "timeout" / "crashed" (the child then killed:
    the next job starts a new one)."""
    try:
        worker.send_bytes(data)
        return worker.answer(limit)
    except OSError:  # refused by a new child too
        return "crashed"
