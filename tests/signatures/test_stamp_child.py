"""Stamps made in the stamping child after its first letter (kept event loop, frozen
collector, name table, shared font) verify and read back like stamps made in-process:
pyHanko's verdict, poppler's pdfsig and pdftotext, and a receipt where one is due."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from gateway.signatures.receive_stamp import Stamper, StampJob
from gateway.signatures.verify import verify_pdf


def _poppler(tool: str, pdf: bytes, tmp_path, *args) -> str:
    path = tmp_path / f"{tool}.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
                          capture_output=True, text=True, timeout=60).stdout


def test_the_childs_later_stamps_verify_and_read_back(letter, signed, certified, seal, trust, stamp_info, tmp_path):
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    numbers = ("15/2569", "16/2569", "17/2569", "18/2569")
    try:
        results = [stamper.stamp(StampJob("a.pdf", pdf, dataclasses.replace(stamp_info, receive_number=n), n))
                   for pdf, n in zip((letter, letter, signed, certified), numbers)]
    finally:
        stamper.close()
    assert [r.mode for r in results] == ["stamped", "stamped", "stamped", "receipt"]
    for result in results[1:]:  # the first letter is the child's warm-up
        verdict = verify_pdf(result.pdf, trust)
        assert verdict.signatures and all(s.indication == "TOTAL_PASSED" for s in verdict.signatures)
        assert not verdict.review
    if shutil.which("pdfsig") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed")
    for result, number in zip(results[1:], ("๑๖/๒๕๖๙", "๑๗/๒๕๖๙", "๑๘/๒๕๖๙")):
        sigs = _poppler("pdfsig", result.pdf, tmp_path, "-nocert")
        assert "Signature #1" in sigs and sigs.count("Signature is Valid") == sigs.count("Signature #"), sigs
        assert f"เลขรับ{number}" in "".join(_poppler("pdftotext", result.pdf, tmp_path, "-f", "1", "-l", "1").split())


def test_the_child_freezes_once_and_never_counts_the_frozen(monkeypatch):
    """gc.get_freeze_count() walks every frozen object (CPython 3.11): asked after each
    letter it cost the child ~10 ms of CPU a stamp, more than the stamp itself."""
    import gateway.signatures.receive_stamp as receive_stamp
    import gateway.signatures.stamp as stamp

    calls = []

    class Collector:
        def collect(self):
            calls.append("collect")

        def freeze(self):
            calls.append("freeze")

        def get_freeze_count(self):
            raise AssertionError("the frozen objects counted one by one")

    monkeypatch.setattr(receive_stamp, "gc", Collector())
    monkeypatch.setattr(receive_stamp, "_frozen", False)
    monkeypatch.setattr(receive_stamp, "_loop", None)
    monkeypatch.setattr(stamp, "stamp_pdf", lambda data, info, seal, loop=None: data)
    try:
        assert [receive_stamp._stamp_in_child(n, None, None) for n in (b"1", b"2", b"3")] == [b"1", b"2", b"3"]
    finally:
        if receive_stamp._loop is not None:
            receive_stamp._loop.close()
    assert calls == ["collect", "freeze"]


def test_a_child_that_died_between_letters_is_replaced_and_the_next_letter_stamped(letter, seal, stamp_info):
    """Killed while idle (an operator, the OOM killer): the pool is broken before the next
    letter is submitted. That letter, and the ones after it, get a new child and a stamp,
    not a receipt each until the daemon restarts."""
    import os
    import signal
    import time

    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        first = stamper.stamp(StampJob("a.pdf", letter, dataclasses.replace(stamp_info, receive_number="20/2569"),
                                       "20/2569"))
        pid = stamper._worker.process.pid  # noqa: SLF001 - the child to kill
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _state(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)  # dead, not yet reaped: the next letter finds it so
        assert _state(pid) == "Z"
        later = [stamper.stamp(StampJob("a.pdf", letter, dataclasses.replace(stamp_info, receive_number=n), n))
                 for n in ("21/2569", "22/2569")]
    finally:
        stamper.close()
    assert [first.mode] + [r.mode for r in later] == ["stamped", "stamped", "stamped"]


def _state(pid: int) -> str:
    stat = open(f"/proc/{pid}/stat").read()
    return stat[stat.rindex(")") + 2]
