"""The SQLite file moved, deleted or replaced while the daemon runs (session 37).

SQLite's connections hold the file they opened, not its path: after `mv saraban.db
/backup/` (a botched backup) or a restore that renames another file into place, the
runners went on registering into a file nobody would open again, /healthz said ok, and
at the next start those registrations and their receive numbers were gone or given
again. Now every process compares the file at the path with the one the daemon
started with (storage/db.py `Database.file_moved`, one stat): letters wait in the
spool, /healthz answers 503, `status` says it, and the supervisor logs it once.

Put back (the same file, the same inode), the runners go on by themselves. Another file
in its place is not taken over while the daemon runs: it may be a backup, whose
counters are behind the receive numbers given since, and the numbers are read back
from the units' folders only at start (gateway/service/numbering.py). So the runners
keep waiting, and the next start treats that file as a restored register (numbering
held until every folder is read back, as after `backup restore`)."""
from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import structlog

from gateway.service.db_record import RECORD, read_record as _read
from storage.db import Database, file_identity, moved_words, server_database, sqlite_file
from storage.fsync import write_durably

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.database_file")

# The PostgreSQL database the running daemon started with (pid, and the database without
# its password), for the commands' same-database guard: a file of its own, so that the
# SQLite file's record and what it remembers of a moved file stay as they are.
SERVER_RECORD = "database-server.json"


def _write(settings: Settings, data: dict, name: str = RECORD) -> None:
    path = settings.data_dir / name
    write_durably(path, json.dumps(data).encode(), tmp_dir=path.parent, mode=0o640)


def record_at_start(settings: Settings, db: Database) -> None:
    """The daemon, once the schema is up and before any runner starts: pin this process's
    Databases to the file at the path and record it for the runners and `status`. A file
    the last run saw replaced under it, and still not the one it had, is a restored
    register: its numbers are read back from the folders before any is given."""
    if db.file is None:
        _record_server(settings)
        return
    last = _read(settings)
    identity = db.pin_file()
    if identity is None:
        return
    if last.get("problem") == "replaced" and last.get("path") == db.file and \
            (last.get("dev"), last.get("ino")) != tuple(identity):
        from gateway.service.numbering import mark_restored

        mark_restored(settings.data_dir, f"{db.file}, replaced while the gateway ran")
        log.warning("database_file_taken_as_restored", path=db.file,
                    detail="the file that replaced the register while the gateway ran is used from now on; "
                           "no letter is numbered before the receive numbers are read back from the folders")
    # The write-ahead log is there while a connection is open and goes with the last
    # close: one of this process's own is opened (and kept, pooled) so that the log
    # recorded is the one the runners will share, whatever closed before (the schema
    # upgrade's forked child, which closes last when the supervisor's pool was emptied
    # before its fork).
    db.ping()
    wal = file_identity(db.file + "-wal") or (None, None)
    try:
        _write(settings, {"path": db.file, "dev": identity[0], "ino": identity[1], "pid": os.getpid(),
                          "wal_dev": wal[0], "wal_ino": wal[1], "problem": None})
    except OSError as exc:
        # Runners without the record pin to the file they first open, as before.
        (settings.data_dir / RECORD).unlink(missing_ok=True)
        log.warning("database_file_unrecorded", error=exc.strerror or str(exc))


def _record_server(settings: Settings) -> None:
    try:
        _write(settings, {"pid": os.getpid(), "database": server_database(settings.database_url)}, SERVER_RECORD)
    except OSError as exc:
        (settings.data_dir / SERVER_RECORD).unlink(missing_ok=True)
        log.warning("database_server_unrecorded", error=exc.strerror or str(exc))


def missing_at_start(settings: Settings) -> str | None:
    """Why the daemon must not start: the last run saw its file moved away and nothing
    is at the path yet. Opened, SQLite would make a new, empty register there, and its
    counters would start again below the numbers given."""
    last = _read(settings)
    path = sqlite_file(settings.database_url)
    if last.get("problem") != "moved" or path is None or last.get("path") != os.path.abspath(path):
        return None
    if file_identity(path) is not None:
        return None
    return (f"the database file {last['path']} was moved away while the gateway last ran and is still not "
            "back: put it back at that path and start again (the gateway does not start a new, empty "
            f"register in its place; to start one on purpose, remove {settings.data_dir / RECORD})")


