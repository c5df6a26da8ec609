"""`/healthz`: can this gateway take a letter and see it through right now?

Four checks, each answering ok + detail: the spool takes a durable write (what SMTP
needs before its 250), the database answers, every runner process is alive, and the
disks keep the free space below which MAIL FROM is answered 452
(gateway/intake/disk_space.py)."""
from __future__ import annotations

import asyncio
import os
import secrets
import time
import threading
from typing import Callable

from gateway.intake.disk_space import StorageGuard
from gateway.spool import Spool
from storage.db import Database


def check_spool(spool: Spool) -> tuple[bool, str]:
    probe = spool.tmp / f"healthz-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return False, f"cannot write {spool.tmp}: {exc.strerror or exc}"
    return True, f"{spool.depth()} pending"


LOCK_PROBE = 3.0  # seconds a probe waits for the lock registering needs (a long batch is not "stuck")
HTTP_DEADLINE = 8.0  # seconds /healthz and /metrics wait for their answer (under Prometheus's 10 s)


def check_database(db: Database) -> tuple[bool, str]:
    started = time.monotonic()
    # First, and alone: SELECT 1 answers from the file the connections still hold, and the
    # lock probe's own connection would make a new, empty database at the path.
    moved = db.file_moved()
    if moved is not None:
        return False, str(moved)
    try:
        db.ping()
        # SELECT 1 answers while another program holds the lock every registration
        # needs: the check said ok while no letter could be registered (session 18).
        blocked = db.writer_blocked(LOCK_PROBE)
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    if blocked:
        return False, stuck_words(blocked, LOCK_PROBE)
    return True, f"{db.engine.dialect.name}, {1000 * (time.monotonic() - started):.0f} ms"


def stuck_words(blocked: str, waited: float) -> str:
    """The same words in /healthz and `status`."""
    return (f"stuck: {blocked} and did not let go within {waited:.0f} s; letters are accepted and "
            "wait in the spool, registered in order once it is released")


class Bounded:
    """A blocking check for an HTTP route (/healthz, /metrics), on a thread of its own,
    one at a time, waited for at most `seconds`: a request that comes while one is
    still running waits for that one. On the event loop's shared pool, each scrape of a
    stuck database kept a thread, and once they were all taken the spool commit before
    an SMTP 250 waited behind them: senders timed out and SIGTERM hung (session 18).
    A daemon thread: one stuck for good on a frozen server does not hold the exit up."""

    def __init__(self, seconds: float, name: str):
        self.seconds, self.name = seconds, name
        self._running: asyncio.Future | None = None

    async def __call__(self, fn: Callable, *args):  # noqa: ANN204 - fn's result, or None past the deadline
        if self._running is None or self._running.done():
            loop = asyncio.get_running_loop()
            self._running = future = loop.create_future()
            # Read even when every request gave up waiting: no "exception never retrieved".
            future.add_done_callback(lambda done: done.cancelled() or done.exception())

            def answer(outcome: Callable[[], object]) -> None:
                if not future.done():
                    outcome()

            def work() -> None:
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting route
                    done = lambda: answer(lambda: future.set_exception(exc))  # noqa: E731
                else:
                    done = lambda: answer(lambda: future.set_result(result))  # noqa: E731
                try:
                    loop.call_soon_threadsafe(done)
                except RuntimeError:
                    pass  # the loop closed meanwhile (the daemon stopped)

            threading.Thread(target=work, name=self.name, daemon=True).start()
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self.seconds)
        except asyncio.TimeoutError:
            return None


def stalled(seconds: float) -> dict:
    """/healthz's body when the checks themselves did not finish in time."""
    detail = (f"the checks did not finish within {seconds:.0f} s: the database (or the spool's disk) "
              "does not answer")
    return {"status": "fail", "failed": ["stalled"], "checks": {"stalled": {"ok": False, "detail": detail}},
            "warnings": []}


def check_runners(alive: dict[str, bool], restarting: bool = False) -> tuple[bool, str]:
    dead = sorted(name for name, ok in alive.items() if not ok)
    if restarting:
        return True, "restarting for a reload"
    if dead:
        return False, "not running: " + ", ".join(dead)
    return True, f"{len(alive)} running"


def check_numbering(gate: dict) -> tuple[bool, str]:
    """Fails while numbering is held after a restore (gateway/service/numbering.py): letters
    get their 250 and wait, none is registered, filed or acknowledged until the sysadmin
    acts. Until session 53 /healthz said ok meanwhile, and only `status` warned."""
    if gate.get("state") == "held":
        return False, gate.get("detail") or "numbering held after a restore"
    return True, gate.get("state", "open")


def check_clock(refusing: str | None) -> tuple[bool, str]:
    """Fails while SMTP answers every letter 451 for a clock in a year before the
    register's (gateway/intake/clock_guard.py). Until session 53 /healthz said ok
    meanwhile: no letter was taken and only `status` and the log said why."""
    return (False, refusing) if refusing else (True, "in the register's year")


def check_disk(guard: StorageGuard) -> tuple[bool, str]:
    reading = guard.reading()
    return reading.ok, reading.describe()


def health(spool: Spool, db: Database, runners: Callable[[], dict[str, bool]],
           restarting: Callable[[], bool] = lambda: False, warnings: list[str] | None = None,
           disk: StorageGuard | None = None,
           waiting: Callable[[Database], list[str]] | None = None,
           numbering: Callable[[], dict] | None = None,
           clock: Callable[[], str | None] | None = None) -> tuple[bool, dict]:
    """(healthy, body) — blocking (fsync, a database round trip): call it off the event loop.
    `waiting`: more warnings read from the database (readiness.waiting_warnings)."""
    results = {
        "spool": check_spool(spool),
        "database": check_database(db),
        "runners": check_runners(runners(), restarting()),
    }
    warnings = list(warnings or [])
    if waiting is not None and results["database"][0]:
        try:
            warnings += waiting(db)
        except Exception:  # noqa: BLE001 - the database check above says what is wrong with it
            pass
    if disk is not None:
        results["disk"] = check_disk(disk)
    if numbering is not None:
        results["numbering"] = check_numbering(numbering())
    if clock is not None:
        results["clock"] = check_clock(clock())
    checks = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()}
    healthy = all(c["ok"] for c in checks.values())
    failed = [name for name, c in checks.items() if not c["ok"]]
    # Warnings do not fail the check (letters still arrive and are filed); they are in
    # the body so that a monitor showing it tells the operator what is not working.
    return healthy, {"status": "ok" if healthy else "fail", "failed": failed, "checks": checks,
                     "warnings": list(warnings or [])}
