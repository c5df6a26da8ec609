"""Session 18's red team of a database another program holds up.

A sysadmin opens `sqlite3 var/saraban.db`, types `BEGIN IMMEDIATE;` and goes to lunch;
on PostgreSQL someone runs `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` (a VACUUM FULL, a
migration by hand). Meanwhile senders send, a monitor polls /healthz, Prometheus
scrapes /metrics, the operator asks `status` and `register list`, systemd sends
SIGTERM. Before: each /healthz held a thread of the event loop's shared pool for the
whole busy_timeout (60 s); after six of them the spool commit before an SMTP 250 waited
behind, the sender timed out and the letter was thrown away, `status` answered after a
minute with "database is locked", and on PostgreSQL /healthz said ok, `status` waited
for ever and every runner sat on its statement."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter

LETTERS = 3
SMTP_BOUND = 15  # seconds: a 250 comes in well under a sender's own timeouts (RFC 5321: 10 min)
ANSWER_BOUND = 15  # seconds for /healthz, `status`, `register list` while the database is held


def _get(url: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=90) as answer:
            return answer.status, answer.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started
    except OSError:  # the daemon stopped while it asked: no answer (status 0)
        return 0, b"", time.monotonic() - started


def _scrapes(urls: list[str]) -> tuple[list[threading.Thread], list[tuple[int, bytes, float]]]:
    """A monitor and Prometheus polling at once, each request in its own thread."""
    answers: list[tuple[int, bytes, float]] = []
    threads = [threading.Thread(target=lambda u=u: answers.append(_get(u))) for u in urls]
    for thread in threads:
        thread.start()
    return threads, answers


def _timed_send(daemon: Daemon, raw: bytes) -> tuple[int, bytes, float]:
    started = time.monotonic()
    code, text = daemon.data_reply(raw)
    return code, text, time.monotonic() - started


def _config(tmp, http_port: int, database_url: str | None = None, storage: str = ""):
    config = write_config(tmp, database_url=database_url, extra=f"""
