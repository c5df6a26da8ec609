"""Commands that only read never change the database schema: on a database that is
behind (here: empty) they say what to run instead, and leave it as it was."""
from __future__ import annotations

import sqlite3

import pytest

from tests.daemon import write_config
from tests.tools_helpers import cli


@pytest.mark.parametrize("command", [("status",), ("register", "list"), ("outbox", "list"),
                                     ("quarantine", "list"), ("register", "show", "saraban.latkrabang", "1/2569")])
def test_a_read_only_command_does_not_migrate(tmp_path, command):
    config = write_config(tmp_path)
    database = tmp_path / "var" / "saraban.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(database).close()  # an empty database: no schema at all
    result = cli(config, *command)
    # One exit code for one cause, whichever command a script runs (session 16: 2 for
    # `status` and `register list`, 1 for `quarantine list` and `register show`).
    assert result.returncode == 2, result.stderr
    assert "saraban-gateway db upgrade" in result.stderr and "Traceback" not in result.stderr
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
