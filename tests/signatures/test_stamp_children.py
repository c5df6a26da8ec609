"""The delivery runner's threads share their stamping children
(gateway/signatures/receive_stamp.py `StampingChildren`): one child stamps for all of
them while stamps are quick; a thread held up behind a letter that hangs its child starts
one more (never more than one per thread) and is not kept waiting for the stamp's
timeout; the extra child goes once nobody needs it."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from gateway.signatures.receive_stamp import StampingChildren, Stamper
from tests.signatures.test_stamp_child_bounds import FAILED, SleepsInTheChild, _job


def _children(seal, most: int, spare_after: float) -> tuple[StampingChildren, list[Stamper]]:
    made: list[Stamper] = []

    def make() -> Stamper:
        made.append(Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json")))
        return made[-1]

    return StampingChildren(make, most=most, spare_after=spare_after), made


def _pid(stamper: Stamper) -> int | None:
    process = stamper._worker.process  # noqa: SLF001
    return process.pid if process is not None else None


def _kill_in_its_letter(stamper: Stamper, pid: int) -> None:
    """The child `pid` killed with its letter in hand, as its deadline would, and the new
    one the letter is then stamped again in (a child killed from outside gets its letter
    once more, gateway/signatures/receive_stamp.py `Stamper._stamp`): the second death
    gives the receipt, without the hung letter's 120 s timeout."""
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: _pid(stamper) not in (None, pid))
    os.kill(_pid(stamper), signal.SIGKILL)


def _wait(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_two_threads_stamp_through_one_child(letter, seal, stamp_info):
    children, made = _children(seal, most=2, spare_after=60)
    results, errors = [], []

    def stamp_four(first: int) -> None:
        try:
            for n in range(first, first + 4):
                results.append(children.stamp(_job(stamp_info, letter, f"{n}/2569")))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stamp_four, args=(first,)) for first in (1, 11)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors
        assert [r.mode for r in results] == ["stamped"] * 8
        assert len(made) == 1 and children.children == 1
        assert _pid(made[0]) is not None
    finally:
        children.close()
    assert _pid(made[0]) is None  # closed with the runner


def test_a_letter_that_hangs_its_child_holds_up_only_its_own_thread(letter, seal, stamp_info):
    children, made = _children(seal, most=2, spare_after=0.5)
    hung: list = []
    try:
        assert children.stamp(_job(stamp_info, letter, "1/2569")).mode == "stamped"
        first = _pid(made[0])
        slow = SleepsInTheChild(stamp_info.unit_name, "2/2569", stamp_info.received_at)
        thread = threading.Thread(target=lambda: hung.append(children.stamp(_job(slow, letter, "2/2569"))))
        thread.start()
        assert _wait(lambda: not children._idle)  # noqa: SLF001 - the thread holds the only child
        time.sleep(0.5)  # and the child is in the letter, asleep for 300 s
        started = time.monotonic()
        quick = children.stamp(_job(stamp_info, letter, "3/2569"))
        waited = time.monotonic() - started
        assert quick.mode == "stamped"
        assert waited < 60  # not the 120 s of the hung child's timeout
        assert children.children == 2 and len(made) == 2
        assert _pid(made[1]) not in (None, first)
        assert thread.is_alive()  # still held up by its own letter

        _kill_in_its_letter(made[0], first)
        thread.join(60)
        assert [r.mode for r in hung] == ["receipt"] and hung[0].reason == FAILED
        # Handed back while the other child was idle: one child again.
        assert children.children == 1
        assert children.stamp(_job(stamp_info, letter, "4/2569")).mode == "stamped"
        assert len(made) == 2
    finally:
        children.close()


def test_never_more_children_than_threads(letter, seal, stamp_info):
    children, made = _children(seal, most=1, spare_after=0.2)
    results: dict[str, object] = {}
    try:
        assert children.stamp(_job(stamp_info, letter, "1/2569")).mode == "stamped"
        first = _pid(made[0])
        slow = SleepsInTheChild(stamp_info.unit_name, "2/2569", stamp_info.received_at)
        hung = threading.Thread(target=lambda: results.update(slow=children.stamp(_job(slow, letter, "2/2569"))))
        hung.start()
        assert _wait(lambda: not children._idle)  # noqa: SLF001
        waiting = threading.Thread(target=lambda: results.update(quick=children.stamp(_job(stamp_info, letter,
                                                                                          "3/2569"))))
        waiting.start()
        time.sleep(1.5)  # well past spare_after
        assert waiting.is_alive() and children.children == 1 and len(made) == 1
        _kill_in_its_letter(made[0], first)
        hung.join(60)
        waiting.join(120)
        assert results["slow"].mode == "receipt"
        assert results["quick"].mode == "stamped"  # by a new child in the same place
        assert children.children == 1 and len(made) == 1 and _pid(made[0]) not in (None, first)
    finally:
        children.close()


