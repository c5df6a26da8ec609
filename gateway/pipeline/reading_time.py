"""One letter's time for its reading: the MIME tree, the bodies, the HTML, the files'
texts and the markings read from them (rules/model.py `reading_goes_on`).

Each of those readings has bounds of its own (parts, members, characters, tokens), but
what they cost together had none but the message's size: HTML is read at 0.5-5 s of CPU
per MB (every element is Python, and a page with tables, hidden styles and right-to-left
text is read several times), so 50 MB of it held the DATA check to its deadline and a
pipeline runner for minutes. A letter whose reading runs past its time is not judged on
the part read so far (a marking may be in the rest): the DATA check answers "uncertain"
(taken, at least ลับ), the pipeline seals it unread and holds it with a reason
(gateway/pipeline/check.py `reading_overdue`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rules.model import ReadingOverdue, reading_checked


class ReadingClock:
    """`seconds` of reading from now, on `clock`: the DATA check's worker counts the wall
    clock (its deadline is one); the pipeline counts its own thread's CPU
    (`time.thread_time`), so that a letter is held for what reading it costs, never
    because the machine was busy meanwhile. PDF work (`[pipeline] pdf_budget`, in the
    reader's own process) is not counted while `paused`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.until = clock() + seconds

    def check(self) -> None:
        if self.clock() > self.until:
            raise ReadingOverdue(self.seconds)

    @contextmanager
    def running(self) -> Iterator[None]:
        with reading_checked(self.check):
            yield

    @contextmanager
    def paused(self) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            self.until += self.clock() - started