def set_aside_old_log(settings: Settings) -> None:
    """The daemon, before it opens the database: after a run that saw its file replaced,
    the write-ahead log at `<path>-wal` (and its index) is still the one the old file's
    connections wrote, and SQLite would replay it into the file now at the path, pages of
    one database into another (sqlite.org/howtocorrupt.html, "mispairing database files
    and hot journals"). Moved aside, not deleted: it holds the old file's last writes."""
    last = _read(settings)
    path = sqlite_file(settings.database_url)
    if last.get("problem") != "replaced" or path is None or last.get("path") != os.path.abspath(path):
        return
    path = last["path"]
    if file_identity(path) == (last.get("dev"), last.get("ino")):
        return  # the original was put back after all
    if last.get("wal_ino") is None or file_identity(path + "-wal") != (last.get("wal_dev"), last.get("wal_ino")):
        return  # not the log the old file's connections had: the one that came with the new file
    stamp = time.strftime("%Y%m%d%H%M%S")
    for suffix in ("-wal", "-shm"):
        try:
            os.rename(path + suffix, f"{path}{suffix}.of-replaced-file-{stamp}")
        except FileNotFoundError:
            continue
    log.warning("database_old_log_set_aside", path=path, kept_as=f"{path}-wal.of-replaced-file-{stamp}",
                detail="the write-ahead log of the file that was replaced while the gateway ran is not replayed "
                       "into the file now at the path")


def pin_runner(settings: Settings, db: Database) -> None:
    """A runner at start: the file its daemon started with, not whatever is at the path
    now (a runner restarted after the file was moved would open a new, empty one)."""
    last = _read(settings)
    if db.file is not None and last.get("path") == db.file and last.get("pid") == os.getppid():
        db.pin_file((last["dev"], last["ino"]))


def problem_for_status(settings: Settings, daemon_pid: str | None) -> tuple[str, bool] | None:
    """(words, missing) when the running daemon's file is no longer at the path, for
    `status` (another process: it compares with the daemon's record)."""
    last = _read(settings)
    if daemon_pid is None or str(last.get("pid")) != str(daemon_pid) or not last.get("path"):
        return None
    now = file_identity(last["path"])
    if now == (last.get("dev"), last.get("ino")):
        return None
    return moved_words(last["path"], replaced=now is not None), now is None


def daemon_database_elsewhere(settings: Settings, daemon_pid: str | None) -> str | None:
    """The running daemon's SQLite file (or its PostgreSQL database, as
    `postgresql://user@host:port/name`) when the configuration now names another
    database: `[storage]` is read at start-up only (a reload logs `reload_needs_restart`),
    so until the restart the daemon registers in the file it started with. `status` read
    the one the file named: "the database schema is not set up ... run `saraban-gateway db
    upgrade`", advice that makes a second, empty register (session 53)."""
    if daemon_pid is None:
        return None
    last = _read(settings)
    if str(last.get("pid")) == str(daemon_pid) and last.get("path"):
        configured = sqlite_file(settings.database_url)
        if configured is not None and os.path.abspath(configured) == last["path"]:
            return None
        return last["path"]
    # A daemon on PostgreSQL: the same guard, by server, port, user and database name
    # (session 54; until then a PostgreSQL URL changed under a running daemon let
    # `quarantine release` register into the new database beside the daemon's).
    server = _read(settings, SERVER_RECORD)
    if str(server.get("pid")) == str(daemon_pid) and server.get("database"):
        if server_database(settings.database_url) == server["database"]:
            return None
        return server["database"]
    return None


class Watch:
    """The supervisor's look, each tick (one stat): one log event when the file goes and
    one when it is back, and the state kept in the record for the next start."""

    def __init__(self, settings: Settings, db: Database):
        self.settings, self.db = settings, db
        self.said: str | None = None

    def check(self) -> None:
        problem = self.db.file_moved()
        state = None if problem is None else ("replaced" if problem.replaced else "moved")
        if state == self.said:
            return
        if problem is not None:
            log.error("database_file_moved", path=self.db.file, replaced=problem.replaced, detail=str(problem))
        else:
            log.warning("database_file_back", path=self.db.file,
                        detail="the original database file is back at its path; registering goes on")
        self.said = state
        last = _read(self.settings)
        if last.get("pid") == os.getpid():
            try:
                _write(self.settings, {**last, "problem": state})
            except OSError as exc:
                log.warning("database_file_unrecorded", error=exc.strerror or str(exc))
