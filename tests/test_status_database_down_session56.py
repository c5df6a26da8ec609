"""`saraban-gateway status` while PostgreSQL is down (session 56, operations red team).

The daemon goes on accepting during a PostgreSQL outage (the spool needs no database)
and the letters wait. The sysadmin's first question then is how many wait and whether
the daemon runs; `status` answered only "the database refused (...)", exit 1, and
nothing of the spool, the daemon or the disk (`/healthz` said them). It now shows what
it can read without the database, marks what it could not (`?`, not "none" or
"empty"), says the refusal as a WARNING, and still exits 1."""
from __future__ import annotations

import json

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.servers.common import ServerUnavailable
from tests.servers.postgres import PostgresCluster

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def test_status_during_a_postgresql_outage_shows_the_spool_and_the_daemon(tmp_path):
    try:
        cluster = PostgresCluster().start()  # its own: this test stops it
    except ServerUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    try:
        d = Daemon(write_config(tmp_path, database_url=cluster.create_database("saraban_outage"))).start()
        try:
            d.send(letter(subject="ขอเชิญประชุม"), LATKRABANG)
            d.wait_idle()
            up = d.cli("status")
            assert "messages   " in up.stdout and "?" not in up.stdout.split("register")[1].split("\n")[0]

            cluster.stop()
            d.send(letter(subject="ขอส่งรายงาน"), LATKRABANG)  # accepted: the spool needs no database
            d.send(letter(subject="ขอความอนุเคราะห์"), LATKRABANG)

            down = d.cli("status", check=False)
            assert down.returncode == 1, down.stderr
            assert "Traceback" not in down.stdout + down.stderr
            assert down.stderr.startswith("saraban-gateway: the database refused (")  # as before
            lines = down.stdout.splitlines()
            assert lines, down.stderr  # before: the refusal alone, on stderr
            assert lines[0] == f"daemon     running, pid {d.proc.pid}"
            assert "spool      pending 2, parked 0" in lines
            assert "messages   ? (the database was not read)" in lines
            assert "register   ? letter(s)" in lines and "quarantine ?" in lines
            assert any(line.startswith("disk       ") for line in lines)
            [warning] = [line for line in lines if line.startswith("WARNING")]
            assert warning.startswith("WARNING    the database refused (") and "Connection refused" in warning

            as_json = d.cli("status", "--json", check=False)
            assert as_json.returncode == 1
            data = json.loads(as_json.stdout)
            assert data["spool"] == {"pending": 2, "parked": 0}
            assert data["daemon"]["running"] is True and data["letters"] is None
            assert data["database"]["ok"] is False and "Connection refused" in data["database"]["detail"]
        finally:
            d.stop()
    finally:
        cluster.stop()
