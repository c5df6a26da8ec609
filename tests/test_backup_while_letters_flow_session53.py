"""`backup create` while the daemon works in the data directory (session 53, operations
red team): a letter's spool file removed once it is registered, a vault object being
written in vault/tmp, both between the archive's listing and its reading."""
from __future__ import annotations

import os
import threading

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.tools_helpers import cli, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_backup_taken_while_a_vault_object_is_written_restores(tmp_path):
    """The pipeline writes a 20 MB attachment into vault/tmp/ and renames it when whole.
    The archive took the half-written file as a vault object, and `backup restore`
    refused the archive: "restored, but 1 vault file(s) do not match their SHA-256"."""
    year = this_be_year()
    old = Daemon(write_config(tmp_path / "old")).start()
    try:
        old.send(letter(), LAT)
        old.wait_idle()
        (old.data_dir / "vault" / "tmp" / ".0f3a.4242.tmp").write_bytes(b"the first half of an attachment")
        archive = tmp_path / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
    finally:
        old.stop()
    fresh = write_config(tmp_path / "new")
    restored = cli(fresh, "backup", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "1 register entries" in restored.stdout
    new = Daemon(fresh)
    assert [e["receive_no"] for e in new.register()] == [f"1/{year}"]


def test_a_backup_taken_while_spool_files_come_and_go_is_written(tmp_path):
    """Letters registered while the archive is written: their spool files go. tar's own
    walk failed on one ("cannot read spool/new/...msg: No such file or directory;
    nothing was written"), about one backup in eight with three senders."""
    config = write_config(tmp_path)
    spool = tmp_path / "var" / "spool" / "new"
    spool.mkdir(parents=True)
    (tmp_path / "var" / "vault").mkdir()
    stop = threading.Event()

    def letters_come_and_go():
        n = 0
        while not stop.is_set():
            path = spool / f"{n:024d}.msg"
            path.write_bytes(b"x" * 4096)
            path.unlink()
            n += 1

    churn = threading.Thread(target=letters_come_and_go)
    churn.start()
    try:
        results = [cli(config, "backup", "create", "--files-only", str(tmp_path / f"b{i}.tar.gz"))
                   for i in range(6)]
    finally:
        stop.set()
        churn.join()
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results if r.returncode]
    assert all(os.path.exists(tmp_path / f"b{i}.tar.gz") for i in range(6))
