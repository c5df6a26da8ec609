"""What bounds the stamping child (gateway/signatures/receive_stamp.py `Stamper`): a letter
that overruns the deadline, fails the child or runs it out of memory gets a receipt and the
next letter a new child; the child runs under the memory cap, leaves when it is closed and
dies with its runner; an error that even a receipt cannot get past reaches the runner; the
seal the child signs with is its Stamper's, whichever child it is."""
from __future__ import annotations

import builtins
import dataclasses
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.service.process_util import process_role
from gateway.signatures.receive_stamp import StampChildError, Stamper, StampJob, _read_answer, _reply
from gateway.signatures.stamp import SealKey, StampInfo
from tests.processes import gone

FAILED = "the stamping process failed (memory limit or a parser fault)"


@dataclasses.dataclass(frozen=True)
class RaisesInTheChild(StampInfo):
    """Stamp text that cannot be read in the stamping child (for the stamp or its
    receipt): `error` is raised there. Unpickled in the child, so kept importable."""

    error: str = "MemoryError"

    def lines(self) -> list[str]:
        if process_role() == "stamp":
            raise getattr(builtins, self.error)("raised in the stamping child")
        return super().lines()


@dataclasses.dataclass(frozen=True)
class EndsTheChild(StampInfo):
    """A letter whose unpickling ends the stamping child, as a parser fault would."""

    def __reduce__(self):
        return (os._exit, (3,))


def _job(info: StampInfo, data: bytes, number: str) -> StampJob:
    return StampJob("a.pdf", data, dataclasses.replace(info, receive_number=number), number)



def test_an_overrun_gets_a_receipt_the_child_is_killed_and_the_next_letter_a_new_capped_child(letter, seal,
                                                                                             stamp_info):
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        assert stamper.stamp(_job(stamp_info, letter, "30/2569")).mode == "stamped"
        first = stamper._worker.process.pid  # noqa: SLF001
        stamper.timeout = 0.001
        # Stopped, it cannot answer within any timeout: "no stamp is that quick" did not
        # hold when the suite's load held this thread between sending and waiting (the
        # answer was already there: stamped, the overrun never seen).
        os.kill(first, signal.SIGSTOP)
        overrun = stamper.stamp(_job(stamp_info, letter, "31/2569"))
        assert (overrun.mode, overrun.reason) == ("receipt", "stamping took longer than 0.001 s")
        assert gone(first)
        stamper.timeout = 120
        later = stamper.stamp(_job(stamp_info, letter, "32/2569"))
        second = stamper._worker.process.pid  # noqa: SLF001
        limits = Path(f"/proc/{second}/limits").read_text()
    finally:
        stamper.close()
    assert later.mode == "stamped" and second != first
    [address_space] = [line.split() for line in limits.splitlines() if line.startswith("Max address space")]
    assert address_space[3:5] == [str(1024 * 1024 * 1024)] * 2  # soft and hard


@pytest.mark.parametrize("info_kind", ["ends the child", "MemoryError"])
def test_a_child_that_fails_on_a_letter_gives_it_a_receipt_and_the_next_letter_a_new_child(
        letter, seal, stamp_info, info_kind):
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    fields = {f.name: getattr(stamp_info, f.name) for f in dataclasses.fields(stamp_info)}
    bad = EndsTheChild(**fields) if info_kind == "ends the child" else RaisesInTheChild(**fields)
    try:
        assert stamper.stamp(_job(stamp_info, letter, "33/2569")).mode == "stamped"
        first = stamper._worker.process.pid  # noqa: SLF001
        failed = stamper.stamp(_job(bad, letter, "34/2569"))
        assert gone(first)
        later = stamper.stamp(_job(stamp_info, letter, "35/2569"))
    finally:
        stamper.close()
    assert (failed.mode, failed.reason) == ("receipt", FAILED)
    assert later.mode == "stamped"


def test_an_error_that_even_a_receipt_cannot_get_past_reaches_the_runner_and_the_child_stays(
        letter, seal, stamp_info):
    """A missing font or an unusable seal: receive_stamp files the letter with
    `X-Saraban-Stamp: none: ...`; the child is not to blame and stamps the next letter."""
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    fields = {f.name: getattr(stamp_info, f.name) for f in dataclasses.fields(stamp_info)}
    try:
        with pytest.raises(StampChildError, match="ValueError: raised in the stamping child"):
            stamper.stamp(_job(RaisesInTheChild(**fields, error="ValueError"), letter, "36/2569"))
        pid = stamper._worker.process.pid  # noqa: SLF001
        later = stamper.stamp(_job(stamp_info, letter, "37/2569"))
        assert stamper._worker.process.pid == pid  # noqa: SLF001
    finally:
        stamper.close()
    assert later.mode == "stamped"


