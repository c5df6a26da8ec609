"""`backup create` run once as root, then by the gateway's user (session 56, operations
red team).

docs/install.md runs `backup create` as the gateway's user (the nightly job); a
sysadmin by hand types `sudo saraban-gateway backup create ...` as root. That run left
`<data_dir>/backup-scratch/` (0700, root's) behind, and every later run as the
gateway's user failed: "saraban-gateway: Permission denied:
/var/lib/saraban-gateway/backup-scratch", no archive, every night, until someone found
and removed it. The folder is now removed when the run is done, an empty one another
user left is removed by the next run, and one that cannot be (a killed root run's copy
inside) is named with its owner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.cli_fork import run_gateway
from tests.daemon import write_config
from tests.paths import REPO

NOBODY = 65534


def _as_nobody(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
                          cwd="/", capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.fixture
def place():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    if _as_nobody(sys.executable, "-c", "import gateway.cli.main").returncode != 0:
        pytest.skip("this checkout or its interpreter cannot be read by nobody")
    where = Path(tempfile.mkdtemp(prefix="saraban-scratch-", dir="/tmp"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_a_backup_run_as_root_does_not_stop_the_gateway_users_next(place):
    config = write_config(place)
    config.chmod(0o644)
    data = place / "var"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    assert _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "db", "upgrade").returncode == 0
    out = place / "backups"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)

    def nightly(name: str) -> subprocess.CompletedProcess:
        return _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "backup", "create",
                          str(out / name))

    by_hand = run_gateway(["--config", str(config), "backup", "create", str(out / "by-root.tar.gz")])
    assert by_hand.returncode == 0, by_hand.stderr
    assert not (data / "backup-scratch").exists()  # nothing of root's left in the gateway's folder
    night = nightly("night-1.tar.gz")
    assert night.returncode == 0, night.stderr
    assert night.stdout.startswith(f"wrote {out / 'night-1.tar.gz'}: 0 register entries")

    # What a root run of an older version left: empty, root's, 0700. Removed, and the night goes on.
    (data / "backup-scratch").mkdir(mode=0o700)
    night = nightly("night-2.tar.gz")
    assert night.returncode == 0, night.stderr
    assert not (data / "backup-scratch").exists()

    # A killed root run's copy inside: not this user's to remove; said with whose it is.
    (data / "backup-scratch" / "999999").mkdir(parents=True)
    (data / "backup-scratch").chmod(0o700)
    night = nightly("night-3.tar.gz")
    assert night.returncode == 1
    assert (f"belongs to root, a backup create run as root left it: remove it as root); run backup create "
            "as the gateway's user") in night.stderr, night.stderr
    assert "Traceback" not in night.stderr and not (out / "night-3.tar.gz").exists()
