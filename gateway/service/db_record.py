"""The record of the database file the running daemon started with
(`database-file.json`: path, dev, ino, pid), read by every process that opens the
database beside it (gateway/service/db_file.py says why). Apart from db_file.py so that
Settings.open_database can read it without importing the daemon's modules."""
from __future__ import annotations

import json
import os

from storage.db import Database

RECORD = "database-file.json"


def read_record(settings, name: str = RECORD) -> dict:  # noqa: ANN001 - Settings or its view (no import: a circle)
    try:
        return json.loads((settings.data_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def pin_to_running_daemon(settings, db: Database) -> None:  # noqa: ANN001 - as read_record
    """A command beside a running daemon (`register list`, the desk) opens the file the
    daemon has, or nothing: while it is moved away, SQLite would make a new, empty file
    at the path, opened with the write-ahead log the daemon's connections still write.
    The daemon and its runners pin themselves (record_at_start, pin_runner)."""
    if db.file is None:
        return
    last = read_record(settings)
    if last.get("path") != db.file or last.get("pid") in (os.getpid(), os.getppid()):
        return
    from gateway.service.instance_lock import running_pid

    if str(last.get("pid")) == running_pid(settings.data_dir):
        db.pin_file((last["dev"], last["ino"]), process_wide=False)  # the daemon may stop, this process go on
