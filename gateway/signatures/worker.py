"""Verify PDFs in worker processes, so a hostile file can neither hang nor starve the daemon.

Each worker is a long-lived process (pyHanko imports once) with an address-space limit;
the parent enforces a per-file deadline and kills the worker that overruns it, then
starts a fresh one (gateway/service/worker_process.py). We manage the processes
ourselves rather than through ProcessPoolExecutor because an executor cannot kill one
stuck task.

A worker also reads a PDF's text layer (`read_and_verify_blocking`): a PDF that may be
signed is shipped once and both answers come back from the same trip, the text first,
each under its own deadline.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import pickle
import resource
import threading
import time
from dataclasses import dataclass

import structlog
import structlog.testing

from gateway.pipeline.pdf_inspect import PdfInfo
from gateway.service.process_util import exit_now
from gateway.service.worker_process import WorkerProcess
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verdict import PdfVerdict, document_problem
from gateway.signatures.verify import DEFAULT_MAX_PAGES

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MEMORY_MB = 1536


@dataclass(frozen=True)
class WorkerLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pages: int = DEFAULT_MAX_PAGES
    memory_mb: int = DEFAULT_MEMORY_MB  # per worker address space; 0 = unlimited
    log_setup: tuple[str, str] | None = None  # (level, format) of the daemon's JSON log


def _worker_main(conn, memory_mb: int, log_setup: tuple[str, str] | None = None) -> None:
    if log_setup is not None:  # a fresh process: without this, events are not JSON
        from gateway.service.log import setup_logging

        setup_logging(*log_setup, process="sigverify")
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # verify_pdf too: pyHanko is imported now, not in the first job's time.
    from gateway.signatures.verify import quiet_library_logs, verify_pdf  # noqa: F401

    quiet_library_logs()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            exit_now(0)  # not Python's teardown of pyHanko and friends (1-2 s): the runner waits
        data, trust, max_pages, *text = job
        if text:  # (verify_by, verify): the text layer first, then the signatures if asked and time is left
            info = _read_text(data)
            conn.send(info)
            verify_by, verify = text
            if isinstance(info, _Raised) or not verify:
                continue
            if verify_by is not None and time.monotonic() >= verify_by:
                conn.send(None)  # the letter's time is used up: verifying now would only be killed
                continue
            # Read trip: the letter may turn out classified; what verifying logs goes with
            # the verdict and is logged by the runner only for an ordinary letter.
            with structlog.testing.capture_logs() as events:
                verdict = _verify(data, trust, max_pages)
            conn.send(dataclasses.replace(verdict, events=tuple(events)))
            continue
        conn.send(_verify(data, trust, max_pages))


def _verify(data: bytes, trust: TrustSettings, max_pages: int) -> PdfVerdict:
    from gateway.signatures.verify import verify_pdf

    try:
        return verify_pdf(data, trust, max_pages=max_pages)
    except MemoryError:
        return document_problem("too_large", "the PDF needs more memory than allowed to check")


@dataclass(frozen=True)
class _Raised:
    """An exception of the text reader, re-raised in the parent as the PDF pool's child
    would have it (gateway/pipeline/pdf_pool.py): the letter's parse fails closed."""

    error: BaseException


def _read_text(data: bytes):
    from gateway.pipeline.pdf_inspect import inspect_pdf

    try:
        return inspect_pdf(data)
    except MemoryError as exc:
        return PdfInfo(None, None, False, f"the PDF reader failed: {type(exc).__name__}")
    except Exception as exc:
        return _Raised(exc)


class _Worker(WorkerProcess):
    """One verification worker. Its answers are pickles (a PdfVerdict is a nested
    dataclass), unlike the stamping child's."""

    def __init__(self, limits: WorkerLimits):
        super().__init__(_worker_main, (limits.memory_mb, limits.log_setup), "sigs", log=log,
                         replaced="pdf_worker_replaced", idle_reason="the PDF worker ended while idle")

    def send(self, job: tuple) -> None:
        # pickle and the bytes, not Connection.send: multiprocessing's pickler, with its
        # own dispatch table, takes several times as long for the same bytes.
        self.send_bytes(pickle.dumps(job, pickle.HIGHEST_PROTOCOL))

    def receive(self, timeout_s: float):
        """The worker's next answer, or "timeout" / "crashed" (the worker then killed)."""
        answer = self.answer(timeout_s)
        return answer if isinstance(answer, str) else pickle.loads(answer)


