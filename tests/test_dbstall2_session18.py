"""Session 18's red team of a database another program holds up, round 2: the desk and
IMAP intake.

A sysadmin opens `sqlite3 var/saraban.db`, types `BEGIN IMMEDIATE;` and goes to lunch.
Before: every page of the desk, even the register's list, waited [storage]
lock_timeout and then said "something went wrong" (HTTP 500), a sign-in the same; IMAP
intake made its statements on its event loop, so the loop sat in SQLite's busy wait:
every mailbox of the process stalled, and SIGTERM, which the loop handles, waited
until the daemon killed the runner after runner_grace."""
from __future__ import annotations

import os
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.classified.helpers import db_rows
from tests.daemon import Daemon, free_port, write_config
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter
from tests.servers.common import wait_until
from tests.web.client import Client, signed_in
from tests.web.conftest import add_users

LOCK_TIMEOUT = 20  # the runners' wait; the desk waits at most 5 s of it (gateway/web/desk.py LOCK_WAIT)
BUSY_BOUND = 12  # seconds: the desk's 5 s wait, the sign-in's fixed delay, a slow CI machine
READ_BOUND = 4  # seconds for a page that only reads
PYTHON_TEXT = ("Traceback", "OperationalError", "database is locked", "sqlalchemy", "sqlite3")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, dovecot):
    dovecot.ensure_running()
    user, password = f"dbstall2{os.getpid()}", f"pw-dbstall2{os.getpid()}"
    dovecot.add_user(user, password)
    web_port = free_port()
    config = write_config(tmp_path_factory.mktemp("dbstall2"), extra=(
        intake_config(dovecot, user, password)
        + f"[web]\nenabled = true\nport = {web_port}\n[service]\nrunner_grace = 3\ndrain_timeout = 2\n"))
    config.write_text(config.read_text().replace("[storage]\n", f"[storage]\nlock_timeout = {LOCK_TIMEOUT}\n", 1))
    add_users(config, ("clerk", "clerk", "saraban.latkrabang"), ("sysadmin", "admin"))
    daemon = Daemon(config).start()
    dovecot.deliver(user, letter(message_id="<dbstall2-0@dds.bangkok.go.th>"))
    daemon.wait_for(lambda: len(daemon.register()) == 1, timeout=60, what="the first letter registered")
    try:
        yield daemon, f"http://127.0.0.1:{web_port}", dovecot, user
    finally:
        daemon.stop()


def _held(daemon: Daemon) -> sqlite3.Connection:
    shell = sqlite3.connect(daemon.data_dir / "saraban.db", isolation_level=None)
    shell.execute("BEGIN IMMEDIATE")  # ... and the sysadmin goes to lunch
    return shell


def _timed(call, *args):
    started = time.monotonic()
    answer = call(*args)
    return answer, time.monotonic() - started


def _busy_page(answer, took: float, sentence: str) -> None:
    assert answer.status == 503 and took < BUSY_BOUND, (answer.status, took, answer.text[:500])
    assert answer.header("Retry-After") == "60"
    assert sentence in answer.text, answer.text
    assert not any(word in answer.text for word in PYTHON_TEXT), answer.text


