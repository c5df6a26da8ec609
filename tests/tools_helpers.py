"""Helpers for the central unit's tools tests."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from tests.cli_fork import run_gateway


def this_be_year() -> int:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).year + 543


def json_events(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as a sysadmin types it (stdin/stderr are not a terminal here)."""
    return run_gateway(["--config", str(config), *args])


def backed_up_then_numbered(tmp_path: Path, after: int, unit: str = "saraban.latkrabang@bangkok.go.th") -> Path:
    """A gateway in tmp_path/"old" that registered one letter, was backed up, then
    registered `after` more (numbers the backup does not know); stopped. The archive."""
    from tests.daemon import Daemon, write_config
    from tests.letters import letter

    old = Daemon(write_config(tmp_path / "old")).start()
    try:
        old.send(letter(), unit)
        old.wait_idle()
        archive = tmp_path / "backup" / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
        for _ in range(after):
            old.send(letter(), unit)
        old.wait_idle()
        year = this_be_year()
        assert [e["receive_no"] for e in old.register()] == [f"{n}/{year}" for n in range(1, after + 2)]
    finally:
        old.stop()
    return archive