def test_what_the_child_answers_is_read_as_data_and_never_unpickled(tmp_path):
    """The child parses the sender's PDF. A child taken over by a parser fault could
    answer anything: a pickle that would run code in the runner (which holds the
    database and the vault) is refused as "not an answer", and its code never runs.
    Real answers read back exactly."""
    import os
    import pickle

    from gateway.signatures.stamp import StampResult

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for hostile in (pickle.dumps((True, Evil())), pickle.dumps(Evil()), b"", b"[]\n%PDF",
                    b'{"mode": "stamped", "sha256": "x", "reason": ""}\n',  # no PDF
                    b'{"mode": "exec", "sha256": "x", "reason": ""}\n%PDF', b"\xff\xfe\n"):
        with pytest.raises(ValueError):
            _read_answer(hostile)
    assert not marker.exists()

    result = StampResult("receipt", b"%PDF-1.7\n\x00\nbinary\n", "ab" * 32, "a reason")
    assert _read_answer(_reply(result))[0] == result
    with pytest.raises(MemoryError):
        _read_answer(_reply(MemoryError()))
    with pytest.raises(StampChildError, match="^ConfigError: no font$"):
        _read_answer(_reply(type("ConfigError", (Exception,), {})("no font")))


def test_close_ends_the_child_at_once(letter, seal, stamp_info):
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    assert stamper.stamp(_job(stamp_info, letter, "38/2569")).mode == "stamped"
    child = stamper._worker.process  # noqa: SLF001
    started = time.monotonic()
    stamper.close()
    assert child.exitcode == 0 and time.monotonic() - started < 2  # left on EOF, not killed after the grace


def _signer(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf)).embedded_signatures[-1].signer_cert.dump()


def test_each_stamper_seals_with_its_own_seal_in_every_child_it_starts(letter, seal, pki, stamp_info):
    """The seal goes to the child once, at its start: a second seal (another runner's,
    or the next one after `keys create --rotate` and a restart) reaches its own child,
    and a replaced child has its Stamper's seal."""
    other = SealKey.load(pki.valid.key_path, pki.valid.cert_path, [pki.sub_ca.cert_path])
    ours, theirs = (Stamper(s, timeout=120, memory_mb=1024, log_setup=("warning", "json")) for s in (seal, other))
    try:
        first = ours.stamp(_job(stamp_info, letter, "39/2569"))
        second = theirs.stamp(_job(stamp_info, letter, "40/2569"))
        os.kill(theirs._worker.process.pid, signal.SIGKILL)  # noqa: SLF001
        theirs._worker.process.join(30)  # noqa: SLF001
        replaced = theirs.stamp(_job(stamp_info, letter, "41/2569"))
    finally:
        ours.close()
        theirs.close()
    assert [r.mode for r in (first, second, replaced)] == ["stamped"] * 3
    assert _signer(first.pdf) == pki.seal.asn1_cert().dump()
    assert _signer(second.pdf) == _signer(replaced.pdf) == pki.valid.asn1_cert().dump()


_RUNNER = """
import dataclasses, sys, threading, time
from pathlib import Path
from gateway.signatures.receive_stamp import Stamper, StampJob
from gateway.signatures.stamp import SealKey, StampInfo
from tests.signatures.test_stamp_child_bounds import SleepsInTheChild
import datetime as dt
key, cert, chain, pdf = sys.argv[1:5]
stamper = Stamper(SealKey.load(key, cert, [chain]), 120, 1024, ("warning", "json"))
info = StampInfo("สำนักงานเขตพระนคร", "42/2569", dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc))
data = Path(pdf).read_bytes()
result = stamper.stamp(StampJob("a.pdf", data, info, "42/2569"))
slow = SleepsInTheChild(info.unit_name, "43/2569", info.received_at)
threading.Thread(target=stamper.stamp, args=(StampJob("a.pdf", data, slow, "43/2569"),), daemon=True).start()
time.sleep(1)  # the child is in the letter, not reading its pipe
print(result.mode, stamper._worker.process.pid, flush=True)
time.sleep(300)
"""


@dataclasses.dataclass(frozen=True)
class SleepsInTheChild(StampInfo):
    """A letter the stamping child works on for minutes (as on a hostile file)."""

    def lines(self) -> list[str]:
        if process_role() == "stamp":
            time.sleep(300)
        return super().lines()


def test_the_child_dies_with_its_runner_killed_minus_9(letter, pki, tmp_path):
    """Killed in the middle of a letter, when the end of its pipe says nothing to it:
    PR_SET_PDEATHSIG (die_with_parent) ends it."""
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(letter)
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, str(pki.seal.key_path), str(pki.seal.cert_path),
                               str(pki.sub_ca.cert_path), str(pdf)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        # The child logs to the stdout it shares with the runner: its JSON events (a
        # library's deprecation at import, `python_warning`) may come first.
        line = runner.stdout.readline()
        while line.startswith("{"):
            line = runner.stdout.readline()
        mode, pid = line.split()
        runner.kill()
        runner.wait(30)
        deadline = time.monotonic() + 20
        while not gone(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = gone(int(pid))
        if not ended:
            os.kill(int(pid), signal.SIGKILL)  # not into the rest of the suite
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert mode == "stamped" and ended
