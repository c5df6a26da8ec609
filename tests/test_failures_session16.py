"""Session 16, the machine failing: a unit's folder that cannot be written, the system
clock stepping back, through the real daemon on loopback.

A folder is made unwritable as root can feel it: a plain file where the unit's Maildir
directory should be (every write under it fails with ENOTDIR/EEXIST, chmod would not
stop root). The clock is never changed: an item scheduled before the clock stepped
back a day is an item whose next attempt lies a day further ahead than it should,
which is what the test writes into the register database."""
from __future__ import annotations

import datetime as dt
import resource
import threading
import time

import pytest
from sqlalchemy import select, update

from storage.db import Database
from storage.errors import is_transient_storage_error
from storage.models import OutboxItem
from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.servers.postgres import PostgresCluster

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng.admin@bangkok.go.th"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """One daemon for the file. Retries start 30 s apart, so a copy filed within a few
    seconds of its folder coming back was tried because it was due, not by chance."""
    config = write_config(tmp_path_factory.mktemp("failures16"))
    config.write_text(config.read_text().replace("retry_base = 0.2", "retry_base = 30"))
    d = Daemon(config).start()
    yield d
    d.stop()


def _block_folder(d: Daemon, folder: str):
    """A plain file where the unit's Maildir goes: the folder copy fails until removed."""
    path = d.data_dir / "folders" / folder
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _failed_once(d: Daemon, queue_id: str) -> None:
    d.wait_for(lambda: any(e.get("event") == "delivery_retry" and e.get("queue_id") == queue_id
                           for e in d.events()), 30, what=f"a failed folder copy of {queue_id}")


def _outbox_item(d: Daemon, queue_id: str, **changes) -> None:
    db = Database(f"sqlite:///{d.data_dir / 'saraban.db'}")
    try:
        with db.session() as session:
            session.execute(update(OutboxItem).where(OutboxItem.queue_id == queue_id, OutboxItem.kind == "folder")
                            .values(**changes))
    finally:
        db.dispose()


def test_status_says_which_copy_waits_since_when_and_why(gateway):
    blocked = _block_folder(gateway, "latkrabang")
    queue_id = gateway.send(letter(), LATKRABANG)
    _failed_once(gateway, queue_id)
    text = gateway.cli("status").stdout
    line = next((ln for ln in text.splitlines() if "waiting:" in ln), "")
    # The sysadmin reads which unit, letter and item, since when, the next try and the cause in words.
    item = gateway.status_here()["retrying"]["folder"]
    assert f"saraban.latkrabang letter {queue_id} (outbox item {item['id']})" in line, text
    assert "attempt 1" in line and "next 20" in line and "+07:00" in line, text
    assert "could not write to the folder or the disk" in line, text
    assert "Errno" not in text and "NotADirectoryError" not in text and "FileExistsError" not in text

    blocked.unlink()  # fixed; the sysadmin retries the item status named
    gateway.cli("outbox", "retry", str(item["id"]))
    gateway.wait_for(lambda: gateway.maildir_files("latkrabang"), 20, what="the copy filed after the retry")
    gateway.wait_for(lambda: not gateway.status_here()["retrying"], 20, what="nothing waiting any more")


def test_a_copy_waiting_when_the_clock_steps_back_a_day_is_filed_when_its_folder_returns(gateway):
    blocked = _block_folder(gateway, "dindaeng_admin")
    queue_id = gateway.send(letter(to=DINDAENG), DINDAENG)
    _failed_once(gateway, queue_id)
    # The clock steps back a day: the next attempt, written before, is now a day ahead.
    _outbox_item(gateway, queue_id, next_attempt_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1, seconds=30))
    blocked.unlink()
    gateway.wait_for(lambda: gateway.maildir_files("dindaeng_admin"), 15,
                     what="the copy filed though the clock went back a day")
    gateway.wait_idle()
    rows = [r for r in gateway.register() if r["queue_id"] == queue_id]
    assert len(rows) == 1 and len(gateway.maildir_files("dindaeng_admin")) == 1
    retries = [e for e in gateway.events() if e.get("event") == "delivery_retry" and e.get("queue_id") == queue_id]
    assert len(retries) <= 3  # waited, not a hot loop


