"""`/healthz`: can this gateway take a letter and see it through right now?

Four checks, each answering ok + detail: the spool takes a durable write (what SMTP
needs before its 250), the database answers, every runner process is alive, and the
disks keep the free space below which MAIL FROM is answered 452
(gateway/intake/disk_space.py)."""
from __future__ import annotations

import os
import secrets
import time
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


def check_database(db: Database) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        db.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return True, f"{db.engine.dialect.name}, {1000 * (time.monotonic() - started):.0f} ms"


def check_runners(alive: dict[str, bool], restarting: bool = False) -> tuple[bool, str]:
    dead = sorted(name for name, ok in alive.items() if not ok)
    if restarting:
        return True, "restarting for a reload"
    if dead:
        return False, "not running: " + ", ".join(dead)
    return True, f"{len(alive)} running"


def check_disk(guard: StorageGuard) -> tuple[bool, str]:
    reading = guard.reading()
    return reading.ok, reading.describe()


def health(spool: Spool, db: Database, runners: Callable[[], dict[str, bool]],
           restarting: Callable[[], bool] = lambda: False, warnings: list[str] | None = None,
           disk: StorageGuard | None = None,
           waiting: Callable[[Database], list[str]] | None = None) -> tuple[bool, dict]:
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
    checks = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()}
    healthy = all(c["ok"] for c in checks.values())
    failed = [name for name, c in checks.items() if not c["ok"]]
    # Warnings do not fail the check (letters still arrive and are filed); they are in
    # the body so that a monitor showing it tells the operator what is not working.
    return healthy, {"status": "ok" if healthy else "fail", "failed": failed, "checks": checks,
                     "warnings": list(warnings or [])}
