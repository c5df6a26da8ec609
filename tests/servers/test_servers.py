"""The test servers are real: IMAP logins, Thai mail, IDLE, restarts, UIDVALIDITY, PostgreSQL."""
from __future__ import annotations

import email
import imaplib
import os
import re
import socket
import threading
from email.message import EmailMessage
from email.policy import default as default_policy

import psycopg
import pytest
import sqlalchemy as sa

from tests.servers import dovecot as dovecot_module
from tests.servers import postgres as postgres_module
from tests.servers.common import SKIP_ENV, ServerUnavailable, group_alive
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresCluster

THAI_SUBJECT = "ขอเชิญประชุมคณะกรรมการ (ด่วนที่สุด)"  # "invitation to the committee meeting (most urgent)"


def skip_if_servers_skipped() -> None:
    if os.environ.get(SKIP_ENV, "").strip() not in ("", "0"):
        pytest.skip(f"{SKIP_ENV} is set")


def thai_letter(subject: str = THAI_SUBJECT, to: str = "central@bangkok.go.th") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "สำนักงานเขตลาดกระบัง <saraban.latkrabang@bangkok.go.th>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="test.bangkok.go.th")
    msg.set_content("เรียน ผู้อำนวยการ\nตามที่ ...\n")
    return msg


def select_uidvalidity(conn: imaplib.IMAP4, mailbox: str = "INBOX") -> int:
    typ, _ = conn.select(mailbox)
    assert typ == "OK"
    typ, data = conn.response("UIDVALIDITY")
    return int(data[0])


def wait_for_exists(conn: imaplib.IMAP4, deliver, timeout: float = 30) -> int:
    """Enter IDLE, call `deliver()`, return the message count of the first EXISTS seen.

    Python 3.11's imaplib has no IDLE, so this speaks the protocol (RFC 2177) directly.
    `timeout` only bounds a broken server; it is not what the test asserts.
    """
    tag = conn._new_tag().decode()
    conn.send(f"{tag} IDLE\r\n".encode())
    assert conn.readline().startswith(b"+"), "server refused IDLE"
    deliver()
    conn.sock.settimeout(timeout)
    count = None
    while count is None:
        line = conn.readline()
        if not line:
            raise AssertionError("server closed the connection during IDLE")
        match = re.match(rb"\* (\d+) EXISTS", line)
        if match:
            count = int(match.group(1))
    conn.send(b"DONE\r\n")
    while not (line := conn.readline()).startswith(tag.encode()):
        assert line, "server closed the connection after DONE"
    assert b" OK" in line
    return count


# -- Dovecot ---------------------------------------------------------------------------


def test_each_test_user_logs_in_over_plain_imap_and_verified_tls(dovecot: DovecotServer) -> None:
    assert set(dovecot.users) >= {"saraban.latkrabang", "saraban.dindaeng.admin", "central"}
    for user in dovecot.users:
        plain = dovecot.imap(user)
        assert plain.select("INBOX")[0] == "OK"
        plain.logout()
        tls = dovecot.imaps(user)
        assert tls.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.select("INBOX")[0] == "OK"
        tls.logout()


def test_wrong_password_is_refused(dovecot: DovecotServer) -> None:
    conn = imaplib.IMAP4(dovecot.host, dovecot.port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED|Authentication failed"):
        conn.login("central", "not-the-password")
    conn.logout()


def test_append_then_fetch_keeps_the_thai_subject(dovecot: DovecotServer, dovecot_user) -> None:
    user, _ = dovecot_user
    conn = dovecot.imaps(user)
    letter = thai_letter()
    typ, _ = conn.append("INBOX", None, None, letter.as_bytes())
    assert typ == "OK"
    conn.select("INBOX")
    typ, data = conn.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    fetched = email.message_from_bytes(data[0][1], policy=default_policy)
    assert fetched["Subject"] == THAI_SUBJECT
    assert fetched["Message-ID"] == letter["Message-ID"]
    assert "เรียน ผู้อำนวยการ" in fetched.get_content()
    conn.logout()
    # ... and it is a real file in the user's Maildir.
    files = list((dovecot.mail_dir(user) / "cur").iterdir()) + list((dovecot.mail_dir(user) / "new").iterdir())
    assert len(files) == 1


def test_idle_reports_a_message_delivered_from_outside(dovecot: DovecotServer, dovecot_user) -> None:
    user, _ = dovecot_user
    conn = dovecot.imap(user)
    conn.select("INBOX")
    count = wait_for_exists(conn, lambda: dovecot.deliver(user, thai_letter()))
    assert count == 1
    typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert email.message_from_bytes(data[0][1], policy=default_policy)["Subject"] == THAI_SUBJECT
    conn.logout()


def test_restart_cuts_sessions_and_keeps_mail_and_port(dovecot: DovecotServer, dovecot_user) -> None:
    user, _ = dovecot_user
    dovecot.deliver(user, thai_letter("หนังสือก่อนรีสตาร์ท"))  # "letter before the restart"
    port, ssl_port = dovecot.port, dovecot.ssl_port
    before = dovecot.imap(user)
    before.select("INBOX")

    dovecot.restart()

    assert (dovecot.port, dovecot.ssl_port) == (port, ssl_port)
    with pytest.raises((imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError)):
        before.noop()
    after = dovecot.imaps(user)
    typ, data = after.select("INBOX")
    assert int(data[0]) == 1
    typ, data = after.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert email.message_from_bytes(data[0][1], policy=default_policy)["Subject"] == "หนังสือก่อนรีสตาร์ท"
    after.logout()


def test_inbox_uidvalidity_change_is_seen_by_clients(dovecot: DovecotServer, dovecot_user) -> None:
    user, _ = dovecot_user
    dovecot.deliver(user, thai_letter())
    conn = dovecot.imap(user)
    old = select_uidvalidity(conn)
    conn.logout()

    new = dovecot.change_uidvalidity(user)

    assert new != old
    conn = dovecot.imap(user)
    assert select_uidvalidity(conn) == new
    assert conn.select("INBOX")[1] == [b"1"]  # the message is still there
    conn.logout()


def test_recreated_folder_has_new_uidvalidity_and_no_mail(dovecot: DovecotServer, dovecot_user) -> None:
    user, _ = dovecot_user
    folder = "Saraban/Registered"
    dovecot.create_mailbox(user, folder)
    dovecot.deliver(user, thai_letter(), mailbox=folder)
    conn = dovecot.imap(user)
    old = select_uidvalidity(conn, f'"{folder}"')
    conn.logout()

    new = dovecot.recreate_mailbox(user, folder)

    conn = dovecot.imap(user)
    assert select_uidvalidity(conn, f'"{folder}"') == new != old
    assert conn.select(f'"{folder}"')[1] == [b"0"]
    conn.logout()


@pytest.mark.dovecot
def test_stopped_dovecot_leaves_no_process_and_no_files() -> None:
    skip_if_servers_skipped()
    server = DovecotServer(users={"alone": "alone-secret"}).start()
    root, pid = server.root, server._proc.pid
    server.imap("alone").logout()
    server.stop()
    assert not root.exists()
    assert not group_alive(pid)
    for port in (server.port, server.ssl_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, port), timeout=5).close()


