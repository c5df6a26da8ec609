"""Two daemons, one SQLite file (or one data directory): the second refuses to start
with a message naming the lock and the pid of the first."""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, write_config


def test_second_daemon_on_the_same_sqlite_file_refuses_to_start(tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Daemon(write_config(tmp_path / "a", database_url=shared)).start()
    try:
        second = Daemon(write_config(tmp_path / "b", database_url=shared))
        with pytest.raises(RuntimeError, match="daemon exited with 1"):
            second.start()
        refusals = [e for e in second.events() if e.get("event") == "already_running"]
        assert refusals, second.log_tail()
        assert f"pid {first.proc.pid}" in refusals[0]["error"]
        assert "shared.db.lock" in refusals[0]["error"]
        assert not (tmp_path / "b" / "var" / "spool").exists()  # it touched nothing
        # The first one is unaffected.
        first.send(b"Subject: x\r\n\r\nstill here\r\n", "saraban.latkrabang@bangkok.go.th")
    finally:
        first.stop()
    # Once the first has stopped, the lock is free.
    again = Daemon(write_config(tmp_path / "b", database_url=shared)).start()
    again.stop()


def test_second_daemon_on_the_same_data_directory_refuses_to_start(tmp_path):
    first = Daemon(write_config(tmp_path / "a")).start()
    try:
        config = write_config(tmp_path / "a2")
        text = config.read_text().replace(str(tmp_path / "a2" / "var"), str(tmp_path / "a" / "var"))
        config.write_text(text)
        second = Daemon(config)
        with pytest.raises(RuntimeError, match="daemon exited with 1"):
            second.start()
        assert any(e.get("event") == "already_running" for e in second.events())
    finally:
        first.stop()
