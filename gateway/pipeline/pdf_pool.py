"""Run PDF inspection in a child process with a timeout and a memory cap.

A PDF that hangs the parser costs one child process, which is killed and replaced; the
letter gets a finding ("could not be read in time") instead of stalling the queue."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import resource

import structlog

from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from rules.model import NOT_READ_IN_TIME
from gateway.service.process_util import kill_pool

log = structlog.get_logger("gateway.pipeline.pdf_pool")

MEMORY_CAP = 1024 * 1024 * 1024  # bytes of address space per inspection child


def _limit_memory() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    except (ValueError, OSError):
        pass


class PdfPool:
    def __init__(self, timeout: float = 20.0, workers: int = 1):
        self.timeout = timeout
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
            )
        return self._pool

    def inspect(self, data: bytes, timeout: float | None = None) -> PdfInfo:
        """`timeout`: what is left of the letter's time for PDF work, when less than
        the pool's own limit per file."""
        limit = self.timeout if timeout is None else min(self.timeout, timeout)
        if self._pool is not None and not all(p.is_alive() for p in self._children()):
            self._replace()  # its child died between letters: not this file's doing
        try:
            future = self._executor().submit(inspect_pdf, data)
        except cf.process.BrokenProcessPool:  # the pool noticed first
            self._replace()
            future = self._executor().submit(inspect_pdf, data)
        try:
            return future.result(timeout=limit)
        except cf.TimeoutError:
            self._kill()
            return PdfInfo(None, None, False, f"{NOT_READ_IN_TIME} ({limit:.0f} s)")
        except (cf.process.BrokenProcessPool, MemoryError) as exc:
            self._kill()
            return PdfInfo(None, None, False, f"the PDF reader failed: {type(exc).__name__}")

    def _children(self) -> list:
        # The executor's own table of its processes: it has no public way to tell that a
        # child died while idle until the next submit fails.
        return list((getattr(self._pool, "_processes", None) or {}).values())

    def _replace(self) -> None:
        log.warning("pdf_worker_replaced", reason="the PDF worker ended while idle")
        self._kill()

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            kill_pool(pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
