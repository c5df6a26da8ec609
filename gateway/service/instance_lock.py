"""One daemon per data directory and per SQLite file.

Two daemons on one SQLite file but different data directories each took the other's
outbox items (their files live in the other's data directory): 196 FileNotFoundError
retries and split Maildirs. Each daemon therefore holds an exclusive flock(2) on
`<data_dir>/gateway.lock` and, with SQLite, on `<database file>.lock` for as long as it
runs; the kernel releases them when it exits, however it exits (kill -9 included).
PostgreSQL is shared by design (several daemons, each with its own data directory).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    """Another daemon holds the lock; the message says which file and which pid."""


class InstanceLock:
    def __init__(self, paths: list[Path]):
        self.paths = paths
        self._fds: list[int] = []

    def acquire(self) -> "InstanceLock":
        try:
            for path in self.paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    os.close(fd)
                    raise AlreadyRunning(
                        f"another saraban-gateway (pid {holder}) is running on {path.parent} "
                        f"(lock {path}); stop it first, or give this one its own data directory "
                        f"and database") from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fds.append(fd)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def lock_paths(data_dir: Path, database_file: Path | None) -> list[Path]:
    paths = [data_dir / "gateway.lock"]
    if database_file is not None:
        lock = database_file.with_name(database_file.name + ".lock")
        if lock.resolve() != paths[0].resolve():
            paths.append(lock)
    return paths


def running_pid(data_dir: Path) -> str | None:
    """The pid of the daemon holding this data directory's lock, or None when none runs
    (`status`: until session 36 a stopped daemon's queue looked like a working one's).
    Asked without taking the lock for longer than the question: a shared lock tried and
    let go, the lock file never made."""
    path = data_dir / "gateway.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
