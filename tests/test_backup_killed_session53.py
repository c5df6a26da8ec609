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
    # Since session 56 the emptied scratch folder goes too (tests/test_backup_scratch_owner_session56.py).
    assert target.exists() and not scratch.exists() and list(tmpdir.iterdir()) == []


def test_a_backup_killed_while_it_writes_leaves_no_archive_behind_after_the_next_days_backup(tmp_path):
    """The cron job names each day's archive anew (docs/install.md: `saraban-$(date +%F)`).
    A run killed while it wrote left `.saraban-<day>.tar.gz.partial` (the register, the
    vault and the private key so far), and the next day's run, writing another name,
    never took it over: one more such file at each kill, for good, filling the backup
    disk. The next run removes it and says so; a partial a live run holds (locked), and a
    file of another program that merely ends in `.partial`, are left alone."""
    import fcntl
    import hashlib

    config = write_config(tmp_path / "gw")
    d = Daemon(config).start()
    try:
        d.send(letter(subject="แผนงานประจำปี"), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
    finally:
        d.stop()
    # Past gzip's buffers: the killed run's partial holds bytes, as a real vault's would.
    blob = os.urandom(1 << 20)
    (d.data_dir / "vault" / hashlib.sha256(blob).hexdigest()).write_bytes(blob)
    out = tmp_path / "out"
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()

    killed = _backup(config, out / "saraban-2026-12-07.tar.gz", tmpdir, SARABAN_CRASHPOINT="backup_archive_begun")
    assert killed.returncode == -9, killed.stderr
    left = out / ".saraban-2026-12-07.tar.gz.partial"
    assert left.stat().st_size > 512 * 1024  # the register and the vault so far
    notes = out / ".notes.partial"
    notes.write_text("an operator's own file", encoding="utf-8")
    writing = out / ".saraban-by-hand.tar.gz.partial"
    with open(writing, "wb") as other:
        other.write(b"\x1f\x8b the bytes of a run still writing")
        other.flush()
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)

        done = _backup(config, out / "saraban-2026-12-08.tar.gz", tmpdir)
        assert done.returncode == 0, done.stderr
        assert f"removed {left}: the unfinished archive of a `backup create` that was killed" in done.stdout
        assert not left.exists()
        assert writing.read_bytes() == b"\x1f\x8b the bytes of a run still writing"
    assert notes.read_text(encoding="utf-8") == "an operator's own file"
    assert sorted(p.name for p in out.iterdir()) == [".notes.partial", ".saraban-by-hand.tar.gz.partial",
                                                     "saraban-2026-12-08.tar.gz"]
