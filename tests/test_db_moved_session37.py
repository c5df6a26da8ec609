"""Session 37, the register's SQLite file moved or replaced while the daemon runs (a
botched backup's `mv var/saraban.db /backup/`, a restore that renames another file into
place), through the real daemon on loopback.

Before: SQLite's open connections kept the old file, /healthz said ok, and the letter
was acknowledged and "registered" into a file no longer at the configured path: gone
at the next start, its receive number given again."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
MOVED = "was moved or replaced while the gateway ran"


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def gateway(tmp_path):
    http_port = free_port()
    config = write_config(tmp_path / "gw", extra=f"""
[http]
enabled = true
port = {http_port}
[service]
runner_grace = 3
drain_timeout = 2
""")
    d = Daemon(config).start()
    d.healthz = f"http://127.0.0.1:{http_port}/healthz"
    yield d
    d.stop()


def _registered_in(db_file, wal, queue_id: str) -> bool:
    """Whether the file the daemon's connections hold has `queue_id` in its register:
    read from a copy of it with its write-ahead log (still at the old path's name)."""
    look = db_file.parent / "look"
    look.mkdir(exist_ok=True)
    shutil.copyfile(db_file, look / "copy.db")
    if wal.exists():
        shutil.copyfile(wal, look / "copy.db-wal")
    conn = sqlite3.connect(look / "copy.db")
    try:
        return conn.execute("SELECT count(*) FROM letters WHERE queue_id = ?", (queue_id,)).fetchone()[0] > 0
    finally:
        conn.close()
        shutil.rmtree(look)


def _waits_moved(d: Daemon, queue_id: str, path) -> dict:
    """/healthz says the file moved, naming it; the letter stays in the spool."""
    code, body = d.wait_for(lambda: (lambda a: a if a[0] == 503 else None)(_get(d.healthz)), 20,
                            what="/healthz to fail")
    assert body["failed"] == ["database"], body
    detail = body["checks"]["database"]["detail"]
    assert MOVED in detail and str(path) in detail, detail
    # Time for a runner that would register it (poll_interval 0.02 s) to have done so.
    time.sleep(3)
    assert (d.data_dir / "spool" / "new" / queue_id).exists() or \
        any(p.name.startswith(queue_id) for p in (d.data_dir / "spool" / "new").iterdir())
    assert not [e for e in d.events() if e.get("event") == "message_finished" and e.get("queue_id") == queue_id]
    return body


def _registered_then_moved(d: Daemon, tmp_path) -> tuple[str, object, object]:  # noqa: ANN001
    """A letter registered, then `mv var/saraban.db /backup/` on the same file system:
    (its queue id, the configured path, the folder the file went to)."""
    first = d.send(letter(subject="ก่อนย้าย"), LATKRABANG)
    d.wait_idle()
    path = d.data_dir / "saraban.db"
    away = tmp_path / "backup"
    away.mkdir()
    os.rename(path, away / "saraban.db")
    return first, path, away


def test_a_moved_database_file_holds_the_letters_until_it_is_put_back(gateway, tmp_path):
    d = gateway
    first, path, away = _registered_then_moved(d, tmp_path)

    second = d.send(letter(subject="ระหว่างย้าย"), LATKRABANG)
    _waits_moved(d, second, path)
    assert not path.exists()  # nothing made a new, empty register at the path
    assert not _registered_in(away / "saraban.db", d.data_dir / "saraban.db-wal", second)
    status = d.cli("status", "--json")
    assert MOVED in json.loads(status.stdout)["database"]["detail"], status.stdout
    text = d.cli("status").stdout
    assert f"WARNING    the database file {path} {MOVED}" in text, text
    # A command that reads the register says so in a line, and makes no new file there.
    listed = d.cli("register", "list", check=False)
    assert listed.returncode == 1 and MOVED in listed.stderr and "Traceback" not in listed.stderr, listed
    assert not path.exists()
    said = [e for e in d.events() if e.get("event") == "database_file_moved"]
    assert len(said) == 1 and said[0]["path"] == str(path), said

    os.rename(away / "saraban.db", path)  # put back: the same file
    d.wait_for_event("message_finished", 30, queue_id=second)
    d.wait_idle()
    entries = d.register("--unit", "saraban.latkrabang")
    assert sorted((e["number"], e["queue_id"]) for e in entries) == [(1, first), (2, second)], entries
    code, body = _get(d.healthz)
    assert code == 200, body
    assert len([e for e in d.events() if e.get("event") == "database_file_back"]) == 1
    assert not [e for e in d.events() if e.get("event") in ("message_parked", "process_failed")]
    assert "Traceback" not in d.log_path.read_text()


def test_a_file_renamed_into_its_place_is_not_numbered_into_until_a_restart_reads_the_folders(gateway, tmp_path):
    """A restore by rename while the daemon runs: the file in place is a backup, its
    counter behind the numbers given since. Nothing is registered into either file; the
    restart takes the new file as a restored register and numbers after the folders."""
    d = gateway
    first = d.send(letter(subject="ก่อนสำรอง"), LATKRABANG)
    d.wait_idle()
    path = d.data_dir / "saraban.db"
    backup = tmp_path / "backup.db"
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(target)  # the backup: letter 1 registered, the counter at 1
    source.close()
    target.close()
    second = d.send(letter(subject="หลังสำรอง"), LATKRABANG)
    d.wait_idle()
    os.rename(backup, path)  # the restore, by rename, while the daemon runs

    third = d.send(letter(subject="ระหว่างกู้คืน"), LATKRABANG)
    body = _waits_moved(d, third, path)
    assert "another file is at that path" in body["checks"]["database"]["detail"], body
    assert not _registered_in(path, d.data_dir / "saraban.db-wal.none", third)
    said = [e for e in d.events() if e.get("event") == "database_file_moved"]
    assert len(said) == 1 and said[0]["replaced"] is True, said

    assert d.stop() == 0
    d.start()
    d.wait_for_event("message_finished", 60, queue_id=third)
    d.wait_idle()
    assert [e for e in d.events() if e.get("event") == "database_file_taken_as_restored"]
    # The old file's write-ahead log is not replayed into the restored one: kept aside.
    assert list(d.data_dir.glob("saraban.db-wal.of-replaced-file-*")), sorted(os.listdir(d.data_dir))
    raised = [e for e in d.events() if e.get("event") == "numbers_given_before_restore"]
    assert [(e["first"], e["last"]) for e in raised] == [(2, 2)], raised
    entries = d.register("--unit", "saraban.latkrabang")
    numbers = {e["queue_id"]: e["number"] for e in entries}
    # The second letter's number, given in the file that went, is never given again.
    assert numbers == {first: 1, third: 3}, entries
    assert not [e for e in d.events() if e.get("event") in ("message_parked", "process_failed")]
    assert "Traceback" not in d.log_path.read_text()


def test_a_restart_with_the_file_still_away_does_not_start_a_new_empty_register(gateway, tmp_path):
    d = gateway
    first, path, away = _registered_then_moved(d, tmp_path)
    second = d.send(letter(subject="ระหว่างย้าย"), LATKRABANG)
    _waits_moved(d, second, path)

    assert d.stop() == 0  # the sysadmin restarts instead of putting it back
    with pytest.raises(RuntimeError, match="database_file_missing"):
        d.start(timeout=20)
    assert d.proc.returncode == 1
    assert not path.exists()  # no new register numbered from 1 again

    os.rename(away / "saraban.db", path)
    d.start()
    d.wait_for_event("message_finished", 60, queue_id=second)
    d.wait_idle()
    entries = d.register("--unit", "saraban.latkrabang")
    assert sorted((e["number"], e["queue_id"]) for e in entries) == [(1, first), (2, second)], entries
    assert not [e for e in d.events() if e.get("event") in ("message_parked", "process_failed")]
    assert "Traceback" not in d.log_path.read_text()
