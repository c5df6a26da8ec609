"""Which failures are the storage's, not the letter's.

A full disk (ENOSPC, EDQUOT), an I/O error (EIO) or a read-only file system on the
spool, the vault or the database is a condition of the machine: the letter that met it
is fine and must wait, not be parked as if it were broken."""
from __future__ import annotations

import errno
import sqlite3

# EFBIG: a file size limit (RLIMIT_FSIZE, systemd's LimitFSIZE=) the machine sets; a
# letter (at most [smtp] max_size) is far below any file system's own largest file.
TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.EFBIG}
# SQLite says it in words; PostgreSQL in SQLSTATE class 53 (insufficient resources)
# and 58030 (io_error).
# The database busy or gone for a moment is the machine's condition too: a lock not
# granted within a DBA's lock_timeout (55P03) or statement_timeout (57014), a deadlock
# or a serialization failure (class 40), a connection lost or refused (class 08, a
# server shutting down or starting: 57P01-57P03), SQLite's lock held past busy_timeout.
# Counted as the letter's failures, five of them in a second (the back-off starts at
# 0.1 s) parked an acknowledged letter while an operator's transaction held a lock.
_SQLITE_WORDS = ("database or disk is full", "disk i/o error", "unable to open database file",
                 "attempt to write a readonly database", "database is locked", "database table is locked")
# A damaged SQLite file (SQLITE_CORRUPT, SQLITE_NOTADB: a disk's bad sector, a copy
# taken mid-write put back by hand) is the machine's condition as well: every letter
# meets it, none is at fault. Counted as the letters' failures, each acknowledged letter
# was parked after max_attempts while the operator restored the file; now they wait in
# the spool and are registered once it is restored (docs/operations.md, "A damaged
# database file"). sqlite3 raises it as DatabaseError, not OperationalError.
_SQLITE_DAMAGED = ("database disk image is malformed", "file is not a database")
_PG_STATES = ("53100", "53200", "53300", "58030", "55P03", "57014", "57P01", "57P02", "57P03")
_PG_CLASSES = ("08", "40")


def _pg_connection_failure(candidate: BaseException, state: object) -> bool:
    """psycopg's OperationalError with no SQLSTATE: a connection that could not be made
    (refused, "the database system is shutting down" or "is starting up": PostgreSQL
    restarting) or was lost outside a statement. Every error the server reports about a
    statement carries a SQLSTATE. Not recognised, a restart counted against the letter:
    the delivery runner recorded a notice already sent as failed and sent it again."""
    return (state is None and type(candidate).__name__ == "OperationalError"
            and type(candidate).__module__.split(".")[0] == "psycopg")


class DatabaseFileMoved(sqlite3.OperationalError):
    """The SQLite file at the configured path is not the one this process has open (moved,
    deleted, or replaced by another file while the gateway ran). What the open
    connections would write goes into a file nobody will open again, so nothing is
    written: the letters wait in the spool, as for any condition of the machine
    (storage/db.py `Database.check_file`, docs/operations.md). sqlite3's error, so that
    raised where a connection is made SQLAlchemy wraps it as any refusal of the driver
    (a command says it in one line, storage/db.py DatabaseError)."""

    def __init__(self, reason: str, replaced: bool = False):
        super().__init__(reason)
        self.replaced = replaced


def database_file_moved(exc: BaseException) -> DatabaseFileMoved | None:
    """The DatabaseFileMoved `exc` is or wraps, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for candidate in (exc, getattr(exc, "orig", None)):
            if isinstance(candidate, DatabaseFileMoved):
                return candidate
        exc = exc.__cause__ or exc.__context__
    return None


def is_database_file_moved(exc: BaseException) -> bool:
    return database_file_moved(exc) is not None


def is_transient_storage_error(exc: BaseException) -> bool:
    if is_database_file_moved(exc):
        return True
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
            return True
        orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        for candidate in (exc, orig):
            if candidate is None:
                continue
            state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if state in _PG_STATES or (isinstance(state, str) and state[:2] in _PG_CLASSES):
                return True
            if getattr(candidate, "connection_invalidated", False):  # SQLAlchemy: the connection died
                return True
            if _pg_connection_failure(candidate, state):
                return True
            text = str(candidate).lower()
            if type(candidate).__name__ == "OperationalError" and any(w in text for w in _SQLITE_WORDS):
                return True
            if _sqlite_damaged(candidate):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


# In every DatabaseFileMoved's text (storage/db.py), for a reason recorded as text.
MOVED_WORDS = "while the gateway ran"
_REASON_WORDS = ("[errno 28]", "no space left", "[errno 122]", "quota exceeded", "[errno 5]",
                 "input/output error", "[errno 30]", "read-only file system", "[errno 24]",
                 "too many open files", "[errno 27]", "file too large", "due to lock timeout", "due to statement timeout", "deadlock detected",
                 "could not serialize access", "server closed the connection unexpectedly",
                 MOVED_WORDS,
                 "terminating connection due to administrator command") + _SQLITE_WORDS + _SQLITE_DAMAGED


def _sqlite_damaged(candidate: BaseException) -> bool:
    return type(candidate).__module__ == "sqlite3" and any(w in str(candidate).lower() for w in _SQLITE_DAMAGED)


def is_damaged_database(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the SQLite file itself is damaged."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(c is not None and _sqlite_damaged(c) for c in (exc, getattr(exc, "orig", None))):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


DAMAGED_ADVICE = ("the SQLite file is damaged (a bad sector, a copy put back while it was written): stop the "
                  "gateway and restore the newest backup (docs/install.md, \"Backup and restore\": the letters "
                  "still in the old spool go back into the new one, and the receive numbers given since the "
                  "backup are skipped with [register.start_numbers])")


def is_transient_reason(reason: str | None) -> bool:
    """The same test on a recorded reason (`messages.reason`), for letters parked before."""
    text = (reason or "").lower()
    return any(word in text for word in _REASON_WORDS)