[http]
enabled = true
port = {http_port}
[service]
runner_grace = 3
drain_timeout = 2
""")
    if storage:
        config.write_text(config.read_text().replace("[storage]\n", f"[storage]\n{storage}", 1))
    return config


def _registered_once(daemon: Daemon, accepted: list[str]) -> None:
    entries = daemon.register("--unit", "saraban.latkrabang")
    assert sorted(e["queue_id"] for e in entries) == sorted(accepted)
    assert sorted(e["number"] for e in entries) == list(range(1, len(accepted) + 1))
    assert not [e for e in daemon.events() if e.get("event") == "message_parked"]


@pytest.fixture(scope="module")
def sqlite_gateway(tmp_path_factory):
    http_port = free_port()
    # lock_timeout 2 s: the runner gives up on the lock and tries again while the test lasts.
    daemon = Daemon(_config(tmp_path_factory.mktemp("dbstall-sqlite"), http_port, storage="lock_timeout = 2\n")).start()
    yield daemon, f"http://127.0.0.1:{http_port}"
    daemon.stop()


def test_sqlite_held_by_a_sysadmins_shell(sqlite_gateway):
    daemon, http = sqlite_gateway
    accepted = []
    shell = sqlite3.connect(daemon.data_dir / "saraban.db", isolation_level=None)
    shell.execute("BEGIN IMMEDIATE")  # ... and the sysadmin goes to lunch
    try:
        threads, answers = _scrapes([f"{http}/healthz"] * 8 + [f"{http}/metrics"] * 4)
        time.sleep(0.5)  # the scrapes are in before the letters (wait_for has nothing to poll)
        for _ in range(LETTERS):
            code, text, took = _timed_send(daemon, letter())
            assert code == 250, (code, text, took)
            assert took < SMTP_BOUND, took
            accepted.append(text.decode().rsplit(" ", 1)[-1])
        for thread in threads:
            thread.join(60)
        health = [json.loads(body) for code, body, _ in answers if body.startswith(b"{")]
        assert len(health) == 8 and all(took < ANSWER_BOUND for _, _, took in answers), answers
        assert all(h["status"] == "fail" for h in health), health
        details = [h["checks"].get("database", h["checks"].get("stalled", {})).get("detail", "") for h in health]
        assert any("stuck: another program holds the database's write lock" in d for d in details), details

        status = daemon.status_here()  # what `status --json` prints
        assert status["database"]["ok"] is False
        assert "write lock (a sqlite3 shell, a backup)" in status["database"]["detail"]
        assert any(w.startswith("the database is stuck") for w in status["warnings"])
        assert status["spool"]["pending"] == LETTERS and status["spool"]["parked"] == 0
        started = time.monotonic()
        text = daemon.cli("status").stdout  # the command a sysadmin types
        assert time.monotonic() - started < ANSWER_BOUND
        assert "WARNING    the database is stuck: another program holds the database's write lock" in text

        started = time.monotonic()
        assert daemon.register("--unit", "saraban.latkrabang") == []  # nothing registered yet, said at once
        assert time.monotonic() - started < ANSWER_BOUND
        refused = daemon.cli("outbox", "retry", "1", check=False)  # a command that writes
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.stderr.startswith("saraban-gateway: the database is stuck: another program holds a lock"), \
            refused.stderr
        assert [e for e in daemon.events() if e.get("event") == "storage_unavailable"]  # waited, said why

    finally:
        shell.execute("ROLLBACK")  # back from lunch: every letter registered once, in order
    daemon.wait_idle()
    _registered_once(daemon, accepted)
    assert daemon.status_here()["database"] == {"ok": True, "detail": "ok"}

    # systemd's stop while the sysadmin holds the lock again and a letter waits for it:
    # within drain_timeout + runner_grace (before: behind the scrapes' threads too).
    shell.execute("BEGIN IMMEDIATE")
    try:
        accepted.append(daemon.send(letter(), "saraban.latkrabang@bangkok.go.th"))
        threads, _ = _scrapes([f"{http}/healthz"] * 8)
        started = time.monotonic()
        assert daemon.stop(60) == 0
        assert time.monotonic() - started < 2 + 3 + 10, daemon.log_tail()
        for thread in threads:
            thread.join(60)
    finally:
        shell.execute("ROLLBACK")
        shell.close()
    assert (daemon.data_dir / "spool" / "new" / f"{accepted[-1]}.msg").exists()  # for the next start


@pytest.fixture(scope="module")
def pg_gateway(tmp_path_factory, postgres_cluster):
    """A daemon on PostgreSQL whose statements give up on a lock after 1 s and are cut
    after 3 s (the server's statement_timeout) or, by the gateway itself, 6 s."""
    name = f"dbstall_{os.getpid()}"
    url = postgres_cluster.create_database(name)
    http_port = free_port()
    config = _config(tmp_path_factory.mktemp("dbstall-pg"), http_port, url,
                     storage="lock_timeout = 1\nstatement_timeout = 3\n")
    daemon = Daemon(config).start()
    yield daemon, f"http://127.0.0.1:{http_port}", postgres_cluster.conninfo(name)
    daemon.stop()
    postgres_cluster.drop_database(name)


def test_postgresql_table_locked_by_hand(pg_gateway):
    daemon, http, conninfo = pg_gateway
    offset = len(daemon.events())
    accepted = []
    with psycopg.connect(conninfo) as dba:  # a migration by hand, a VACUUM FULL
        dba.execute("LOCK TABLE register_counters IN ACCESS EXCLUSIVE MODE")
        locked = time.monotonic()
        for _ in range(LETTERS):
            code, text, took = _timed_send(daemon, letter())
            assert code == 250 and took < SMTP_BOUND, (code, text, took)
            accepted.append(text.decode().rsplit(" ", 1)[-1])
        # The runner's statement gave up after lock_timeout (before: it waited for as
        # long as the lock was held), said why, and waits to try again.
        daemon.wait_for(lambda: [e for e in daemon.events(offset) if e.get("event") == "storage_unavailable"],
                        what="the runner to give up on the lock")
        code, body, took = _get(f"{http}/healthz")  # before: 200 "ok", SELECT 1 answered
        assert code == 503 and took < ANSWER_BOUND, (code, body, took)
        detail = json.loads(body)["checks"]["database"]["detail"]
        assert detail.startswith("stuck: another session holds a lock on the register's tables"), detail
        started = time.monotonic()
        text = daemon.cli("status").stdout  # before: waited as long as the lock was held
        assert time.monotonic() - started < ANSWER_BOUND
        assert "WARNING    the database is stuck: another session holds a lock on the register's tables" in text
        assert "parked 0" in text
        # Each try waits lock_timeout (1 s) and backs off: waiting, not a hot loop.
        waits = [e for e in daemon.events(offset) if e.get("event") == "storage_unavailable"]
        assert len(waits) <= 2 * LETTERS + (time.monotonic() - locked), len(waits)
        dba.rollback()

    daemon.wait_idle()
    _registered_once(daemon, accepted)


def test_postgresql_backend_frozen_mid_statement(pg_gateway):
    """The backends serving the gateway SIGSTOPped (a hung host whose kernel still
    answers TCP): before, the runner waited on its statement for ever and letters piled
    up in the spool; now the gateway cuts the connection after its own deadline and
    registers them on a new one."""
    daemon, http, conninfo = pg_gateway
    before = [e["queue_id"] for e in daemon.register("--unit", "saraban.latkrabang")]
    with psycopg.connect(conninfo, autocommit=True) as dba:
        pids = [row[0] for row in dba.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    assert pids
    accepted = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        for _ in range(LETTERS):
            code, text, took = _timed_send(daemon, letter())
            assert code == 250 and took < SMTP_BOUND, (code, text, took)
            accepted.append(text.decode().rsplit(" ", 1)[-1])
        code, body, took = _get(f"{http}/healthz")
        assert took < ANSWER_BOUND, (code, body, took)
        daemon.wait_idle(60)  # while the old backends are still frozen
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    _registered_once(daemon, before + accepted)
    assert [e for e in daemon.events() if e.get("event") == "database_no_answer" and e["waited"] == 6]
