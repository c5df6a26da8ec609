"""A PDF worker killed while it works on a letter's PDF (session 56, crash red team):
the kernel's OOM killer taking the largest process of a loaded machine, a person's
`kill -9` of a stuck-looking python. tests/signatures/test_pdf_workers_idle_death.py
covers the worker that died between letters; one killed with the file in hand was taken
for a file that crashes its parser. Reading the text, that was "the PDF reader failed",
an unreadable PDF, so the letter was at least ลับ: an ordinary letter pulled from the
central mailbox was sealed and registered in the secret book (1/2569 of `secret`, a
registrar's copy owed, nothing in the unit's folder). Checking the signature, the clerk
read "the signature checker died on this PDF" of a sound file. The file now goes to a new
worker once; only a second death on it is the file's doing."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from gateway.spool import Spool
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf
from tests.signatures.test_pdf_workers_idle_death import _pdf_workers

TO = "saraban.latkrabang@bangkok.go.th"


def _job_waiting(pid: int) -> bool:
    """Whether bytes wait unread in a socket of process `pid` (ss's Recv-Q): the job sent
    to a worker that is stopped."""
    listing = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if re.search(rf"pid={pid},", line) and len(fields) > 2 and fields[2].isdigit() and int(fields[2]) > 0:
            return True
    return False


def _kill_in_hand(d: Daemon, stall, put_letter) -> None:
    """The runner held before it reads the letter `put_letter` puts in; the PDF workers
    stopped; the runner let go; the worker the PDF was sent to killed with it unread."""
    workers = d.wait_for(lambda: _pdf_workers(d.proc.pid), what="the PDF workers started")
    stall.write_text("held", encoding="ascii")
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)  # alive, so the file is sent to it, and stays unread
    put_letter()
    markers = d.wait_for(lambda: list(stall.parent.glob(f"{stall.name}.*")), what="the runner holding the letter")
    stall.unlink()
    for marker in markers:
        marker.unlink()
    [busy] = d.wait_for(lambda: [pid for pid in workers if _job_waiting(pid)], what="the PDF sent to a worker")
    os.kill(busy, signal.SIGKILL)
    for pid in workers:
        if pid != busy:
            os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("in_hand", ["signature check", "text"])
def test_a_letter_whose_pdf_worker_is_killed_with_its_pdf_is_registered_as_any_other(tmp_path, in_hand):
    stall = tmp_path / "stall"
    d = Daemon(write_config(tmp_path / "gw"), env={"SARABAN_STALLPOINT": "after_spool_read",
                                                   "SARABAN_STALL_FILE": str(stall)}).start()

    def pdf_letter(n: int) -> bytes:
        # Bytes that name /ByteRange may be signed: the pipeline's own worker checks them.
        return letter(subject=f"ขอเชิญประชุม {n}", files=[(f"2569_dds_0403_{n}.pdf", make_pdf(f"ที่ กท 0403/{n} /ByteRange"))],
                      message_id=f"<worker-killed-{n}@dds.bangkok.go.th>")

    def registered(count: int) -> list[dict]:
        d.wait_for(lambda: len(d.register()) == count, what=f"{count} letters registered")
        return sorted(d.register(), key=lambda e: e["number"])

    try:
        d.send(pdf_letter(1), TO)
        [first] = registered(1)
        if in_hand == "signature check":  # over SMTP the DATA check read the text
            _kill_in_hand(d, stall, lambda: d.send(pdf_letter(2), TO))
        else:  # as IMAP intake spools a letter (no DATA check): the worker reads the text
            _kill_in_hand(d, stall, lambda: Spool(d.data_dir / "spool").accept(
                pdf_letter(2), "saraban.dds@bangkok.go.th", [TO]))
        second = registered(2)[1]
        assert (second["receive_no"].split("/")[0], second["book"], second["secrecy"], second["status"]) == \
            ("2", "general", "none", "registered"), second
        assert [f["rule"] for f in second["findings"]] == [f["rule"] for f in first["findings"]], second["findings"]
        assert "died" not in str(second["findings"]) and "failed" not in str(second["findings"])
        d.wait_idle()
        assert len(d.maildir_files("latkrabang")) == 2  # both in the unit's folder
        again = "pdf_verify_worker_died_checking_again" if in_hand == "signature check" \
            else "pdf_read_worker_died_reading_again"
        assert any(e.get("event") == again for e in d.events())
    finally:
        d.stop()


def _dies_on_every_file(conn, *_args) -> None:
    """A worker whose parser a file crashes: each job it is given kills it. Counts its jobs
    beside SARABAN_TEST_DEATHS (each a byte), so the test sees how many children tried."""
    conn.recv_bytes()
    with open(os.environ["SARABAN_TEST_DEATHS"], "ab") as count:
        count.write(b"x")
    os._exit(70)


@pytest.mark.parametrize("pool_kind", ["verify", "pdf"])
def test_a_file_that_kills_a_new_worker_too_is_unreadable_as_before_after_two_tries(tmp_path, monkeypatch, pool_kind):
    """The other side: a file on which the second worker dies as well is the file's doing,
    read as before (the PDF reader failed: at least ลับ, fail closed), and no third worker
    is spent on it."""
    from gateway.pipeline import pdf_pool
    from gateway.service.worker_process import WorkerProcess
    from gateway.signatures import worker as signature_worker

    deaths = tmp_path / "deaths"
    monkeypatch.setenv("SARABAN_TEST_DEATHS", str(deaths))
    data = make_pdf("ที่ กท 0403/9 /ByteRange")
    if pool_kind == "verify":
        monkeypatch.setattr(signature_worker, "_worker_main", _dies_on_every_file)
        pool = signature_worker.VerifyPool(workers=1)
        read = lambda: pool.read_blocking(data, 60.0)  # noqa: E731
    else:
        pool = pdf_pool.PdfPool(timeout=60.0)
        pool._idle = [WorkerProcess(_dies_on_every_file, (), "pdf", log=pdf_pool.log,  # noqa: SLF001
                                    replaced="pdf_worker_replaced", idle_reason="ended while idle")]
        read = lambda: pool.inspect(data)  # noqa: E731
    try:
        info = read()
    finally:
        pool.close()
    assert info.text is None and info.error.startswith("the PDF reader failed"), info
    assert deaths.read_bytes() == b"xx"


def test_a_stamping_child_killed_with_the_letter_in_hand_stamps_it_anew(letter, seal, stamp_info):
    """The delivery runner's stamping child killed while it stamps (the OOM killer, an
    operator): the folder copy carried a receipt page "the stamping process failed (memory
    limit or a parser fault)" instead of the receive stamp on the letter, for good. A new
    child now stamps it; one that the file kills again still gives the receipt."""
    import dataclasses
    import threading

    from gateway.signatures.receive_stamp import Stamper, StampJob

    def job(number: str) -> StampJob:
        return StampJob("a.pdf", letter, dataclasses.replace(stamp_info, receive_number=number), number)

    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        first = stamper.stamp(job("30/2569"))
        pid = stamper._worker.process.pid  # noqa: SLF001 - the child to kill
        os.kill(pid, signal.SIGSTOP)  # alive, so the letter is sent to it, and stays unread
        done: list = []
        stamping = threading.Thread(target=lambda: done.append(stamper.stamp(job("31/2569"))))
        stamping.start()
        deadline = time.monotonic() + 60
        while not _job_waiting(pid) and time.monotonic() < deadline:
            stamping.join(0.02)
        assert _job_waiting(pid), "the letter never reached the stamping child"
        os.kill(pid, signal.SIGKILL)
        stamping.join(120)
    finally:
        stamper.close()
    assert [first.mode, done[0].mode] == ["stamped", "stamped"], done[0]


def test_a_letter_that_kills_a_new_stamping_child_too_gets_its_receipt_after_two_tries(
        tmp_path, monkeypatch, letter, seal, stamp_info):
    import dataclasses

    from gateway.signatures import receive_stamp

    deaths = tmp_path / "deaths"
    monkeypatch.setenv("SARABAN_TEST_DEATHS", str(deaths))
    monkeypatch.setattr(receive_stamp, "_child_main", _dies_on_every_file)
    stamper = receive_stamp.Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        result = stamper.stamp(receive_stamp.StampJob(
            "a.pdf", letter, dataclasses.replace(stamp_info, receive_number="32/2569"), "32/2569"))
    finally:
        stamper.close()
    assert result.mode == "receipt"
    assert deaths.read_bytes() == b"xx"
