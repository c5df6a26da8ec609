"""With several pipeline runners, receive numbers (เลขรับ) still follow the order letters
arrived in.

The register is kept in order of receipt (ระเบียบงานสารบรรณ: numbers run through the
year as letters come in). Each runner used to take the spool entries of its own
partition (a hash of the queue id): runner B, with short letters, registered them while
runner A was still reading an older letter's 2 MB PDF, so the older letter got the
later number (the red team's run: the first letter in got เลขรับ 10, and 9/2569 showed a
later time of receipt than 10/2569).

Now a runner claims a block: the oldest entries no live runner holds, in arrival order,
each claim numbered in the order blocks were claimed (one counter for all runners,
under a lock). A runner reads and checks its block at once, in parallel with the
others, and registers it only when no block claimed before it is still held by a live
runner. A block never waits for one claimed after it, so two runners can never wait
for each other. A claim is a file `spool/claims/<queue id>` holding its number and the
runner's pid: a hint, not a record; a runner killed with `kill -9` leaves claims whose
pid is gone (or a zombie not yet reaped), and they count for nothing (exactly-once rests on the database, as
before: gateway/pipeline/process.py); the daemon's start drops every claim of the last
run (`forget_all`), whose pids other processes may hold by then.

A letter that waits (its sender's DNS, a back-off after a failure) is not claimed
while it waits: it takes its number when it is registered, as with one runner.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from gateway.service.process_util import pid_alive

log = structlog.get_logger("gateway.pipeline.register_order")

# A block whose turn has not come after this long registers anyway (the log says so):
# an older block's runner alive but stuck must cost order, never letters.
TURN_TIMEOUT = 120.0


class RegisterOrder:
    def __init__(self, spool_root: Path, pid: int | None = None):
        self.dir = spool_root / "claims"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pid = pid or os.getpid()
        self.mine: list[str] = []
        self.seq = 0

    # -- claiming --------------------------------------------------------------------

    def claim(self, pending: Iterable[str], size: int, eligible: Callable[[str], bool]) -> list[str]:
        """Claim up to `size` of the oldest `pending` entries no live runner holds and
        that `eligible` accepts; returns them, oldest first (they are this runner's
        block until `release`)."""
        with self._locked():
            held = self._held()
            block = []
            for queue_id in pending:
                if len(block) >= size:
                    break
                if queue_id in held or not eligible(queue_id):
                    continue
                block.append(queue_id)
            if not block:
                return []
            self.seq = self._next_seq()
            for queue_id in block:
                (self.dir / queue_id).write_text(f"{self.seq} {self.pid}", encoding="ascii")
        self.mine = block
        return list(block)

    def release(self) -> None:
        for queue_id in self.mine:
            try:
                (self.dir / queue_id).unlink()
            except FileNotFoundError:
                pass
        self.mine = []

    # -- waiting for the turn -----------------------------------------------------------

    def wait_turn(self, timeout: float = TURN_TIMEOUT, poll: float = 0.005) -> None:
        """Return once no block claimed before this one is held by a live runner. Not cut
        short by a stop: the older block's runner finishes its batch as this one does,
        and a runner killed while it waits has registered nothing."""
        started = time.monotonic()
        delay = poll
        while True:
            earlier = self._earlier()
            if not earlier:
                return
            if time.monotonic() - started > timeout:
                log.warning("register_order_timeout", waited=round(time.monotonic() - started, 1),
                            earlier=sorted(earlier)[:5])
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _earlier(self) -> list[str]:
        out = []
        for queue_id, (seq, pid) in self._claims().items():
            if seq < self.seq and pid != self.pid and pid_alive(pid):
                out.append(queue_id)
        return out

    # -- the files ------------------------------------------------------------------------

    @staticmethod
    def forget_all(spool_root: Path) -> int:
        """At the daemon's start, before any runner: every claim left is of a run that
        died (kill -9, a power cut). Its pid may belong to another process by now (after
        a reboot pids start again; a container's pid_max is 32768): such a claim looked
        held by a live runner, so its letter was never taken, and every later block
        waited TURN_TIMEOUT for it (session 20). Returns how many were removed."""
        removed = 0
        folder = spool_root / "claims"
        for name in os.listdir(folder) if folder.is_dir() else ():
            if not name.startswith("."):
                try:
                    (folder / name).unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def _claims(self) -> dict[str, tuple[int, int]]:
        out = {}
        for name in os.listdir(self.dir):
            if name.startswith("."):
                continue
            try:
                seq, pid = (self.dir / name).read_text(encoding="ascii").split()
                out[name] = (int(seq), int(pid))
            except (OSError, ValueError):
                continue  # released meanwhile, or half written by a runner that died
        return out

    def _held(self) -> set[str]:
        """Entries claimed by a live runner other than this one; a dead runner's claims
        are removed."""
        held = set()
        for queue_id, (_seq, pid) in self._claims().items():
            if pid != self.pid and pid_alive(pid):
                held.add(queue_id)
            elif pid != self.pid:
                try:
                    (self.dir / queue_id).unlink()
                except FileNotFoundError:
                    pass
        return held

    def _next_seq(self) -> int:
        counter = self.dir / ".seq"
        try:
            seq = int(counter.read_text(encoding="ascii") or 0) + 1
        except (OSError, ValueError):
            seq = 1
        counter.write_text(str(seq), encoding="ascii")
        return seq

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The claims' lock, held while a block is chosen and numbered (closing the
        descriptor releases it)."""
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
