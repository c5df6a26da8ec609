"""Two `backup create` of one file at once (session 53, operations red team)."""
from __future__ import annotations

import subprocess
import sys

from tests.daemon import write_config
from tests.paths import REPO


def test_a_second_backup_of_the_same_file_at_once_is_refused(tmp_path):
    """A cron job and a sysadmin by hand write the same file (`saraban-$(date +%F)`):
    both wrote one `.NAME.partial`; the one that finished first said "wrote FILE: vault,
    folders" of the other's archive (no folders, its own tail after it), the other "No
    such file or directory ... free space". Here the first is still writing (it holds
    its partial file, as a running `backup create` does) when the second starts."""
    import fcntl

    config = write_config(tmp_path)
    (tmp_path / "var" / "vault").mkdir(parents=True)
    (tmp_path / "var" / "vault" / "x").write_bytes(b"x")
    target = tmp_path / "out" / "saraban.tar.gz"
    target.parent.mkdir()
    partial = target.with_name(f".{target.name}.partial")
    with open(partial, "wb") as first:
        first.write(b"the first backup's bytes so far")
        first.flush()
        fcntl.flock(first.fileno(), fcntl.LOCK_EX)
        second = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "backup", "create",
                                 "--files-only", str(target)], cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another `saraban-gateway backup create` is writing" in second.stderr
        assert not target.exists()
        assert partial.read_bytes() == b"the first backup's bytes so far"
    # Once the first is done (or was killed), the next run takes its partial over.
    again = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "backup", "create",
                            "--files-only", str(target)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not partial.exists() and target.exists()
