"""`status` after the configuration's database was changed under a running daemon
(session 53, operations red team).

`[storage]` is read at start-up only: a reload logs `reload_needs_restart` and the
daemon goes on registering in the database it started with. `status` read the one the
file now named and said "the database schema is not set up ... run `saraban-gateway db
upgrade`": advice that makes a second, empty register, exit 2, nothing about the letters
the daemon was registering meanwhile."""
from __future__ import annotations

import os
import signal

from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _registered_then_database_changed(tmp_path):
    """A running daemon that registered a letter, and its configuration's [storage]
    database_url changed since to another SQLite file (not there yet)."""
    config = write_config(tmp_path)
    gw = Daemon(config).start()
    try:
        gw.send(letter(), LAT)
        gw.wait_idle()
    except BaseException:
        gw.stop()
        raise
    other = tmp_path / "other.db"
    config.write_text(config.read_text().replace("[storage]\n", f'[storage]\ndatabase_url = "sqlite:///{other}"\n'))
    return gw, config, other


def test_status_shows_the_running_daemons_register_and_says_the_new_database_waits(tmp_path):
    gw, config, other = _registered_then_database_changed(tmp_path)
    try:
        os.kill(gw.proc.pid, signal.SIGHUP)
        gw.wait_for_event("reload_needs_restart")
        gw.send(letter(), LAT)
        gw.wait_idle()
        status = gw.cli("status", check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "db upgrade" not in status.stdout + status.stderr
        assert f"the running daemon registers in {gw.data_dir / 'saraban.db'}" in status.stdout
        assert "Restart the daemon" in status.stdout
        assert not other.exists()
        assert "register   2 letter(s)" in status.stdout, status.stdout  # both letters, in the daemon's file
    finally:
        gw.stop()


def test_register_commands_refuse_while_the_daemon_registers_in_another_database(tmp_path):
    """`register list` said "not set up ... run db upgrade" of the new file, and `quarantine
    release` made it: a second, empty register, beside the one the daemon fills."""
    gw, config, other = _registered_then_database_changed(tmp_path)
    try:
        for command in (("register", "list"), ("quarantine", "release", "1", "--reason", "ผอ.สั่งรับ"),
                        ("outbox", "list")):
            refused = gw.cli(*command, check=False)
            assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
            assert f"the running daemon registers in {gw.data_dir / 'saraban.db'}" in refused.stderr
            assert "db upgrade" not in refused.stdout + refused.stderr
        assert not other.exists()
        # The db commands stay the sysadmin's: the new database is prepared before the restart.
        current = gw.cli("db", "current", check=False)
        assert "schema at" in current.stdout and "the running daemon registers" not in current.stderr
    finally:
        gw.stop()


def test_commands_refuse_while_the_daemon_registers_in_another_postgresql_database(tmp_path, postgres_cluster,
                                                                                  postgres_database_url):
    """The same guard for a daemon on PostgreSQL (session 54): the configuration changed to
    another database of the same server while the daemon runs. Until then the commands
    opened the new database: `quarantine release` made a second register there and
    `status` said to run `db upgrade`. The password is never shown; a URL that only
    spells the driver or the port otherwise names the same database and is let through."""
    from gateway.service.db_file import SERVER_RECORD
    from storage.db import server_database

    other_name = f"other_{os.getpid()}"
    other = postgres_cluster.create_database(other_name)
    config = write_config(tmp_path, database_url=postgres_database_url)
    gw = Daemon(config).start()
    try:
        gw.send(letter(), LAT)
        gw.wait_idle()
        assert gw.cli("register", "list", check=False).returncode == 0
        text = config.read_text()
        assert postgres_database_url in text
        same = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
        config.write_text(text.replace(postgres_database_url, same))
        assert gw.cli("register", "list", check=False).returncode == 0  # the same database, spelt otherwise
        daemons = server_database(postgres_database_url)
        # The other database named by the environment, the file unchanged: the same refusal.
        from tests.cli_fork import run_gateway

        by_env = run_gateway(["--config", str(config), "register", "list"],
                             env=dict(os.environ, **gw.env, SARABAN_DATABASE_URL=other))
        assert by_env.returncode == 1 and f"the running daemon registers in {daemons}" in by_env.stderr, \
            by_env.stdout + by_env.stderr
        config.write_text(text.replace(postgres_database_url, other))
        assert daemons and ":" not in daemons.split("//", 1)[1].split("@", 1)[0]  # no password in it
        for command in (("register", "list"), ("quarantine", "release", "1", "--reason", "ผอ.สั่งรับ"),
                        ("outbox", "list"), ("status",)):
            refused = gw.cli(*command, check=False)
            assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
            assert f"the running daemon registers in {daemons}" in refused.stderr, refused.stderr
            assert "db upgrade" not in refused.stdout + refused.stderr
            assert "Traceback" not in refused.stderr
        record = (gw.data_dir / SERVER_RECORD).read_text()
        assert other_name not in record and "password" not in record.lower()
        tables = gw.cli("db", "current", check=False)  # the sysadmin prepares the new one
        assert "the running daemon registers" not in tables.stderr
    finally:
        gw.stop()
        postgres_cluster.drop_database(other_name)
