"""Receive numbers (เลขรับ) follow the order of arrival with several pipeline runners
(gateway/pipeline/register_order.py): a runner with short letters no longer registers
them before an older letter another runner is still reading."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from gateway.pipeline.register_order import RegisterOrder
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def _other_runner():
    """A live process standing for another runner (claims are kept by live pids only)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_blocks_are_claimed_oldest_first_and_registered_in_the_order_they_were_claimed(tmp_path):
    other = _other_runner()
    try:
        first, second = RegisterOrder(tmp_path, pid=other.pid), RegisterOrder(tmp_path)
        pending = [f"q{n:02d}" for n in range(10)]
        assert first.claim(pending, 4, lambda q: True) == ["q00", "q01", "q02", "q03"]
        # The next block is the oldest entries no live runner holds; a waiting entry
        # (back-off, DNS) is not claimed.
        assert second.claim(pending, 4, lambda q: q != "q05") == ["q04", "q06", "q07", "q08"]
        started = time.monotonic()
        threading.Timer(0.4, first.release).start()
        second.wait_turn()  # the older block is still held: wait for it
        assert time.monotonic() - started >= 0.35
        first.claim(pending, 4, lambda q: True)  # a block claimed after: never waited for
        started = time.monotonic()
        second.wait_turn()
        assert time.monotonic() - started < 0.3
    finally:
        other.kill()
        other.wait()
    # A runner killed with its block claimed: its claims count for nothing.
    third = RegisterOrder(tmp_path)
    assert third.claim(pending, 10, lambda q: True)[:4] == ["q00", "q01", "q02", "q03"]
    third.release()
    second.release()
    assert not [p for p in (tmp_path / "claims").iterdir() if not p.name.startswith(".")]


def test_a_killed_runner_not_yet_reaped_holds_nothing(tmp_path):
    """A runner killed with kill -9 is a zombie until the supervisor reaps it: its claims
    must not hold the others' turn meanwhile (nor a reload's new runners)."""
    zombie = _other_runner()
    try:
        dead = RegisterOrder(tmp_path, pid=zombie.pid)
        dead.claim(["q00", "q01"], 2, lambda q: True)
        zombie.kill()
        time.sleep(0.3)  # exited, not waited for: a zombie
        assert open(f"/proc/{zombie.pid}/stat").read().rsplit(") ", 1)[1][0] == "Z"
        later = RegisterOrder(tmp_path)
        assert later.claim(["q00", "q01", "q02"], 3, lambda q: True) == ["q00", "q01", "q02"]
        started = time.monotonic()
        later.wait_turn()
        assert time.monotonic() - started < 0.3
        later.release()
    finally:
        zombie.wait()


def test_two_runners_number_letters_in_the_order_they_arrived(tmp_path):
    d = Daemon(write_config(tmp_path, workers=2)).start()
    try:
        sent = []
        for n in range(16):
            size = 2_000_000 if n % 5 == 0 else 1000  # a big PDF now and then: read longer
            sent.append(d.send(letter(subject=f"ฉบับที่ {n:02d}", message_id=f"<order{n}@dds.bangkok.go.th>",
                                      files=[("2569_dds_0403_57.pdf", make_pdf(f"l{n}", filler=size))]), LAT))
        d.wait_idle(timeout=240)
        register = sorted(d.register(), key=lambda e: e["number"])
        order = [int(e["message_id"][len("<order"):].split("@")[0]) for e in register]
        assert order == list(range(16)), order
        times = [e["received_at"] for e in register]
        assert times == sorted(times)
        started = [e for e in d.events() if e.get("event") == "runner_started" and e.get("count") == 2]
        assert len(started) == 2  # two runners did the work
    finally:
        d.stop()
