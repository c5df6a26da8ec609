"""Which migration a database is at, and the newest one, without loading Alembic: a
process that opens a current database (every runner, at start) never needs it."""
from __future__ import annotations

import os

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
# A connection's execution option: its transaction only reads (storage/db.py: on SQLite a
# deferred BEGIN, which waits for no write lock).
READ_ONLY = "saraban_read_only"
# Another: no client-side deadline on its statements (a migration; storage/db.py).
UNBOUNDED = "saraban_unbounded"


def newest_revision() -> str:
    """The newest migration, read from the file names (0009_notice_rate_columns.py ...:
    numbered in the order they apply, one line of history) without loading Alembic;
    tests/test_migrations.py checks it against Alembic's own head."""
    return max(path.stem for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's version table), None before any.
    Read with plain SQL so that a process opening a current database never loads
    Alembic; `storage.migrate.current` is this too. It only reads: a sysadmin's sqlite3
    shell holding the write lock does not hold up `status` or a runner's start."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


class SchemaBehind(Exception):
    """The database is older than this version of the gateway (or was never set up)."""


def known_revisions() -> set[str]:
    return {path.stem for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")}


def ahead_message(now: str) -> str:
    return (f"the database was written by a newer saraban-gateway (schema {now}; this one knows up to "
            f"{newest_revision()}): install that version again, or restore a backup this version made")


class SchemaAhead(SchemaBehind):
    """The database is at a migration this version does not have (a newer gateway wrote
    it: a package rolled back, a backup of a newer installation restored). Until
    session 36 every command said "run db upgrade", which then failed with Alembic's
    traceback."""


def require_current(engine: Engine) -> None:
    """For commands that only read: never change the schema, say what to run instead.
    Without Alembic (~0.26 s of every command's start): the version table and the
    migrations' file names are all it takes."""
    now, newest = schema_revision(engine), newest_revision()
    if now and now != newest and now not in known_revisions():
        raise SchemaAhead(ahead_message(now))
    if now != newest:
        state = f"at revision {now}" if now else "not set up"
        where = ""
        if not now:
            # A command run from another folder with a relative data_dir opened an empty
            # database there: "run db upgrade" made a second register (session 36).
            url = engine.url
            path = url.database if url.get_backend_name() == "sqlite" and url.database else None
            where = (f" (the database {os.path.abspath(path)}: if the register is elsewhere, run the command "
                     "from the folder the daemon runs in, or give data_dir as an absolute path)"
                     if path else f" (the database {url.render_as_string(hide_password=True)})")
        raise SchemaBehind(f"the database schema is {state}{where}, this gateway needs {newest}: "
                           "run `saraban-gateway db upgrade` (the daemon also does at start-up)")
