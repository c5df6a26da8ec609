"""A unit's entry in units.toml changed while its letters' copies are owed, or its
address changed so that another book would number into its folder (session 37's red
team).

* A copy still owed when its unit was renamed (address changed) or removed went to a
  folder named after the old address, which nobody reads, and its outbox item said
  done. Now the item records the unit's folder and Thai name when the letter is
  registered, and is filed as registered (gateway/delivery/copy_unit.py); an item made
  before that waits, said in `outbox list`, until the unit is back.
* A unit whose address was changed but whose folder was kept began its receive book at
  1 again, beside its own letters with the same numbers. A reload, `units import` and a
  start now refuse a directory that gives a gone unit's folder to a new address."""
from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO

LAT = "saraban.latkrabang@bangkok.go.th"


def _daemon(tmp_path) -> tuple[Daemon, object]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    units = tmp_path / "units.toml"
    shutil.copy(REPO / "config" / "units.toml", units)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(REPO / "config" / "units.toml"), str(units)))
    return Daemon(config), units


BLOCK = ('address = "saraban.latkrabang"\nname_th = "สำนักงานเขตลาดกระบัง"\n'
         'name_en = "Lat Krabang District Office"\nparent = ""\nfolder = "latkrabang"\n')


def _renamed(text: str, address: str, folder: str = "latkrabang") -> str:
    assert BLOCK in text
    text = text.replace(BLOCK, BLOCK.replace("saraban.latkrabang", address).replace(
        'folder = "latkrabang"', f'folder = "{folder}"'))
    return text.replace('parent = "saraban.latkrabang"\n', f'parent = "{address}"\n')


def _removed(text: str) -> str:
    return "[[unit]]".join(b for b in text.split("[[unit]]") if "saraban.latkrabang" not in b)


def _reload(d: Daemon, *, ok: bool) -> dict:
    offset = len(d.events())
    d.proc.send_signal(signal.SIGHUP)
    event = "reloaded" if ok else "reload_failed"
    d.wait_for(lambda: any(e.get("event") == event for e in d.events(offset)), what=event)
    return next(e for e in d.events(offset) if e.get("event") == event)


def _held_copy(d: Daemon) -> None:
    """The unit's share broken: its folder copy waits in the outbox."""
    folders = d.data_dir / "folders"
    folders.mkdir(parents=True, exist_ok=True)
    (folders / "latkrabang").write_text("not a folder")


def _folder_files(d: Daemon) -> list[str]:
    root = d.data_dir / "folders"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).parts[1:2] != ("tmp",))


def test_a_copy_owed_to_a_renamed_or_removed_unit_is_filed_in_its_folder(tmp_path):
    for n, change in enumerate((lambda t: _renamed(t, "saraban.ladkrabang", folder="ladkrabang"), _removed)):
        d, units = _daemon(tmp_path / str(n))
        d.start()
        try:
            _held_copy(d)
            queue_id = d.send(letter(message_id=f"<s37-gone-{n}@dds.bangkok.go.th>"), LAT)
            d.wait_for(lambda: d.register("--unit", "saraban.latkrabang"), what="registered")
            units.write_text(change(units.read_text()))
            _reload(d, ok=True)
            (d.data_dir / "folders" / "latkrabang").unlink()  # the share is back
            d.wait_for(lambda: d.status_here()["outbox"].get("folder") == {"done": 1}, timeout=90,
                       what="the copy filed")
            files = _folder_files(d)
            assert files == [f"latkrabang/new/{queue_id}.saraban.latkrabang.saraban"], files
            copy = (d.data_dir / "folders" / files[0]).read_bytes()
            assert "สำนักงานเขตลาดกระบัง".encode() in copy or b"X-Saraban-Receive-No: 1/" in copy
        finally:
            d.stop()


