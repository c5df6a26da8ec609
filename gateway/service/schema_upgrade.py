"""The daemon's schema upgrade (Alembic), run in a short-lived child process (forked from
the supervisor while it has one thread, else a fresh interpreter).

Alembic, with Mako and Pygments, takes ~14 MiB of a process once imported, and a
process keeps what it has imported: run in the supervisor, which lives as long as the
daemon, a first start or an upgrade cost that much memory until the next restart. The
child gets the settings pickled on its stdin (never on its command line, where `ps`
would show a database password), writes its events to the daemon's log under the
process name `schema-upgrade`, and says a failure as one JSON line on stderr, which
the supervisor raises as `SchemaUpgradeFailed` and logs as `database_unavailable`.

A database already at the newest revision starts no child (`Database.schema_is_current`
reads the version table with plain SQL)."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

from gateway.config.settings import Settings
from gateway.service.process_util import fork_child
from storage.db import Database


class SchemaUpgradeFailed(Exception):
    """The child's migration failed: `str()` is its error ("OperationalError: ..."),
    `damaged` whether it found the SQLite file itself damaged (storage/errors.py)."""

    def __init__(self, error: str, damaged: bool = False):
        super().__init__(error)
        self.damaged = damaged


def upgrade_schema(settings: Settings, db: Database) -> None:
    """Bring `db` to the newest migration; Alembic is loaded only in a child, and only
    when there is something to do. Raises what reading the version table raises, or
    SchemaUpgradeFailed."""
    if db.schema_is_current():
        return
    # Forked while the supervisor has one thread (process_util.fork_child): the imports
    # it shares with the supervisor are not made again. Without the connection reading
    # the version table opened: SQLite's own rule, no connection carried across a fork.
    db.dispose()
    forked = fork_child("schema", _upgrade_and_say, settings)
    if forked is not None:
        _, said = forked.communicate()
        _raise_unless_done(forked.returncode, said)
        return
    # The supervisor's working directory (a relative data_dir or sqlite:/// path means the
    # same file) and its module path (the same gateway, however it was started).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    child = subprocess.run([sys.executable, "-m", "gateway.service.schema_upgrade"],
                           input=pickle.dumps(settings), stderr=subprocess.PIPE, env=env, check=False)
    _raise_unless_done(child.returncode, child.stderr)


def _raise_unless_done(returncode: int | None, said: bytes) -> None:
    if returncode == 0:
        return
    last = (said.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    try:
        answer = json.loads(last)
        error, damaged = str(answer["error"]), bool(answer.get("damaged"))
    except (ValueError, KeyError, TypeError):  # it died before it could say (killed, out of memory)
        error, damaged = f"the schema upgrade ended with exit code {returncode}", False
    raise SchemaUpgradeFailed(error, damaged)


def _upgrade_and_say(settings: Settings) -> None:
    """The child's whole work, forked or started fresh: the migration, and a failure said
    as one JSON line on stderr."""
    from gateway.service.log import setup_logging
    from gateway.service.process_util import exit_now
    from storage.errors import is_damaged_database

    setup_logging(settings.logging.level, settings.logging.format, process="schema-upgrade")
    db = settings.open_database()
    try:
        db.create_schema()
    except Exception as exc:  # noqa: BLE001 - said to the supervisor, which logs it
        text = str(exc).strip()
        error = f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"
        print(json.dumps({"error": error, "damaged": is_damaged_database(exc)}), file=sys.stderr, flush=True)
        exit_now(1)
    finally:
        db.dispose()
    exit_now(0)


def _main() -> None:
    """`python -m gateway.service.schema_upgrade`: where the supervisor could not fork."""
    from gateway.service.process_util import die_with_parent, name_process

    die_with_parent()
    name_process("schema")
    _upgrade_and_say(pickle.load(sys.stdin.buffer))


if __name__ == "__main__":
    _main()
