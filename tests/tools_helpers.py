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
