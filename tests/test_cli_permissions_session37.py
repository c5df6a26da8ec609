"""A command run by a user who may not touch the gateway's files.

Until session 37 `status`, `check-config`, `register list`, `outbox list` and `run`,
run as the sysadmin's login user instead of the gateway's (the systemd unit's `User=`),
printed PermissionError's traceback, or "the database refused (OperationalError: unable
to open database file); is it reachable", which names neither the file nor the reason.
Now each says which file, that this user may not use it, whose it is, and exits 1.

The commands run as `nobody` (setpriv), so this needs root and a checkout `nobody`
can read; elsewhere it is skipped."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.daemon import write_config
from tests.paths import REPO

NOBODY = 65534


def _as_nobody(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
                          cwd="/", capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.fixture
def others_dir():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    if _as_nobody(sys.executable, "-c", "import gateway.cli.main").returncode != 0:
        pytest.skip("this checkout or its interpreter cannot be read by nobody")
    # tmp_path lies under a folder only root may enter; the commands' own files must not.
    place = Path(tempfile.mkdtemp(prefix="saraban-perm-", dir="/tmp"))
    place.chmod(0o755)
    yield place
    shutil.rmtree(place, ignore_errors=True)


def _config(place: Path) -> Path:
    config = write_config(place)
    config.chmod(0o644)
    root_cli = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "db", "upgrade"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert root_cli.returncode == 0, root_cli.stderr
    return config


def _said(config: Path, *args: str) -> tuple[int, str]:
    result = _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), *args)
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "PermissionError" not in text and "OperationalError" not in text, text
    return result.returncode, text


@pytest.mark.parametrize("command", [("status",), ("check-config",), ("register", "list"),
                                     ("outbox", "list"), ("run",)])
def test_a_data_folder_of_another_user_is_named_not_a_traceback(others_dir, command):
    config = _config(others_dir)
    data = others_dir / "var"
    data.chmod(0o700)
    code, text = _said(config, *command)
    assert code == 1, text
    assert "permission denied" in text and "cannot be used by nobody (uid 65534)" in text, text
    assert str(data) in text, text  # the folder the user may not enter, whichever file was asked first
    assert "it belongs to root" in text, text


def test_a_database_file_of_another_user_is_named(others_dir):
    config = _config(others_dir)
    database = others_dir / "var" / "saraban.db"
    database.chmod(0o600)
    code, text = _said(config, "register", "list")
    assert code == 1, text
    assert f"permission denied: {database} cannot be used by nobody" in text, text
