"""Run PDF inspection in a child process with a timeout and a memory cap.

A PDF that hangs the parser costs one child process, which is killed and replaced; the
letter gets a finding ("could not be read in time") instead of stalling the queue."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import resource

from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from rules.model import NOT_READ_IN_TIME
from gateway.service.process_util import kill_pool

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
        future = self._executor().submit(inspect_pdf, data)
        try:
            return future.result(timeout=limit)
        except cf.TimeoutError:
            self._kill()
            return PdfInfo(None, None, False, f"{NOT_READ_IN_TIME} ({limit:.0f} s)")
        except (cf.process.BrokenProcessPool, MemoryError) as exc:
            self._kill()
            return PdfInfo(None, None, False, f"the PDF reader failed: {type(exc).__name__}")

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            kill_pool(pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