_DIED = object()  # what one trip gives when the worker died before the text came


class VerifyPool:
    """A fixed number of verification workers shared by the coroutines of one process."""

    def __init__(self, workers: int = 1, limits: WorkerLimits = WorkerLimits()):
        self.limits = limits
        self._size = workers
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(workers)  # never more processes than `workers`
        self._closed = False

    def _take_and_send(self, job) -> _Worker:
        """A worker that has `job`: an idle one, or a new one. One that died while idle,
        or so shortly before that its pipe refuses the job, is replaced on the way
        (`WorkerProcess.send_bytes`: `pdf_worker_replaced` for the first)."""
        with self._lock:
            worker = self._idle.pop() if self._idle else _Worker(self.limits)
        worker.send(job)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._size:
                self._idle.append(worker)
                return
        worker.close(grace=2.0)

    def takes(self, data: bytes) -> bool:
        return len(data) <= self.limits.max_bytes

    def verify_blocking(self, data: bytes, trust: TrustSettings, timeout_s: float) -> PdfVerdict:
        """Verify in a worker; blocks the calling thread (use `verify` from coroutines)."""
        if len(data) > self.limits.max_bytes:
            return document_problem(
                "too_large",
                f"{len(data)} bytes; the gateway checks PDFs up to {self.limits.max_bytes} bytes",
                sha256=hashlib.sha256(data).hexdigest(),
            )
        started = time.monotonic()
        outcome = self._verify_once(data, trust, timeout_s)
        if outcome == "crashed" and (left := timeout_s - (time.monotonic() - started)) > 0:
            # As for the text (read_and_verify_blocking): a worker killed from outside is
            # not the file's doing until a second one dies on it too; before, its clerk
            # read "the signature checker died on this PDF" of a sound signature.
            log.warning("pdf_verify_worker_died_checking_again", timeout_s=round(left, 1))
            outcome = self._verify_once(data, trust, left)
        if isinstance(outcome, PdfVerdict):
            return outcome
        return self._failure(data, outcome, timeout_s)

    def _verify_once(self, data: bytes, trust: TrustSettings, timeout_s: float) -> PdfVerdict | str:
        """One trip of `verify_blocking`: the verdict, or "timeout" / "crashed"."""
        with self._slots:
            worker = None
            try:
                worker = self._take_and_send((data, trust, self.limits.max_pages))
                outcome = worker.receive(timeout_s)
            except (BrokenPipeError, OSError):
                outcome = "crashed"
            if worker is None:
                return outcome
            if isinstance(outcome, PdfVerdict):
                self._give_back(worker)
                return outcome
            worker.kill()
        return outcome

    @staticmethod
    def _failure(data: bytes, outcome: str, timeout_s: float, log_now: bool = True) -> PdfVerdict:
        sha256 = hashlib.sha256(data).hexdigest()
        event = {"event": "pdf_verify_worker_" + outcome, "log_level": "warning", "sha256": sha256,
                 "timeout_s": timeout_s}
        if log_now:
            log.warning(event["event"], sha256=sha256, timeout_s=timeout_s)
        if outcome == "timeout":
            verdict = document_problem("timeout", f"checking the signatures took longer than {timeout_s:g} s",
                                       sha256=sha256)
        else:
            verdict = document_problem("crashed", "the signature checker died on this PDF (memory limit or a parser "
                                       "fault)", sha256=sha256)
        return verdict if log_now else dataclasses.replace(verdict, events=(event,))

    def read_blocking(self, data: bytes, timeout_s: float) -> PdfInfo:
        """The text layer alone (as `inspect_pdf`), for a PDF that cannot be signed: the
        same worker, so a runner keeps one PDF process and one pipe rather than two."""
        info, _ = self.read_and_verify_blocking(data, None, timeout_s, 0.0, verify=False)
        return info

    def read_and_verify_blocking(self, data: bytes, trust: TrustSettings | None, text_timeout_s: float,
                                 verify_timeout_s: float, deadline: float | None = None, *, verify: bool = True
                                 ) -> tuple[PdfInfo, PdfVerdict | None]:
        """The text layer (as `inspect_pdf`) and the signature verdict of one PDF, from one
        trip to one worker. The text must come within `text_timeout_s`, the verdict within
        `verify_timeout_s` after it, and neither after `deadline` (time.monotonic()).

        The verdict is None when the worker was cut off or died while reading the text:
        the caller verifies the file on its own if it still wants to. Raises what the text
        reader raised on the file (the worker is fine and kept), and ValueError for a file
        the pool does not take (`takes`)."""
        if not self.takes(data):
            raise ValueError("larger than the verifier takes; read its text elsewhere")
        started = time.monotonic()
        found = self._read_and_verify_once(data, trust, text_timeout_s, verify_timeout_s, deadline, verify)
        if found is _DIED:
            left = text_timeout_s - (time.monotonic() - started)
            if deadline is not None:
                left = min(left, deadline - time.monotonic())
            if left > 0:
                # A worker killed from outside (the kernel's OOM killer taking the largest
                # process, a person's kill) dies as one whose parser a file crashed; only a
                # second worker dying on it says it is the file's doing. Taken at once for
                # the file's, an ordinary letter was read as one whose PDF cannot be read:
                # at least ลับ (sealed, the secret book) and its sender told to make it again.
                log.warning("pdf_read_worker_died_reading_again", timeout_s=round(left, 1))
                found = self._read_and_verify_once(data, trust, left, verify_timeout_s, deadline, verify)
        if found is _DIED:
            return self._text_failure(data, "crashed", text_timeout_s), None
        return found

    def _read_and_verify_once(self, data: bytes, trust: TrustSettings | None, text_timeout_s: float,
                              verify_timeout_s: float, deadline: float | None, verify: bool):
        """One trip of `read_and_verify_blocking`; _DIED when the worker died before the text came."""
        with self._slots:
            worker = None
            try:
                worker = self._take_and_send((data, trust, self.limits.max_pages, deadline, verify))
                info = worker.receive(text_timeout_s)
            except (BrokenPipeError, OSError):
                info = "crashed"
            if info == "crashed":
                if worker is not None:
                    worker.kill()
                return _DIED
            if worker is None:
                return self._text_failure(data, info, text_timeout_s), None
            if isinstance(info, _Raised):
                self._give_back(worker)
                raise info.error
            if not isinstance(info, PdfInfo):
                worker.kill()
                return self._text_failure(data, info, text_timeout_s), None
            if not verify:
                self._give_back(worker)
                return info, None
            limit = verify_timeout_s if deadline is None else min(verify_timeout_s, deadline - time.monotonic())
            outcome = worker.receive(limit)
            if outcome is None or isinstance(outcome, PdfVerdict):
                self._give_back(worker)
                if outcome is None:
                    outcome = document_problem("timeout", "the letter's time for checking signatures was used up",
                                               sha256=hashlib.sha256(data).hexdigest())
                return info, outcome
            worker.kill()
        # Logged with the verdict, if the letter is ordinary (PdfVerdict.events).
        return info, self._failure(data, outcome, max(limit, 0.0), log_now=False)

    @staticmethod
    def _text_failure(data: bytes, outcome: str, timeout_s: float) -> PdfInfo:
        from rules.model import NOT_READ_IN_TIME

        # No hash of the file: whether its letter is classified is not known yet (the
        # runner's events carry the letter's queue id).
        log.warning("pdf_read_worker_" + outcome, timeout_s=timeout_s)
        if outcome == "timeout":
            return PdfInfo(None, None, False, f"{NOT_READ_IN_TIME} ({timeout_s:.0f} s)")
        return PdfInfo(None, None, False, "the PDF reader failed: the worker died")

    async def verify(self, data: bytes, trust: TrustSettings, timeout_s: float = DEFAULT_TIMEOUT_S) -> PdfVerdict:
        # The wait happens in a thread; the CPU work in the worker process.
        return await asyncio.to_thread(self.verify_blocking, data, trust, timeout_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close(grace=2.0)


_default_pool: VerifyPool | None = None


def default_pool() -> VerifyPool:
    global _default_pool
    if _default_pool is None:
        _default_pool = VerifyPool()
    return _default_pool


async def verify_in_worker(
    data: bytes,
    trust: TrustSettings,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    pool: VerifyPool | None = None,
) -> PdfVerdict:
    """Verdicts for one PDF, computed in a worker process under the pool's caps
    (size, pages, memory) and `timeout_s`. Never raises on bad input."""
    return await (pool or default_pool()).verify(data, trust, timeout_s)
