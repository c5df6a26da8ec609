"""The DATA-check workers (gateway/secrecy/markings.py `DataCheck`) when the SMTP
session goes away mid-check: aiosmtpd cancels the DATA handler when a client closes or
half-closes its side, and a cancelled check must leave no worker behind."""
from __future__ import annotations

import asyncio
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
