"""The gateway's clock set by a test, in every process of a test daemon (the supervisor
and the runners it spawns all import this first), without touching the machine's
clock: `rules.thai_time.now_utc` is the one clock the register reads (time of receipt
and so its Buddhist-era year and the receive stamp's date, the registered time, "today"
for a letter's own date). The file named by SARABAN_TEST_CLOCK holds how many seconds
to add to the real clock; it is read at every call, so a test moves the clock between
two letters (tests/daemon.py `TestClock`)."""
from __future__ import annotations

import datetime as dt
import os

_FILE = os.environ.get("SARABAN_TEST_CLOCK")
if _FILE:
    import rules.thai_time as _thai_time

    _real = _thai_time.now_utc

    def _moved() -> dt.datetime:
        with open(_FILE, encoding="ascii") as handle:
            return _real() + dt.timedelta(seconds=float(handle.read() or 0))

    _thai_time.now_utc = _moved

    # The wall clock as the spool's queue ids read it (gateway/spool.py `new_queue_id`:
    # their order is the order letters are numbered in) moves with it, as a real step of
    # the clock moves both (session 38).
    import time as _time

    _real_ns = _time.time_ns

    def _moved_ns() -> int:
        with open(_FILE, encoding="ascii") as handle:
            return _real_ns() + int(float(handle.read() or 0) * 1e9)

    _time.time_ns = _moved_ns
