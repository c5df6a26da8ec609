"""The DATA-check workers (gateway/secrecy/markings.py `DataCheck`) when the SMTP
session goes away mid-check: aiosmtpd cancels the DATA handler when a client closes or
half-closes its side, and a cancelled check must leave no worker behind."""
from __future__ import annotations

import asyncio
import contextlib
import time

from gateway.secrecy.markings import DataCheck
from tests.letters import letter


def test_a_check_cancelled_by_a_vanished_client_leaves_no_worker_behind():
    async def main():
        check = DataCheck(workers=1)
        await check.start()
        worker = check._spawned[-1]
        # The worker imports and warms up (~1 s) before it reads a request: the
        # check is certainly waiting on it when it is cancelled.
        task = asyncio.create_task(check.classify(letter(body="ลับที่สุด\n")))
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        started = time.monotonic()
        await asyncio.wait_for(worker.proc.wait(), 5)
        waited = time.monotonic() - started
        idle, live = list(check._idle), [w for w in check._spawned if w.proc.returncode is None]
        await check.aclose()
        return worker.proc.returncode, waited, idle, live

    returncode, waited, idle, live = asyncio.run(main())
    assert returncode is not None and waited < 1  # killed, not left to finish
    assert idle == [] and live == []  # never handed to the next letter with a stale answer


def test_when_the_worker_fails_the_headers_are_still_read_and_refuse_top_secret(tmp_path):
    """The worker has no time at all: the SMTP process reads the header block itself (in
    a thread, not in the event loop that serves every session)."""
    marked = letter(extra_headers={"X-Classification": "004"})
    draft = tmp_path / "x.draft"
    draft.write_bytes(b"ENVELOPE\n" + marked)

    async def main():
        check = DataCheck(timeout=0.001, workers=1)
        try:
            from_bytes = await check.classify(marked)
            from_file = await check.classify(draft, offset=len(b"ENVELOPE\n"))
            plain = await check.classify(letter())
        finally:
            await check.aclose()
        return from_bytes, from_file, plain

    from_bytes, from_file, plain = asyncio.run(main())
    assert (from_bytes.level, from_bytes.where) == ("top_secret", "header X-Classification")
    assert (from_file.level, from_file.where) == ("top_secret", "header X-Classification")
    assert (plain.level, plain.certain) == ("confidential", False)  # unread: at least ลับ


SLOW = "SLOW-CHECK-spare-77"  # SARABAN_TEST_SLOW_CHECK: the worker holding it sleeps past its deadline


def _live(check: DataCheck) -> int:
    return len([w for w in check._spawned if w.proc.returncode is None])


def test_a_quiet_check_keeps_one_worker_and_a_second_letter_brings_the_other_back(monkeypatch):
    """Two workers from the start; with no two letters read at once for spare_idle, one
    goes. One letter at a time is then read by the one left. A letter that arrives while
    a slow one holds it starts the other again and is read long before the slow one's
    deadline; two letters at once start it too, and a quiet spell ends it again."""
    monkeypatch.setenv("SARABAN_TEST_SLOW_CHECK", SLOW)

    async def until_one(check: DataCheck) -> int:
        for _ in range(80):  # spare_idle after the last overlap, then its timer
            if _live(check) == 1:
                break
            await asyncio.sleep(0.1)
        return _live(check)

    async def main():
        check = DataCheck(timeout=20.0, workers=2, spare_idle=1.0)
        try:
            await check.start()
            at_start = _live(check)
            quiet = await until_one(check)
            one_by_one = [await check.classify(letter(subject=f"ปกติ {n}"), client=f"10.0.0.{n}")
                          for n in range(6)]
            after_them = _live(check)
            slow = asyncio.create_task(check.classify(letter(subject=f"slow {SLOW}"), client="10.0.1.1"))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            held_up = await check.classify(letter(body="ลับ\n"), client="10.0.1.2")
            waited = time.monotonic() - started
            with_second = _live(check)
            still_slow = not slow.done()
            slow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slow  # its worker killed with it: one left
            pair = await asyncio.gather(*(check.classify(letter(), client=f"10.0.2.{n}") for n in range(2)))
            after_pair = _live(check)
            return (at_start, quiet, one_by_one, after_them, held_up, waited, with_second, still_slow,
                    pair, after_pair, await until_one(check))
        finally:
            await check.aclose()

    (at_start, quiet, one_by_one, after_them, held_up, waited, with_second, still_slow,
     pair, after_pair, at_end) = asyncio.run(main())
    assert (at_start, quiet) == (2, 1)
    assert all(found.certain and found.level == "none" for found in one_by_one), one_by_one
    assert after_them == 1  # letters one at a time: no second interpreter
    assert (held_up.level, held_up.certain) == ("confidential", True)  # read by the second, not given up
    assert still_slow and waited < 15, waited  # long before the slow letter's 20 s
    assert with_second == 2
    assert [found.certain for found in pair] == [True, True] and after_pair == 2  # two at once: two workers
    assert at_end == 1  # and one again after a quiet spell


def test_no_second_worker_when_the_limit_is_one(monkeypatch):
    """workers=1: a letter waiting behind a slow one waits (up to the queue timeout); no
    second interpreter is started beside the one."""
    monkeypatch.setenv("SARABAN_TEST_SLOW_CHECK", SLOW)

    async def main():
        check = DataCheck(timeout=20.0, workers=1, queue_timeout=10)
        try:
            await check.start()
            slow = asyncio.create_task(check.classify(letter(subject=f"slow {SLOW}"), client="10.0.2.1"))
            await asyncio.sleep(0.2)
            waiting = asyncio.create_task(check.classify(letter(), client="10.0.2.2"))
            await asyncio.sleep(1.5)  # a second worker would have started at once
            seen = _live(check), waiting.done(), slow.done()
            for task in (slow, waiting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return seen
        finally:
            await check.aclose()

    live, waiting_done, slow_done = asyncio.run(main())
    assert live == 1
    assert not waiting_done and not slow_done  # still waiting for the one worker