def test_closing_stops_the_idle_children_and_a_busy_one_when_it_is_handed_back(letter, seal, stamp_info):
    children, made = _children(seal, most=2, spare_after=0.3)
    results: list = []
    assert children.stamp(_job(stamp_info, letter, "1/2569")).mode == "stamped"
    first = _pid(made[0])
    slow = SleepsInTheChild(stamp_info.unit_name, "2/2569", stamp_info.received_at)
    hung = threading.Thread(target=lambda: results.append(children.stamp(_job(slow, letter, "2/2569"))))
    hung.start()
    try:
        assert _wait(lambda: not children._idle)  # noqa: SLF001
        time.sleep(0.3)
        assert children.stamp(_job(stamp_info, letter, "3/2569")).mode == "stamped"  # on a second child
        second = _pid(made[1])
        children.close()  # the runner's way out, one thread still in its letter
        assert _wait(lambda: _pid(made[1]) is None, 30)  # the idle one stopped
        assert _pid(made[0]) == first  # the busy one left to its thread
    finally:
        _kill_in_its_letter(made[0], first)
        hung.join(60)
    assert [r.mode for r in results] == ["receipt"]
    assert children.children == 0 and _pid(made[0]) is None and second is not None


class _Child:
    """A stand-in for a Stamper whose letters take `seconds` and cost the child `cpu`;
    `wall`: the seconds from sending a letter to its answer it says it took (on a
    loaded machine a child waits for a core too), else the time it slept."""

    def __init__(self, seconds: float, cpu: float, wall: float | None = None) -> None:
        self.seconds, self.cpu, self.wall = seconds, cpu, wall
        self.last_cpu = self.last_wall = 0.0
        self.closed = False

    def stamp(self, job):
        slept = job if isinstance(job, float) else self.seconds
        time.sleep(slept)
        self.last_cpu = self.cpu
        self.last_wall = slept if self.wall is None else self.wall
        return "stamped"

    def close(self) -> None:
        self.closed = True

    kill = close


def _held_while(children: StampingChildren, seconds: float) -> threading.Thread:
    """A thread holding a child for `seconds` (a letter in hand), started once it has one."""
    thread = threading.Thread(target=children.stamp, args=(seconds,))
    thread.start()
    assert _wait(lambda: not children._idle, 10)  # noqa: SLF001
    return thread


def test_letters_costing_more_cpu_than_one_child_gives_get_a_second_child_at_once():
    made: list[_Child] = []
    children = StampingChildren(lambda: made.append(_Child(0.01, 0.6, wall=1.2)) or made[-1], most=2,
                                spare_after=60, window=10, more_at=0.45, fewer_at=0.2, busy_at=0.9)
    for _ in range(8):  # signed letters: 4.8 s of the child's CPU in the window, busy 9.6 s of it
        children.stamp(0.01)
    assert children.load() > 0.45 and len(made) == 1
    holder = _held_while(children, 1.0)
    started = time.monotonic()
    assert children.stamp(0.01) == "stamped"
    assert time.monotonic() - started < 0.9  # not after the other letter, nor 60 s
    assert len(made) == 2 and children.children == 2
    holder.join(10)
    children.stamp(0.01)  # handed back beside an idle one, but the load is still high
    assert children.children == 2 and not any(child.closed for child in made)
    children.close()


@pytest.mark.parametrize("cpu, wall", [
    (0.006, None),  # unsigned letters: 0.05 s of CPU in the window
    (0.6, 0.8),  # quick ones at a high rate: 4.8 s of CPU in the window, the child busy 6.4 s of it
])
def test_letters_one_child_keeps_up_with_wait_for_it(cpu, wall):
    """A letter that finds the one child busy waits for it when the child's letters cost
    little CPU, and when they cost more than `more_at` but leave the child idle a third
    of the time: the letters are not waiting for it, and a second child (~90 MiB, ~1 s of
    CPU to start) would only take CPU from the stages that hold them up."""
    made: list[_Child] = []
    children = StampingChildren(lambda: made.append(_Child(0.01, cpu, wall=wall)) or made[-1], most=2,
                                spare_after=60, window=10, more_at=0.45, fewer_at=0.2, busy_at=0.9)
    for _ in range(8):
        children.stamp(0.01)
    holder = _held_while(children, 0.5)
    started = time.monotonic()
    assert children.stamp(0.01) == "stamped"
    assert time.monotonic() - started > 0.3  # it waited for the one child
    holder.join(10)
    assert len(made) == 1 and children.children == 1
    children.close()