def test_desk_while_a_sysadmins_shell_holds_the_database(gateway):
    daemon, url, _, _ = gateway
    clerk = signed_in(url, "clerk")
    letter_id = re.search(r'href="/letters/(\d+)"', clerk.get("/register").text).group(1)
    english = Client(url)
    english.cookies["saraban_lang"] = "en"
    early = signed_in(url, "clerk")  # another tab, another computer
    admin = signed_in(url, "sysadmin")
    shell = _held(daemon)
    try:
        # Reading works: the list and the letter come from a read-only transaction.
        listing, took = _timed(clerk.get, "/register")
        assert listing.status == 200 and took < READ_BOUND, (listing.status, took)
        assert f'href="/letters/{letter_id}"' in listing.text
        shown, took = _timed(clerk.get, f"/letters/{letter_id}")
        assert shown.status == 200 and took < READ_BOUND, (shown.status, took)
        held, took = _timed(clerk.get, "/quarantine")
        assert held.status == 200 and took < READ_BOUND, (held.status, took)
        operations, took = _timed(admin.get, "/operations")  # status's look at the lock takes 1 s of it
        assert operations.status == 200 and took < READ_BOUND + 2, (operations.status, took)

        # Writing, at once (four people): within seconds the desk says the register is
        # busy, nothing else; a sign-in is not told "wrong password" nor counted as one.
        # Signing out on a shared computer signs out: the browser forgets the session.
        with ThreadPoolExecutor(4) as pool:
            note = pool.submit(_timed, clerk.post, f"/letters/{letter_id}/note", {"note": "ส่งกองคลัง"})
            wrong = pool.submit(_timed, Client(url).sign_in, "clerk", "a wrong password for once")
            right = pool.submit(_timed, english.sign_in, "clerk")
            leaving = pool.submit(_timed, early.post, "/logout", {})
        noted, took = note.result()
        _busy_page(noted, took, "ทะเบียนไม่ว่างชั่วคราว")
        _busy_page(noted, took, "ขณะนี้มีโปรแกรมอื่นใช้ฐานข้อมูลทะเบียนอยู่")
        _busy_page(*wrong.result(), "ขณะนี้มีโปรแกรมอื่นใช้ฐานข้อมูลทะเบียนอยู่")
        refused, took = right.result()
        _busy_page(refused, took, "The register is busy: another program holds the database")
        assert "Wrong user name or password" not in refused.text
        out, took = leaving.result()
        assert out.status == 303 and out.header("Location") == "/login" and took < BUSY_BOUND, (out.status, took)
        assert "saraban_session" not in early.cookies
        assert early.get("/register").header("Location") == "/login"
    finally:
        shell.execute("ROLLBACK")  # back from lunch
        shell.close()
    assert db_rows(daemon, "SELECT failed_logins, locked_until FROM desk_users WHERE username = 'clerk'") \
        == [(0, None)]
    assert [e for e in daemon.events() if e.get("event") == "web_database_busy"]
    assert signed_in(url, "clerk")  # the same person, at once
    assert clerk.post(f"/letters/{letter_id}/note", {"note": "ส่งกองคลัง"}).status == 303
    assert not db_rows(daemon, "SELECT 1 FROM letter_notes WHERE text = 'a wrong password for once'")
    assert len(db_rows(daemon, "SELECT 1 FROM letter_notes")) == 1  # the note once: the refused one left nothing


def test_imap_intake_while_the_database_is_held_and_systemd_stops(gateway):
    daemon, _, dovecot, user = gateway
    shell = _held(daemon)
    try:
        for n in (1, 2):
            dovecot.deliver(user, letter(message_id=f"<dbstall2-{n}@dds.bangkok.go.th>"))
        # IDLE reports them at once; the intake reads them and waits to record the first.
        # Nothing the daemon logs says when it is waiting: the stop comes a moment later.
        time.sleep(3)
        stopped, took = _timed(daemon.stop, 60)
        assert stopped == 0
        assert took < 2 + 3 + 4, (took, daemon.log_tail())  # drain_timeout + runner_grace
        killed = [e for e in daemon.events() if e.get("event") == "runner_killed"]
        assert not [e for e in killed if "imap" in str(e.get("runner"))], killed
    finally:
        shell.execute("ROLLBACK")
        shell.close()
    daemon.start()  # each letter registered once, and marked on the server once it is
    entries = daemon.wait_for(lambda: (lambda r: r if len(r) == 3 else None)(daemon.register()), timeout=60,
                              what="3 registered letters")
    assert sorted(e["number"] for e in entries) == [1, 2, 3]
    assert sorted(e["message_id"] for e in entries) == [f"<dbstall2-{n}@dds.bangkok.go.th>" for n in range(3)]

    def marked():
        flags = mailbox_flags(dovecot, user)
        return len(flags) == 3 and all("$SarabanRegistered" in f for f in flags)
    assert wait_until(marked, 60, interval=0.2), mailbox_flags(dovecot, user)
    daemon.wait_idle()
    assert len(daemon.register()) == 3
    assert sorted(r[0] for r in db_rows(daemon, "SELECT uid FROM imap_messages")) == [1, 2, 3]


def test_status_says_the_database_is_stuck_in_plain_words(tmp_path):
    """What `status` shows for a mailbox whose statement met the lock past lock_timeout:
    before, the driver's words and the SQL ("OperationalError: (sqlite3.OperationalError)
    database is locked [SQL: UPDATE imap_leases ...]")."""
    from sqlalchemy.exc import OperationalError

    from gateway.config.delivery import ImapIntake
    from gateway.intake.imap_intake import MailboxConsumer

    config = ImapIntake(unit="saraban.latkrabang", host="mail.bangkok.go.th", username="central", password="x")
    consumer = MailboxConsumer(config, None, None, "here", "bangkok.go.th", 1 << 20)
    locked = OperationalError("UPDATE imap_leases SET expires_at=?", {}, Exception("database is locked"))
    said = consumer._in_plain_words(locked)
    assert said.startswith("the database is stuck or unreachable"), said
    assert "SQL" not in said and "OperationalError" not in said
