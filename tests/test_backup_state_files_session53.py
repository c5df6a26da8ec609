"""What a restored gateway must know besides the register, the vault and the keys
(session 53, from the operations red team's list): the units and folders it has known
(units-in-force.json: a folder given to a new address is refused against them) and the
ลับที่สุด refusals not yet in the register (refusals-owed.json). Neither was in the
archive: after a restore, `status` no longer counted the refusals owed, and a removed
unit's folder could be given to a new address."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO


def _gateway(config, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_units_known_and_refusals_owed_come_back_with_a_restore(tmp_path):
    old_config = write_config(tmp_path / "old")
    d = Daemon(old_config).start()
    try:
        d.send(letter(), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
    finally:
        d.stop()
    data = d.data_dir
    known = json.loads((data / "units-in-force.json").read_text(encoding="utf-8"))
    assert known["units"]["saraban.latkrabang"]
    # A refusal the database could not take when it was made, kept for the next tick.
    owed = [{"reason": "top_secret", "mail_from": "saraban.dds@bangkok.go.th", "peer": "192.0.2.7",
             "message_id": "<ts-1@dds.bangkok.go.th>", "at": "2026-12-07T02:00:00+00:00"}]
    (data / "refusals-owed.json").write_text(json.dumps(owed), encoding="utf-8")
    assert json.loads(_gateway(old_config, "status", "--json").stdout)["refused_not_recorded"] \
        == {"top_secret": 1}

    archive = tmp_path / "backup" / "saraban.tar.gz"
    made = _gateway(old_config, "backup", "create", str(archive))
    assert made.returncode == 0, made.stderr
    new_config = write_config(tmp_path / "new")
    restored = _gateway(new_config, "backup", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    new_data = tmp_path / "new" / "var"
    assert json.loads((new_data / "units-in-force.json").read_text(encoding="utf-8")) == known
    assert json.loads(_gateway(new_config, "status", "--json").stdout)["refused_not_recorded"] \
        == {"top_secret": 1}
