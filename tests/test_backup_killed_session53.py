"""`backup create` killed while it works (session 53, from the operations red team's list).

The register is copied first, then archived. The copy was made in TMPDIR: a `backup
create` killed there (an OOM kill, a `kill -9`, a reboot of a cron job) left a copy of
the register on /tmp's disk, outside the data directory's encrypted volume, and nothing
ever removed it. It is now made under the data directory (`backup-scratch/<pid>/`), and
the next `backup create` removes what a killed one left."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO


def _backup(config, target, tmpdir, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "backup", "create",
                           str(target)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          start_new_session=True, env=dict(os.environ, TMPDIR=str(tmpdir), **env))


def test_a_killed_backup_leaves_no_register_copy_in_tmpdir_and_the_next_removes_its_own(tmp_path):
    config = write_config(tmp_path / "gw")
    d = Daemon(config).start()
    try:
        d.send(letter(subject="แผนงานประจำปี"), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
    finally:
        d.stop()
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    target = tmp_path / "out" / "saraban.tar.gz"

    killed = _backup(config, target, tmpdir, SARABAN_CRASHPOINT="backup_database_copied")
    assert killed.returncode == -9, killed.stderr
    assert list(tmpdir.iterdir()) == []  # nothing of the register on TMPDIR's disk
    scratch = d.data_dir / "backup-scratch"
    [left] = list(scratch.iterdir())
    assert (left / "saraban.db").exists() and (left.stat().st_mode & 0o777) == 0o700

    done = _backup(config, target, tmpdir)
    assert done.returncode == 0, done.stderr
    assert target.exists() and list(scratch.iterdir()) == [] and list(tmpdir.iterdir()) == []
