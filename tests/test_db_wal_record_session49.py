"""The write-ahead log the daemon records at start is the register's own, whatever
connection closed before (session 49): SQLite deletes the log with the last connection
to close, and the record held only because the supervisor's pool happened to keep one
open while an exec'd schema child worked. With that child forked after the pool was
emptied, nothing was open at record time; a restore by rename then had no old log to
set aside (tests/test_db_moved_session37.py drives that through a daemon)."""
from __future__ import annotations

import json
import os

from gateway.config.settings import load_settings
from gateway.service import db_file
from gateway.service.db_record import RECORD
from tests.cli_fork import run_gateway
from tests.daemon import write_config


def test_the_log_is_recorded_with_no_connection_open_before(tmp_path):
    config = write_config(tmp_path)
    assert run_gateway(["--config", str(config), "db", "upgrade"]).returncode == 0
    settings = load_settings(config)
    db = settings.open_database()
    try:
        db.dispose()  # as before a fork: no connection of this process open
        assert not os.path.exists(db.file + "-wal")  # the upgrade's last close took it
        db_file.record_at_start(settings, db)
        record = json.loads((settings.data_dir / RECORD).read_text())
        wal = os.stat(db.file + "-wal")
        assert (record["wal_dev"], record["wal_ino"]) == (wal.st_dev, wal.st_ino)
    finally:
        db.dispose()
