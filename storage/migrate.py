"""Schema migrations (Alembic): the database is brought to the newest revision at start-up.

The scripts live in storage/migrations/versions/ (docs/database.md says how to add one).
Every process that opens the database may call `upgrade()`: it takes a lock first (a
PostgreSQL advisory lock; on SQLite the write lock of BEGIN IMMEDIATE), so two daemons
starting together on one PostgreSQL migrate once, and the second finds nothing to do.

A database made before migrations existed (tables created by `create_all`) has the
tables of the first revision but no `alembic_version`: it is stamped at that revision,
then upgraded as usual.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from storage.schema_version import UNBOUNDED, SchemaAhead, ahead_message, known_revisions
from storage.schema_version import SchemaBehind, require_current, schema_revision  # noqa: F401 - the check lives there, without Alembic

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_initial"  # the schema of storage/models.py before migrations existed
_LOCK_KEY = 0x5A4A4E  # any constant: the advisory lock all gateway processes agree on


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """What the schema comparison leaves out: the search index of the web desk
    (0006_web_desk), which is database-specific (an FTS5 table and its shadow tables on
    SQLite, a pg_trgm expression index on PostgreSQL) and not in storage/models.py."""
    if type_ == "table" and name and name.startswith("letters_fts"):
        return False
    if type_ == "index" and name and name.endswith("_trgm"):
        return False
    return True


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s")  # versions/0002_add_notices.py
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(engine: Engine) -> str | None:
    return schema_revision(engine)


def upgrade(engine: Engine, target: str = "head") -> None:
    """Bring the schema to `target` under the migration lock (idempotent)."""
    with engine.begin() as conn:
        conn.execution_options(**{UNBOUNDED: True})  # a migration takes what it takes
        if conn.dialect.name == "postgresql":
            # A migration of a big table may outlast [storage] statement_timeout, and a
            # second daemon starting waits here for the first's whole migration.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
            # Held to the end of this transaction, which is the whole migration.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        if before is not None and before not in known_revisions():
            raise SchemaAhead(ahead_message(before))
        config = alembic_config(conn)
        if before is None and inspect(conn).has_table("messages"):
            log.warning("schema_stamped", revision=BASELINE,
                        reason="tables made before migrations existed; taken as the first revision")
            command.stamp(config, BASELINE)
        command.upgrade(config, target)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("schema_upgraded", dialect=engine.dialect.name, before=before, after=after)


def new_revision(message: str) -> Path:
    """Write a new migration script from the difference between storage/models.py and
    the newest revision (for developers: `saraban-gateway db revision -m ...`)."""
    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/schema.db")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(alembic_config(conn), message=message, autogenerate=True,
                                          rev_id=_next_rev_id(message))
        finally:
            engine.dispose()
    return Path(script.path)  # type: ignore[union-attr]


def _next_rev_id(message: str) -> str:
    """'0002_notice_table': numbered, so the files sort in the order they apply, and at
    most 32 characters: Alembic's alembic_version column is VARCHAR(32) on PostgreSQL."""
    scripts = ScriptDirectory.from_config(alembic_config())
    numbers = [int(rev.revision.split("_", 1)[0]) for rev in scripts.walk_revisions()
               if rev.revision.split("_", 1)[0].isdigit()]
    slug = "_".join("".join(c if c.isascii() and c.isalnum() else " " for c in message.lower()).split())
    return f"{max(numbers, default=0) + 1:04d}_{slug[:27].rstrip('_') or 'change'}"


