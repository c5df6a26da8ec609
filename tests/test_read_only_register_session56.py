"""A register the daemon may read but not write (session 56, operations red team).

A sysadmin runs `saraban-gateway db upgrade` by hand as root before the first start
(docs/database.md: "migrates by hand"): the SQLite file is root's, mode 0644, in the
gateway user's data directory. Or `database_url` names a PostgreSQL standby, or a role
that may only read. The start read the schema version, found it current and started:
SMTP answered 250, and every letter waited in the spool for good ("attempt to write a
readonly database", `storage_unavailable`, retried for ever), `/healthz` "ok". The start
now tries one write (rolled back) and refuses with `database_read_only` and what to do,
exit 1, as for a database it cannot reach; nothing is accepted."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.cli_fork import run_gateway
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO

NOBODY = 65534


def _events(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _as_nobody(*command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
                          cwd="/", capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.fixture
def nobodys_place():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the daemon as another user")
    if _as_nobody(sys.executable, "-c", "import gateway.cli.main").returncode != 0:
        pytest.skip("this checkout or its interpreter cannot be read by nobody")
    place = Path(tempfile.mkdtemp(prefix="saraban-ro-", dir="/tmp"))
    place.chmod(0o755)
    yield place
    shutil.rmtree(place, ignore_errors=True)


def test_a_register_root_made_stops_the_start_of_the_gateways_user(nobodys_place):
    config = write_config(nobodys_place)
    config.chmod(0o644)
    data = nobodys_place / "var"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    by_root = run_gateway(["--config", str(config), "db", "upgrade"])
    assert by_root.returncode == 0, by_root.stderr
    database = data / "saraban.db"

    started = _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "run")
    assert started.returncode == 1, started.stdout[-2000:] + started.stderr
    [refused] = [e for e in _events(started.stdout) if e.get("event") == "database_read_only"]
    assert refused["error"] == "the file is read-only for this process (attempt to write a readonly database)"
    assert refused["hint"] == (f"{database} belongs to root and the gateway runs as nobody (a command run as "
                               f"root, such as db upgrade, made it): chown -R nobody {data}, then start again")
    assert not any(e.get("event") == "smtp_listening" for e in _events(started.stdout))  # no 250 to anyone


def test_a_postgresql_database_that_only_reads_stops_the_start(tmp_path, postgres_database_url):
    config = write_config(tmp_path, database_url=postgres_database_url)
    assert run_gateway(["--config", str(config), "db", "upgrade"]).returncode == 0
    name = postgres_database_url.rsplit("/", 1)[1]
    admin = postgres_database_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:  # as a standby answers
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    started = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "run"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 1, started.stdout[-2000:] + started.stderr
    [refused] = [e for e in _events(started.stdout) if e.get("event") == "database_read_only"]
    assert "read-only transaction" in refused["error"]
    assert refused["hint"].startswith("PostgreSQL let this role read but not write: point database_url at the "
                                      "primary server")
    password = postgres_database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in json.dumps(refused, ensure_ascii=False)

    # The database writable again: the same configuration starts and registers.
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    d = Daemon(config).start()
    try:
        d.send(letter(subject="ขอเชิญประชุม"), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        listed = d.cli("register", "list", "--json")
        assert "ขอเชิญประชุม" in listed.stdout
    finally:
        d.stop()



def test_a_register_another_program_holds_locked_is_not_taken_for_read_only(tmp_path):
    """The honest near-miss: a sqlite3 shell left in BEGIN IMMEDIATE (a lock, not a
    read-only file) at start. The write check neither waits for it (no busy wait: it
    would add [storage] lock_timeout to the start) nor takes it for a refusal: the start
    goes on as before (docs/operations.md, "When the database is stuck")."""
    import sqlite3

    from storage.db import Database

    config = write_config(tmp_path)
    assert run_gateway(["--config", str(config), "db", "upgrade"]).returncode == 0
    path = tmp_path / "var" / "saraban.db"
    shell = sqlite3.connect(path, isolation_level=None)
    shell.execute("BEGIN IMMEDIATE")
    db = Database(f"sqlite:///{path}", lock_timeout=600.0)
    try:
        assert db.write_refusal() is None
    finally:
        shell.execute("ROLLBACK")
        shell.close()
        db.dispose()
    path.chmod(0o444)
    if os.geteuid() != 0:  # root writes a 0444 file all the same
        db = Database(f"sqlite:///{path}")
        try:
            assert db.write_refusal() is not None
        finally:
            db.dispose()