@pytest.mark.dovecot
def test_dovecot_that_cannot_start_reports_its_own_log() -> None:
    skip_if_servers_skipped()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = DovecotServer(port=squatter.getsockname()[1], startup_timeout=10)
        with pytest.raises(ServerUnavailable, match="Address already in use") as caught:
            server.start()
    assert "dovecot.log" in str(caught.value)
    server.stop()
    assert server.root is None


def test_missing_dovecot_names_the_debian_package(monkeypatch) -> None:
    monkeypatch.setattr(dovecot_module, "DOVECOT", "/nonexistent/sbin/dovecot")
    with pytest.raises(ServerUnavailable, match="dovecot-imapd"):
        DovecotServer()


# -- PostgreSQL ------------------------------------------------------------------------


def test_sqlalchemy_creates_a_table_and_keeps_thai_text(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    meta = sa.MetaData()
    letters = sa.Table(
        "harness_letters", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
    )
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(letters.insert(), [{"subject": THAI_SUBJECT}])
        with engine.connect() as conn:
            assert conn.scalar(sa.select(letters.c.subject)) == THAI_SUBJECT
            assert conn.dialect.name == "postgresql"
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_concurrent_connections_all_commit_without_loss(postgres_database_url: str) -> None:
    engine = sa.create_engine(postgres_database_url, pool_size=8)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hits (id serial PRIMARY KEY, worker int, backend int)"))
    workers, rows = 8, 25
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with engine.connect() as conn:
                start.wait(timeout=30)  # all connections open at once before anyone writes
                for _ in range(rows):
                    with conn.begin():
                        conn.execute(
                            sa.text("INSERT INTO hits (worker, backend) VALUES (:w, pg_backend_pid())"),
                            {"w": n},
                        )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with engine.connect() as conn:
        total, distinct_ids, backends = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT id), count(DISTINCT backend) FROM hits")
        ).one()
    engine.dispose()
    assert (total, distinct_ids) == (workers * rows, workers * rows)
    assert backends == workers  # eight server processes really served at the same time


def test_row_lock_held_by_one_connection_blocks_another(postgres_database_url: str) -> None:
    engine = sa.create_engine(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE counter (unit text PRIMARY KEY, next int)"))
        conn.execute(sa.text("INSERT INTO counter VALUES ('latkrabang', 1)"))
    holder = engine.connect()
    holder.begin()
    holder.execute(sa.text("SELECT next FROM counter WHERE unit = 'latkrabang' FOR UPDATE"))
    try:
        with engine.connect() as other:
            with pytest.raises(sa.exc.OperationalError) as caught:
                other.execute(sa.text("SELECT next FROM counter WHERE unit = 'latkrabang' FOR UPDATE NOWAIT"))
            assert isinstance(caught.value.orig, psycopg.errors.LockNotAvailable)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_database_url_gives_an_empty_database_on_each_backend(database_url: str, request) -> None:
    expected = request.node.callspec.params["database_url"]
    engine = sa.create_engine(database_url)
    try:
        assert engine.dialect.name == expected
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x text)"))
            conn.execute(sa.text("INSERT INTO t VALUES ('เลขรับ')"))  # "receive number"
            assert conn.scalar(sa.text("SELECT x FROM t")) == "เลขรับ"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_stopped_cluster_leaves_no_process_and_no_files() -> None:
    skip_if_servers_skipped()
    cluster = PostgresCluster().start()
    root, pid = cluster.root, cluster._proc.pid
    cluster.stop()
    assert not root.exists()
    assert not group_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((cluster.host, cluster.port), timeout=5).close()


@pytest.mark.postgres
def test_postgres_that_cannot_start_reports_its_own_log() -> None:
    skip_if_servers_skipped()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        cluster = PostgresCluster(port=squatter.getsockname()[1], startup_timeout=10)
        with pytest.raises(ServerUnavailable, match="postgres.log") as caught:
            cluster.start()
    assert "could not bind" in str(caught.value) or "in use" in str(caught.value)
    cluster.stop()


def test_missing_postgresql_names_the_debian_package(monkeypatch) -> None:
    monkeypatch.setenv("SARABAN_PG_BINDIR", "/nonexistent/postgresql/bin")
    with pytest.raises(ServerUnavailable, match="install the Debian package postgresql"):
        postgres_module.find_bindir()
