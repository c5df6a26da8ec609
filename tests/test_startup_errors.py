"""A gateway that cannot start says why in one log event and exits 1 (systemd restarts it)."""
from __future__ import annotations

import socket
import subprocess
import sys

from tests.daemon import write_config
from tests.paths import REPO


def run_daemon(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_unreachable_database(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nobody listens once this closes
    url = f"postgresql+psycopg://saraban:secret-pw@127.0.0.1:{closed_port}/saraban"
    result = run_daemon(write_config(tmp_path, database_url=url))
    assert result.returncode == 1
    assert '"event": "database_unavailable"' in result.stdout
    assert "Connection refused" in result.stdout or "connection failed" in result.stdout
    assert "secret-pw" not in result.stdout + result.stderr  # the password is masked
    assert "Traceback" not in result.stdout + result.stderr


def test_smtp_port_taken(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        result = run_daemon(write_config(tmp_path, port=sock.getsockname()[1]))
    assert result.returncode == 1
    assert '"event": "smtp_bind_failed"' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_damaged_sqlite_file_is_named_and_letters_wait_for_its_restore(tmp_path):
    # A bad sector, or a copy put back while the file was being written: until session
    # 18 `status` said "the database refused (DatabaseError: ...); is it reachable and is
    # the configuration right?", and the runners counted the damage as each letter's
    # failure, parking acknowledged letters while the operator restored the file.
    from storage.errors import is_damaged_database, is_transient_storage_error, is_transient_reason
    import sqlite3

    config = write_config(tmp_path)
    db = tmp_path / "var" / "saraban.db"
    subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "db", "upgrade"],
                   cwd=REPO, capture_output=True, check=True, timeout=120)
    data = bytearray(db.read_bytes())
    data[4096:4096 * 6] = b"A" * (4096 * 5)  # the tables' first pages, after the header: malformed
    db.write_bytes(bytes(data))

    result = run_daemon(config)
    assert result.returncode == 1
    assert '"event": "database_unavailable"' in result.stdout
    assert "the SQLite file is damaged" in result.stdout and "restore the newest backup" in result.stdout
    status = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "status"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert status.returncode == 1
    assert status.stderr.startswith("saraban-gateway: the SQLite file is damaged"), status.stderr
    assert "Traceback" not in status.stdout + status.stderr

    # What a runner meets when the file is damaged while it runs: the storage's
    # condition, not the letter's (storage/errors.py), so the letter waits, never parked.
    with sqlite3.connect(db) as conn:
        try:
            conn.execute("SELECT count(*) FROM messages").fetchall()
        except sqlite3.DatabaseError as exc:
            damage = exc
    assert is_damaged_database(damage) and is_transient_storage_error(damage)
    assert is_transient_reason(f"DatabaseError: {damage}")
    not_a_database = tmp_path / "other.db"
    not_a_database.write_bytes(b"this is a tar file, not SQLite" * 200)
    try:
        sqlite3.connect(not_a_database).execute("SELECT 1 FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        assert is_damaged_database(exc) and is_transient_storage_error(exc)
    else:
        raise AssertionError("SQLite read a file that is not a database")
