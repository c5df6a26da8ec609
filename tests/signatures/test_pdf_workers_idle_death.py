"""A PDF worker that died while idle (killed, taken by the kernel's OOM killer between
letters) is the next letter's business only in that it needs a new worker: its PDF is
read and checked as any other, never reported as "the worker died" (a finding, and an
unreadable PDF is treated as possibly classified: ลับ, fail closed)."""
from __future__ import annotations

import os
import signal
import time

from gateway.pipeline.pdf_pool import PdfPool
from gateway.signatures.worker import VerifyPool
from tests.letters import make_pdf

TIMEOUT_S = 60.0


def _kill_and_wait(pid: int) -> None:
    """SIGKILL, and back once the process is dead (a zombie until it is reaped, or gone)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still alive after SIGKILL")


def test_a_verify_worker_that_died_idle_is_replaced_and_the_next_pdf_read_and_checked(signed, trust):
    pool = VerifyPool(workers=1)
    try:
        info, verdict = pool.read_and_verify_blocking(signed, trust, TIMEOUT_S, TIMEOUT_S)
        assert verdict.document == "ok" and info.error is None
        for attempt in range(2):  # with the text and the signatures, then the text alone
            [worker] = pool._idle  # noqa: SLF001
            killed = worker.process.pid
            _kill_and_wait(killed)
            if attempt == 0:
                again, checked = pool.read_and_verify_blocking(signed, trust, TIMEOUT_S, TIMEOUT_S)
                assert (again.text, again.error, checked.document) == (info.text, None, "ok")
                assert [s.indication for s in checked.signatures] == [s.indication for s in verdict.signatures]
            else:
                plain = make_pdf("ที่ กท 0403/17 cover")
                read = pool.read_blocking(plain, TIMEOUT_S)
                assert read.error is None and "cover" in read.text
            assert pool._idle[0].process.pid != killed  # noqa: SLF001
    finally:
        pool.close()


def test_a_pdf_pool_child_that_died_idle_is_replaced_and_the_next_pdf_read():
    pool = PdfPool(timeout=TIMEOUT_S)
    pdf = make_pdf("ที่ กท 0403/17 cover")
    try:
        first = pool.inspect(pdf)
        assert first.error is None
        [worker] = pool._idle  # noqa: SLF001
        _kill_and_wait(worker.process.pid)
        second = pool.inspect(pdf)
        assert second == first
    finally:
        pool.close()


def _pdf_workers(root: int) -> list[int]:
    """The daemon's PDF workers: the processes its pipeline runners start for them
    (gateway/signatures/worker.py), `python -m gateway.service.child sigs` (the signature
    worker, which reads the text too) or `... pdf` (the PDF reader)."""
    from bench.smtp_throughput import descendants

    found = []
    for pid in descendants(root):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if cmdline.endswith((b"-m\0gateway.service.child\0sigs\0", b"-m\0gateway.service.child\0pdf\0")):
            found.append(pid)
    return found


def test_in_the_daemon_a_letter_after_its_pdf_workers_were_killed_is_registered_as_any_other(daemon_factory):
    """What a clerk sees: the letter after the kill has its receive number, is not ลับ,
    and carries no finding about a PDF that could not be read."""
    from tests.letters import letter

    d = daemon_factory().start()
    to = "saraban.latkrabang@bangkok.go.th"
    # Files that may be signed (their bytes name /ByteRange) go to the pipeline's
    # workers; an unsigned file's text is taken from the DATA check and starts none.
    d.send(letter(subject="ก่อน", files=[("2569_dds_0403_1.pdf", make_pdf("ที่ กท 0403/1 cover /ByteRange"))],
                  message_id="<before-kill@dds.bangkok.go.th>"), to)
    d.wait_for(lambda: len(d.register()) == 1, what="the first letter registered")
    workers = d.wait_for(lambda: _pdf_workers(d.proc.pid), what="the PDF workers started")
    for pid in workers:
        _kill_and_wait(pid)
    d.send(letter(subject="หลัง", files=[("2569_dds_0403_2.pdf", make_pdf("ที่ กท 0403/2 cover /ByteRange"))],
                  message_id="<after-kill@dds.bangkok.go.th>"), to)
    d.wait_for(lambda: len(d.register()) == 2, what="the second letter registered")
    first, second = sorted(d.register(), key=lambda e: e["number"])
    assert (second["secrecy"], second["status"]) == (first["secrecy"], first["status"]) == ("none", "registered")
    assert [f["rule"] for f in second["findings"]] == [f["rule"] for f in first["findings"]]
    assert "died" not in str(second["findings"]) and "failed" not in str(second["findings"])
    assert any(e.get("event") == "pdf_worker_replaced" for e in d.events())