def _file_size_limit(pid: int, limit: int) -> None:
    """RLIMIT_FSIZE on a running process of the daemon: a write past `limit` bytes fails
    with EFBIG, as a full disk fails with ENOSPC, without mounting anything."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_file_size_limit_at_data_and_in_the_vault_waits_and_files_once_lifted(gateway):
    files = [gateway.data_dir / "saraban.db", gateway.data_dir / "saraban.db-wal", gateway.log_path]
    limit = max(f.stat().st_size for f in files if f.exists()) + (2 << 20)  # the log and database go on
    raw = letter(files=[("2569_dds_0403_300.pdf", make_pdf("big", filler=limit + (512 << 10)))])
    pipeline = [e["pid"] for e in gateway.events() if e.get("event") == "runner_spawned"
                and e.get("runner") == "pipeline-0"][-1]
    filed_before = len(gateway.maildir_files("latkrabang"))

    _file_size_limit(gateway.proc.pid, limit)  # intake cannot write the spool file
    try:
        code, text = gateway.data_reply(raw, LATKRABANG)
    finally:
        _file_size_limit(gateway.proc.pid, resource.RLIM_INFINITY)
    assert code == 451 and text.isascii(), (code, text)  # the sender's MTA retries; no 250
    assert not list((gateway.data_dir / "spool" / "new").iterdir())

    _file_size_limit(pipeline, limit)  # the vault cannot take it after the 250
    try:
        queue_id = gateway.send(raw, LATKRABANG)
        gateway.wait_for(lambda: sum(1 for e in gateway.events() if e.get("event") == "storage_unavailable"
                                     and e.get("queue_id") == queue_id) >= 6, 60, what="six waits for storage")
        assert not [e for e in gateway.events() if e.get("event") == "message_parked"]
        assert not list((gateway.data_dir / "spool" / "failed").iterdir())
        text = gateway.cli("status").stdout  # what waits, and why, in words
        assert f"waiting: letter {queue_id}, received 20" in text, text
        assert "retried: เขียนลงโฟลเดอร์หรือดิสก์ไม่ได้ / could not write to the folder or the disk" in text, text
        assert "Errno" not in text and "File too large" not in text
    finally:
        _file_size_limit(pipeline, resource.RLIM_INFINITY)
    gateway.wait_for(lambda: len(gateway.maildir_files("latkrabang")) == filed_before + 1, 60,
                     what="the letter filed once the limit is lifted")
    assert [r["number"] for r in gateway.register() if r["queue_id"] == queue_id] == [filed_before + 1]
    assert not list((gateway.data_dir / "folders" / "latkrabang" / "tmp").iterdir())
    assert gateway.status_here()["waiting"] is None


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own: it is restarted, the session's is not."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


def test_postgresql_restarted_as_the_smarthost_takes_a_notice_sends_it_once(own_postgres, daemon_factory):
    """PostgreSQL goes down after the smarthost took the letter's acknowledgement and
    before it was recorded as sent, and a second letter arrives meanwhile: once it is
    back, each letter is registered once, numbered 1 and 2, and acknowledged once."""
    sink = Sink(free_port()).start()
    sink.hold_data = threading.Event()
    try:
        d = daemon_factory(database_url=own_postgres.url(), extra=notices_config(sink)).start()
        first = d.send(letter(), LATKRABANG)
        assert sink.data_arrived.wait(60)
        own_postgres._halt()  # stopped while the smarthost still holds its reply
        second = d.send(letter(), LATKRABANG)  # intake needs no database: 250
        sink.hold_data.set()  # ... which is 250: the first notice is out
        d.wait_for(lambda: any(e.get("event") == "notice_sent" for e in d.events()), 30, what="the first notice")
        # The sysadmin asks meanwhile: one line, no traceback.
        asked = d.cli("status", check=False)
        assert asked.returncode == 1 and "Traceback" not in asked.stderr, asked.stderr
        assert asked.stderr.startswith("saraban-gateway: the database refused (OperationalError:"), asked.stderr
        assert len(asked.stderr.strip().splitlines()) == 1, asked.stderr
        own_postgres.start()  # the same cluster, port and data again
        # The delivery runner queues a letter's notice once its copy is filed: wait for both.
        d.wait_for(lambda: d.status_here()["outbox"].get("notice") == {"done": 2}, 60, what="two notices sent")
        time.sleep(1.0)  # a notice sent twice would go now
        ids = [m.message["Message-ID"] for m in sink.messages()]  # one per notice key (letter, unit)
        assert len(ids) == 2 and len(set(ids)) == 2, ids
        assert sorted((r["number"], r["queue_id"]) for r in d.register()) == [(1, first), (2, second)]
    finally:
        sink.stop()


def test_a_postgresql_server_not_answering_is_the_machines_condition_not_the_letters():
    """What psycopg raises when PostgreSQL is down or restarting carries no SQLSTATE."""
    db = Database(f"postgresql+psycopg://saraban:x@127.0.0.1:{free_port()}/saraban")
    try:
        with pytest.raises(Exception) as refused:
            with db.session() as session:
                session.execute(select(1))
    finally:
        db.dispose()
    assert is_transient_storage_error(refused.value)
    assert not is_transient_storage_error(ValueError("a letter's own fault"))
