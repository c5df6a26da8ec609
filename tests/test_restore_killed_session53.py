"""`backup restore` killed half-way (session 53, operations red team).

The restore puts the register file into place and then reads every vault file back
(minutes for a large vault). Until session 53 the marker that holds numbering after a
restore (`restored.json`) was written only at the very end: a `kill -9`, an OOM kill,
a Ctrl-C or a failed vault check in between left the backup's register, whose counters
are behind the numbers given since, with no marker. The next start took it for a
register never restored: a Maildir left in the old data directory was not missed, and
the next letter got a receive number already on a filed copy."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO
from tests.tools_helpers import backed_up_then_numbered, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_restore_killed_after_the_register_is_in_place_numbers_nothing(tmp_path):
    year = this_be_year()
    archive = backed_up_then_numbered(tmp_path, after=2)

    fresh = write_config(tmp_path / "new")
    # Killed as `kill -9` would, in a session of its own (the crash point kills its group).
    killed = subprocess.run([sys.executable, "-m", "gateway", "--config", str(fresh), "backup", "restore",
                             str(archive)], cwd=REPO, capture_output=True, text=True, start_new_session=True,
                            env=dict(os.environ, SARABAN_CRASHPOINT="restore_database_in_place"), timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert "restored" not in killed.stdout

    # The sysadmin starts the gateway all the same; the Maildirs stayed in the old data
    # directory (2/ and 3/ are filed there).
    new = Daemon(fresh).start()
    try:
        new.send(letter(), LAT)  # accepted: it waits in the spool
        status = new.wait_for(lambda: (s := new.status_here())["numbering"]["state"] in ("held", "open") and s,
                              timeout=30, what="numbering checked")
        assert status["numbering"]["state"] == "held", status["numbering"]
        assert any("did not finish" in w and str(archive) in w for w in status["warnings"]), status["warnings"]
        assert [e["receive_no"] for e in new.register()] == [f"1/{year}"]  # 2/ is not given again
        confirm = new.cli("backup", "confirm-numbers", check=False)
        assert confirm.returncode == 1 and "did not finish" in confirm.stderr
    finally:
        new.stop()


def test_a_file_that_is_no_backup_leaves_no_marker(tmp_path):
    fresh = write_config(tmp_path / "new")
    bogus = tmp_path / "register.dump"
    bogus.write_bytes(b"PGDMP not a tar")
    result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(fresh), "backup", "restore",
                             str(bogus)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "is not a backup" in result.stderr
    assert "may hold part of it" not in result.stderr
    assert not (fresh.parent / "var" / "restored.json").exists()


def test_a_sqlite_backup_refused_for_a_postgresql_configuration_puts_nothing_back(tmp_path):
    """Refused only after vault/, keys/ and spool/ were unpacked: the data directory was
    left half restored, and the next try (the configuration corrected) said "not empty"."""
    old = Daemon(write_config(tmp_path / "old")).start()
    try:
        old.send(letter(), LAT)
        old.wait_idle()
        archive = tmp_path / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
    finally:
        old.stop()
    fresh = write_config(tmp_path / "new", database_url="postgresql+psycopg://saraban@127.0.0.1:9/saraban")
    result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(fresh), "backup", "restore",
                             str(archive)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "restore that with pg_restore" in result.stderr, result.stderr
    data_dir = fresh.parent / "var"
    assert not data_dir.exists() or not any(data_dir.iterdir()), sorted(p.name for p in data_dir.iterdir())
