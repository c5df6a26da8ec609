"""`backup create` while the daemon runs, `backup restore` into an empty data directory,
and the restored gateway goes on where the old one stopped (issue 14, item 18): the
restore command docs/install.md gives, tested."""
from __future__ import annotations

import shutil
import tarfile

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.tools_helpers import cli, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_backup_restores_into_a_gateway_that_carries_on(daemon, tmp_path):
    year = this_be_year()
    daemon.cli("keys", "create", "--cn", "saraban-gateway test")
    daemon.send(letter(), LAT)
    daemon.wait_idle()
    archive = tmp_path / "backup" / "saraban.tar.gz"
    made = daemon.cli("backup", "create", str(archive))  # the daemon keeps running
    assert f"wrote {archive}: 1 register entries" in made.stdout
    names = tarfile.open(archive).getnames()
    assert "saraban.db" in names and "manifest.json" in names
    assert any(n.startswith("vault/") for n in names) and any(n.startswith("keys/gateway/") for n in names)
    assert archive.stat().st_mode & 0o077 == 0  # it holds the private key
    original = daemon.register()

    fresh = write_config(tmp_path / "restored")
    restored = cli(fresh, "backup", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "1 register entries" in restored.stdout and "vault checked" in restored.stdout
    again = cli(fresh, "backup", "restore", str(archive))
    assert again.returncode == 1 and "already holds a register" in again.stderr
    # The old data directory's Maildirs go back too (docs/install.md): the numbers given
    # since the backup are read from them before a letter is numbered (session 19).
    shutil.copytree(daemon.data_dir / "folders", fresh.parent / "var" / "folders")

    d2 = Daemon(fresh).start()
    try:
        assert d2.register() == original
        d2.send(letter(), LAT)
        d2.wait_idle()
        assert [e["receive_no"] for e in d2.register()] == [f"1/{year}", f"2/{year}"]  # no number reused
        keys = d2.cli("keys", "list").stdout
        assert "gateway (current)" in keys
    finally:
        d2.stop()
