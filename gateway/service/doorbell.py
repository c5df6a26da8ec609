"""A runner with nothing to do naps until another process of this gateway rings its
doorbell ("there is work for you now"), rather than asking the database every few
milliseconds whether there is.

The delivery runner asked the outbox every 2 x `[pipeline] poll_interval` (100 ms; 40 ms
in the tests) whether an item was due: 25 queries a second, 4.5 % of a core, for a
gateway that had nothing to deliver all night (session 21's measurement), and most of
the test suite's daemons sit idle between letters. Now whoever makes an item due (the
pipeline registering a letter, an operator's `outbox retry` or release, the desk) rings
after its commit, and the runner works it at once; a nap is otherwise as long as the
next scheduled attempt allows, up to MAX_NAP, so that what nobody rang for (an item of
the other gateway on a shared PostgreSQL, a clock stepped back) waits that long at most.

The bell is a Linux abstract-namespace datagram socket named after the data
directory: nothing on disk for a backup or a `grep -r` to trip over, and no path-length
limit. Anyone on the host can ring it; a ring only makes the runner look earlier than
it would have, and never more often than its shortest nap, as before."""
from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

DELIVERY_BELL = "delivery"  # rung when an outbox item becomes due (storage/db.py's hook)
# and "pipeline-<index>", rung when a letter is in the spool (gateway/spool.py's announce)

# The longest nap of an idle runner: how late, at most, it sees work nobody rang for.
MAX_NAP = 2.0


def address(data_dir: Path, name: str) -> bytes:
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:32]
    return f"\0saraban-gateway/{digest}/{name}".encode()


def ring(data_dir: Path, *names: str) -> None:
    """Tell the runners `names` of this data directory that there is work, through one
    socket. Never fails and never waits: a runner not listening (stopped, being replaced)
    looks by itself."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        return
    with sock:
        sock.setblocking(False)
        for name in names:
            try:
                sock.sendto(b"!", address(data_dir, name))
            except OSError:
                pass  # nobody listening (ECONNREFUSED), its queue full (EAGAIN: rung already)


def pipeline_bell(index: int) -> str:
    return f"pipeline-{index}"


def ring_pipelines(data_dir: Path, runners: int) -> None:
    """A letter is in the spool: every pipeline runner may take it (their claims share
    the spool out in arrival order: gateway/pipeline/register_order.py)."""
    ring(data_dir, *(pipeline_bell(index) for index in range(runners)))


class Doorbell:
    """The listening end, for a runner whose threads nap in `nap`. A ring wakes every
    napping thread (each works its own share of the items)."""

    def __init__(self, data_dir: Path, name: str):
        self._address = address(data_dir, name)
        self._sock: socket.socket | None = None
        self._rings = 0
        self._changed = threading.Condition()
        self._listener: threading.Thread | None = None
        self._thread = threading.local()  # .woke: when this thread's last nap ended
        self._binding = threading.Lock()

    @property
    def rings(self) -> int:
        """Read before looking for work; given to `nap`, so that a ring between the
        look and the nap is not slept through."""
        return self._rings

    def _listen(self) -> bool:
        with self._binding:
            return self._listener is not None or self._bind()

    def _bind(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self._address)
        except OSError:
            # The runner this one replaces (a reload) still holds the name: naps stay
            # short (the caller's floor) until it is gone.
            sock.close()
            return False
        self._sock = sock
        self._listener = threading.Thread(target=self._receive, daemon=True, name="doorbell")
        self._listener.start()
        return True

    def _receive(self) -> None:
        sock = self._sock
        while True:
            try:
                sock.recv(64)
            except OSError:
                return  # closed
            if self._sock is None:
                return  # shut down: recv returns at once from now on
            self.wake()

    def wake(self) -> None:
        """Wake every napping thread (a ring; or the runner is stopping)."""
        with self._changed:
            self._rings += 1
            self._changed.notify_all()

    def nap(self, seen: int, seconds: float, floor: float) -> None:
        """Sleep up to `seconds` (at least `floor`), or until a ring after `seen`. Two
        naps of one thread end at least `floor` apart, however fast the bell is rung:
        a flood of rings costs no more queries than the old polling did."""
        earliest = getattr(self._thread, "woke", 0.0) + floor
        if self._listen():
            with self._changed:
                self._changed.wait_for(lambda: self._rings != seen, timeout=max(seconds, floor))
        rest = earliest - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        self._thread.woke = time.monotonic()

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the listener's recv returns
            except OSError:
                pass
            if self._listener is not None:
                self._listener.join(1.0)  # its recv holds the socket, and the name with it
            sock.close()
