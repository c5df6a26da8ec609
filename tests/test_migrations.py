"""Schema migrations: the scripts build exactly storage/models.py, on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from storage import migrate
from storage.db import Database
from storage.models import Base
from tests.cli_fork import run_gateway
from tests.paths import REPO


def test_migrations_match_the_models(database_url):
    """If this fails, storage/models.py changed without a migration: run
    `saraban-gateway db revision -m "what changed"` (docs/database.md)."""
    db = Database(database_url)
    try:
        migrate.upgrade(db.engine)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "include_object": migrate.include_object})
            assert compare_metadata(context, Base.metadata) == []
        assert migrate.current(db.engine) == migrate.head()
    finally:
        db.dispose()


def test_upgrade_twice_is_upgrade_once(database_url):
    db = Database(database_url)
    try:
        db.create_schema()
        db.create_schema()
        assert migrate.current(db.engine) == migrate.head()
    finally:
        db.dispose()


def test_the_newest_revision_by_file_name_is_alembics_head():
    from storage.schema_version import newest_revision

    assert newest_revision() == migrate.head()


def test_a_current_database_is_opened_without_loading_alembic(database_url):
    """Every runner opens the database at start: when the schema is already current,
    Alembic (and Mako, Pygments: ~14 MiB a process) is not loaded."""
    Database(database_url).create_schema()
    probe = ("import sys\nfrom storage.db import Database\nfrom storage.schema_version import schema_revision\n"
             f"db = Database({database_url!r})\ndb.create_schema()\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
             "print(schema_revision(db.engine))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", migrate.head()]


def test_a_database_made_before_migrations_is_adopted(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    # What the gateway did before Alembic: create_all of the tables it had then (the
    # ones 0001_initial creates); later tables arrive through their migrations.
    first = ["messages", "register_counters", "letters", "letter_attachments", "outbox", "quarantine"]
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in first])
    engine.dispose()
    db = Database(url)
    try:
        db.create_schema()
        assert migrate.current(db.engine) == migrate.head()
        assert "alembic_version" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_db_current_tells_an_empty_database_from_an_upgraded_one(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")

    def cli(*args):
        return run_gateway(["--config", str(config), "db", *args])

    before = cli("current")
    assert before.returncode == 1 and "empty database" in before.stdout
    upgraded = cli("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    after = cli("current")
    assert after.returncode == 0 and f"schema at {migrate.head()}" in after.stdout


def test_revision_ids_fit_alembic_version_on_postgresql():
    """alembic_version.version_num is VARCHAR(32) on PostgreSQL; a longer id upgrades on
    SQLite and then fails on the production database."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    ids = [rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    assert ids and all(len(i) <= 32 for i in ids), [i for i in ids if len(i) > 32]


def test_notices_decided_before_0009_still_count_towards_the_rate_limits(database_url):
    """Migration 0009 moves the rate keys into columns; a notice decided before it (its
    keys only in the payload) is filled in, so the limit of the hour holds across the
    upgrade."""
    import datetime as dt
    import json

    from sqlalchemy import text

    from storage.notices import notices_in_last_hour

    db = Database(database_url)
    try:
        migrate.upgrade(db.engine, "0008_outbox_recent_by_kind")
        now = dt.datetime.now(dt.timezone.utc)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO outbox (kind, key, queue_id, payload, state, attempts, "
                              "created_at, next_attempt_at) VALUES ('notice', 'ack:q1:u', 'q1', :p, 'done', 1, :t, :t)"),
                         {"p": json.dumps({"to": "victim+1@other.example", "rate_key": "victim@other.example",
                                           "rate_domain": "other.example"}), "t": now})
        db.create_schema()
        assert migrate.current(db.engine) == migrate.head()
        with db.session() as session:
            assert notices_in_last_hour(session, "rate_key", "victim@other.example") == 1
            assert notices_in_last_hour(session, "rate_domain", "other.example") == 1
    finally:
        db.dispose()
