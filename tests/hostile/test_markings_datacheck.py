"""The classification worker intake calls at the end of DATA (gateway/secrecy/markings.py):
bytes or a spool draft on disk, a deadline, and no worker left when it is closed."""
from __future__ import annotations

import asyncio

from gateway.secrecy.markings import DataCheck
from tests.hostile.markings_cases import nested
from tests.letters import letter


def _run(coro):
    return asyncio.run(coro)


def test_bytes_and_a_draft_file_after_its_envelope_line(tmp_path):
    async def main():
        check = DataCheck(workers=1)
        try:
            body_only = letter(body="ข้อความ\nลับที่สุด\n")
            found = await check.classify(body_only)
            draft = tmp_path / "x.draft"
            envelope = b'SARABAN-SPOOL {"queue_id": "x"}\n'
            draft.write_bytes(envelope + body_only)
            from_file = await check.classify(draft, offset=len(envelope))
            plain = await check.classify(letter())
            unreadable = await check.classify(nested(1000, subject_word="แจ้ง"))
            return found, from_file, plain, unreadable
        finally:
            await check.aclose()

    found, from_file, plain, unreadable = _run(main())
    assert (found.level, found.where) == ("top_secret", "body")
    assert (from_file.level, from_file.where) == ("top_secret", "body")
    assert plain.level == "none" and plain.certain
    assert (unreadable.level, unreadable.certain) == ("confidential", False)


def test_a_worker_past_its_deadline_is_killed_and_the_letter_is_uncertain():
    async def main():
        check = DataCheck(timeout=0.001, workers=1)
        first = await check.classify(letter())
        worker = check._spawned[-1]
        await worker.proc.wait()
        check.timeout = 60
        second = await check.classify(letter())
        await check.aclose()
        return first, worker.proc.returncode, second

    first, returncode, second = _run(main())
    assert (first.level, first.where, first.certain) == ("confidential", "not read in time", False)
    assert returncode is not None  # killed, not left behind
    assert (second.level, second.certain) == ("none", True)  # a fresh worker took over


def test_a_worker_that_died_while_idle_is_replaced_and_the_next_letter_read_as_any_other():
    """Killed between letters (by a person, by the kernel's OOM killer): the next letter
    had no part in it, so it is read by a new worker, not answered "unreadable" (which
    makes it possibly ลับ, kept sealed until the pipeline has read it again)."""
    async def main():
        check = DataCheck(workers=1)
        try:
            await check.start()
            [worker] = check._idle  # noqa: SLF001
            worker.proc.kill()
            await worker.proc.wait()
            return await check.classify(letter()), worker in check._idle  # noqa: SLF001
        finally:
            await check.aclose()

    found, dead_kept = _run(main())
    assert (found.level, found.certain) == ("none", True)
    assert not dead_kept
