"""The daemon's schema upgrade runs in a short-lived child (gateway/service/schema_upgrade.py):
the supervisor, which lives as long as the daemon, never loads Alembic, Mako and Pygments
(~14 MiB it kept until the next restart), and a failing migration is still said in one
log event, the daemon exiting 1."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from tests.daemon import write_config
from tests.paths import REPO

_UPGRADE = """
import json, sys
from gateway.config.settings import load_settings
from gateway.service.schema_upgrade import upgrade_schema
settings = load_settings(sys.argv[1])
db = settings.open_database()
upgrade_schema(settings, db)
print(json.dumps({"current": db.schema_is_current(), "alembic": "alembic" in sys.modules,
                  "mako": "mako" in sys.modules}))
"""


def _upgrade(config) -> dict:
    done = subprocess.run([sys.executable, "-c", _UPGRADE, str(config)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_new_database_is_brought_to_the_newest_revision_without_alembic_in_the_caller(tmp_path):
    config = write_config(tmp_path)
    assert _upgrade(config) == {"current": True, "alembic": False, "mako": False}
    with sqlite3.connect(tmp_path / "var" / "saraban.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"messages", "letters", "outbox", "alembic_version"} <= tables
    # Once current, nothing is started at all, and asking again changes nothing.
    assert _upgrade(config) == {"current": True, "alembic": False, "mako": False}


def test_a_failing_migration_is_one_event_and_exit_1(tmp_path):
    # A table of the first migration already there, without Alembic's version table and
    # without `messages` (which would have it taken as made before migrations): the
    # migration's CREATE TABLE fails in the child, and the daemon says so and stops.
    config = write_config(tmp_path)
    (tmp_path / "var").mkdir(exist_ok=True)
    with sqlite3.connect(tmp_path / "var" / "saraban.db") as conn:
        conn.execute("CREATE TABLE letters (id INTEGER PRIMARY KEY)")
    result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "run"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "database_unavailable"]
    assert len(failed) == 1, result.stdout
    assert "SchemaUpgradeFailed" in failed[0]["error"] and "already exists" in failed[0]["error"]
    assert "hint" not in failed[0]  # not a damaged file
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(e["event"] == "smtp_listening" for e in events)


def test_a_relative_data_directory_means_the_supervisors_file(tmp_path):
    # `data_dir = "var"` is read against the daemon's working directory: the child works
    # in the same one, so it migrates the supervisor's file, not one beside the code.
    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'data_dir = "{tmp_path / "var"}"', 'data_dir = "var"'), encoding="utf-8")
    assert 'data_dir = "var"' in config.read_text(encoding="utf-8")
    (tmp_path / "var").mkdir()
    done = subprocess.run([sys.executable, "-c", _UPGRADE, str(config)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"current": True, "alembic": False, "mako": False}
    with sqlite3.connect(tmp_path / "var" / "saraban.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"messages", "letters", "alembic_version"} <= tables