def test_a_copy_owed_from_before_the_folder_was_recorded_waits_until_the_unit_is_back(tmp_path):
    d, units = _daemon(tmp_path)
    d.start()
    try:
        _held_copy(d)
        d.send(letter(message_id="<s37-legacy@dds.bangkok.go.th>"), LAT)
        d.wait_for(lambda: d.register("--unit", "saraban.latkrabang"), what="registered")
        with sqlite3.connect(d.data_dir / "saraban.db") as db:  # as an older version made it
            (payload,) = db.execute("SELECT payload FROM outbox WHERE kind = 'folder'").fetchone()
            kept = json.loads(payload)
            kept.pop("unit")
            db.execute("UPDATE outbox SET payload = ? WHERE kind = 'folder'", (json.dumps(kept),))
        original = units.read_text()
        units.write_text(_removed(original))
        _reload(d, ok=True)
        (d.data_dir / "folders" / "latkrabang").unlink()
        d.wait_for(lambda: "no longer in the directory" in d.cli("outbox", "list").stdout, timeout=90,
                   what="the copy said waiting for its unit")
        assert _folder_files(d) == [], _folder_files(d)
        assert d.status_here()["outbox"]["folder"] == {"pending": 1}
        units.write_text(original)
        _reload(d, ok=True)
        with sqlite3.connect(d.data_dir / "saraban.db") as db:
            (item_id,) = db.execute("SELECT id FROM outbox WHERE kind = 'folder'").fetchone()
        # Sooner than its next attempt; the runner may have filed it already, back from the
        # reload ("already done": the race is the test's, the copy is filed once either way).
        retried = d.cli("outbox", "retry", str(item_id), check=False)
        assert retried.returncode == 0 or f"{item_id}: already done" in retried.stderr, retried.stderr
        d.wait_for(lambda: d.status_here()["outbox"].get("folder") == {"done": 1}, timeout=120, what="filed")
        assert [f.split("/")[0] for f in _folder_files(d)] == ["latkrabang"]
    finally:
        d.stop()


def test_an_address_changed_with_its_folder_kept_is_refused_by_reload_import_and_start(tmp_path):
    d, units = _daemon(tmp_path)
    d.start()
    try:
        d.send(letter(message_id="<s37-book-1@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
        original = units.read_text()
        units.write_text(_renamed(original, "saraban.ladkrabang"))
        failed = _reload(d, ok=False)
        assert "saraban.latkrabang is gone and its folder 'latkrabang' is now saraban.ladkrabang's" in failed["error"]
        # The directory in force is kept: the book goes on.
        d.send(letter(message_id="<s37-book-2@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
        numbers = sorted(int(e["receive_no"].split("/")[0]) for e in d.register("--unit", "saraban.latkrabang"))
        assert numbers == [1, 2], numbers
        # `units import` of the same change is refused, the file left as it was.
        units.write_text(original)
        sheet = tmp_path / "units.csv"
        rows = ["address,name_th,name_en,parent,folder"]
        for unit in json.loads(d.cli("units", "list", "--json").stdout):
            address = "saraban.ladkrabang" if unit["address"] == "saraban.latkrabang" else unit["address"]
            parent = "saraban.ladkrabang" if unit["parent"] == "saraban.latkrabang" else (unit["parent"] or "")
            rows.append(f'{address},"{unit["name_th"]}","{unit["name_en"]}",{parent},{unit["folder"]}')
        sheet.write_text("\n".join(rows) + "\n", encoding="utf-8")
        imported = d.cli("units", "import", str(sheet), check=False)
        assert imported.returncode != 0 and "would number from 1 again" in imported.stderr, imported.stderr
        assert "Traceback" not in imported.stderr
        assert units.read_text() == original
    finally:
        d.stop()
    # Changed while stopped: the start refuses it, as the reload did.
    units.write_text(_renamed(original, "saraban.ladkrabang"))
    started = subprocess.run([sys.executable, "-m", "gateway", "--config", str(d.config), "run"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    said = started.stdout + started.stderr
    assert started.returncode == 1, said[-2000:]
    assert "directory_refused" in said and "would number from 1 again" in said, said[-2000:]


def test_a_folder_given_to_a_new_address_a_reload_after_its_unit_was_removed_is_refused(tmp_path):
    d, units = _daemon(tmp_path)
    d.start()
    try:
        d.send(letter(message_id="<s37-two-step@dds.bangkok.go.th>"), LAT)
        d.wait_idle()
        original = units.read_text()
        units.write_text(_removed(original))  # one reload: the unit goes (allowed: its copies are filed as registered)
        _reload(d, ok=True)
        # The next: a new address with the gone unit's folder.
        units.write_text(_removed(original) + "\n[[unit]]\n" + BLOCK.replace("saraban.latkrabang", "saraban.ladkrabang"))
        failed = _reload(d, ok=False)
        assert "saraban.latkrabang is gone and its folder 'latkrabang' is now saraban.ladkrabang's" in failed["error"]
    finally:
        d.stop()
