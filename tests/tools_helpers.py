"""Helpers for the central unit's tools tests."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO


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
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