def test_a_stamp_says_how_long_its_child_took(letter, seal, stamp_info):
    """What the busy share counts: a real child's letter, from sending it to its answer."""
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        started = time.monotonic()
        assert stamper.stamp(_job(stamp_info, letter, "3/2569")).mode == "stamped"
        took = time.monotonic() - started
        assert 0 < stamper.last_cpu <= stamper.last_wall <= took
    finally:
        stamper.close()


def test_a_child_that_says_nothing_or_nonsense_of_its_cpu_counts_none():
    from gateway.signatures.receive_stamp import _read_answer, _reply
    from gateway.signatures.stamp import StampResult

    result = StampResult("stamped", b"%PDF-1.7 stamped", "ab" * 32, "")
    assert _read_answer(_reply(result, 0.0123)) == (result, 0.0123)
    for told in (b'"cpu": -5', b'"cpu": 1e300', b'"cpu": "a lot"', b'"cpu": null'):
        payload = _reply(result).replace(b'"cpu": 0.0', told)
        assert told in payload and _read_answer(payload) == (result, 0.0)


def test_a_warmed_child_is_started_before_the_first_letter_and_stamps_it(letter, seal, stamp_info, capfd):
    # The runner's start warms the first child (a blank page stamped in the child, its
    # result and events thrown away): the first letters no longer waited ~1 s for its
    # imports, nor started a second child because of that wait.
    made: list[Stamper] = []

    def make() -> Stamper:
        made.append(Stamper(seal, timeout=120, memory_mb=1024, log_setup=("info", "json"),
                            warm_font=stamp_info.font_path))
        return made[-1]

    children = StampingChildren(make, most=2, spare_after=0.5)
    try:
        children.warm()
        children.warm()  # once is enough
        assert len(made) == 1 and _pid(made[0]) is not None  # started, before any letter
        first = _pid(made[0])
        results = [children.stamp(_job(stamp_info, letter, f"{n}/2569")) for n in (1, 2)]
        assert [r.mode for r in results] == ["stamped", "stamped"]
        assert len(made) == 1 and _pid(made[0]) == first
    finally:
        children.close()
    events = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    stamped = [e for e in events if e.get("event") in ("letter_stamped", "receipt_instead_of_stamp")]
    # The two letters, and nothing of the warm-up's blank page.
    assert [e.get("unit") for e in stamped] == [stamp_info.unit_name] * 2, stamped


def test_a_warm_up_that_fails_leaves_the_child_to_stamp_the_letters(letter, seal, stamp_info, capfd):
    # A font that cannot be read fails the warm-up; the child says so and still takes its letters.
    children = StampingChildren(lambda: Stamper(seal, timeout=120, memory_mb=1024, log_setup=("info", "json"),
                                                warm_font=Path("/nonexistent/font.ttf")), most=1)
    try:
        children.warm()
        assert children.stamp(_job(stamp_info, letter, "1/2569")).mode == "stamped"
    finally:
        children.close()
    events = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["warmed"] for e in events if e.get("event") == "stamp_child_ready"] == [False]
    assert [e["event"] for e in events if e.get("event") in ("letter_stamped", "receipt_instead_of_stamp")] == \
        ["letter_stamped"]


def test_the_delivery_runner_starts_its_stamping_child_with_it(tmp_path):
    from tests.daemon import Daemon, write_config
    from tests.letters import letter as make_mail

    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        [delivery] = [e["pid"] for e in d.events() if e.get("event") == "runner_spawned" and e["runner"] == "delivery"]

        def stamping_children() -> list[int]:
            # Each thread's own children: the runner's children are started by one of its threads.
            found = []
            for task in Path(f"/proc/{delivery}/task").iterdir():
                try:
                    found += [int(p) for p in (task / "children").read_text().split()]
                except OSError:
                    continue
            return sorted(found)

        assert _wait(lambda: len(stamping_children()) == 1)  # no letter yet
        [ready] = [e for e in d.wait_for_event("stamp_child_ready") if e.get("event") == "stamp_child_ready"]
        assert ready["warmed"] is True and ready["process"] == "stamp"
        for n in range(3):
            d.send(make_mail(subject=f"หนังสือที่ {n}"), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        # (Whether a second child joins depends on the machine's load: a letter held up
        # for more than a second behind another starts one.)
        assert sum(e.get("event") == "letter_stamped" for e in d.events()) == 3
    finally:
        d.stop()
