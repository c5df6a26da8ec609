"""A folder that holds one address's letters given to another address (session 38's
red team, beyond session 37's "a gone unit's folder"): a unit moved to a new folder
while a new unit takes its old one, in one reload or in two, and an existing unit
moved into another's folder. The newcomer's receive book would begin at 1 beside the
other book's letters with the same numbers. Also: units-in-force.json damaged was taken
for empty, and the takeover it should have stopped went through without a word.
Through the real daemon (reload by SIGHUP, a start)."""
from __future__ import annotations

import subprocess
import sys

from tests.letters import letter
from tests.paths import REPO
from tests.test_unit_changes_session37 import BLOCK, LAT, _daemon, _reload, _renamed

NEW = BLOCK.replace("saraban.latkrabang", "saraban.latkrabang.newdesk").replace(
    'parent = ""', 'parent = "saraban.latkrabang"').replace("สำนักงานเขตลาดกระบัง", "ฝ่ายใหม่ เขตลาดกระบัง")
MOVED = BLOCK.replace('folder = "latkrabang"', 'folder = "latkrabang-2570"')
HOLDS = "the folder 'latkrabang' holds saraban.latkrabang's letters and is now saraban.latkrabang.newdesk's"


def _start(d) -> tuple[int, str]:
    started = subprocess.run([sys.executable, "-m", "gateway", "--config", str(d.config), "run"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    return started.returncode, started.stdout + started.stderr


def test_a_unit_moved_to_a_new_folder_while_a_new_unit_takes_its_old_one_is_refused(tmp_path):
    d, units = _daemon(tmp_path)
    d.start()
    try:
        d.send(letter(message_id="<s38-move-1@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
        original = units.read_text()
        units.write_text(original.replace(BLOCK, MOVED) + "\n[[unit]]\n" + NEW)  # one reload, both changes
        failed = _reload(d, ok=False)
        assert HOLDS in failed["error"], failed["error"]
        # In two reloads: the move alone is a unit's own business (allowed) ...
        units.write_text(original.replace(BLOCK, MOVED))
        _reload(d, ok=True)
        # ... the old folder given to the new unit next is refused all the same.
        units.write_text(original.replace(BLOCK, MOVED) + "\n[[unit]]\n" + NEW)
        failed = _reload(d, ok=False)
        assert HOLDS in failed["error"], failed["error"]
        d.send(letter(message_id="<s38-move-2@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
        numbers = sorted(int(e["receive_no"].split("/")[0]) for e in d.register("--unit", "saraban.latkrabang"))
        assert numbers == [1, 2], numbers
    finally:
        d.stop()


def test_a_damaged_record_of_the_units_refuses_the_start_rather_than_forget_them(tmp_path):
    d, units = _daemon(tmp_path)
    d.start()
    original = units.read_text()
    try:
        d.send(letter(message_id="<s38-kept-1@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
    finally:
        d.stop()
    kept = d.data_dir / "units-in-force.json"
    kept.write_text(kept.read_text()[:20])  # a torn write, a disk error
    units.write_text(_renamed(original, "saraban.ladkrabang"))
    code, said = _start(d)
    assert code == 1 and "directory_refused" in said and "units-in-force.json cannot be read" in said, said[-2000:]
    assert "Traceback" not in said
    # Restored, the change it guards against is refused by name; the directory put back starts.
    units.write_text(original)
    kept.unlink()
    d.start()
    d.stop()
    units.write_text(_renamed(original, "saraban.ladkrabang"))
    code, said = _start(d)
    assert code == 1 and "saraban.latkrabang is gone and its folder 'latkrabang' is now saraban.ladkrabang's" in said
