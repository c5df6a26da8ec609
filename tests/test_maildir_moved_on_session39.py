"""Session 39's red team: a Maildir copy the clerk filed on into a sub-folder (through a
Dovecot serving the unit's Maildir) while the gateway was down, after a crash between
writing the copy and recording it, was filed a second time in new/ by the attempt done
again: the clerk saw the same letter, same receive number, as new. The attempt now looks
in the unit's Maildir++ sub-folders too, as IMAP looks in every folder since session 20."""
from __future__ import annotations

import shutil
import sqlite3

from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
DONE = ".&DhQOMw4ZDgQOMg4jDkEOpQ4nDh8-"  # ดำเนินการแล้ว, as Dovecot names the Maildir++ folder


def _copies(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.saraban*") if p.is_file())


def test_a_copy_moved_to_a_sub_folder_before_it_was_recorded_is_not_filed_again(daemon_factory):
    d = daemon_factory().start()
    d.send(letter(), LAT)
    d.wait_idle()
    d.kill9()
    # As a crash between the copy's write and the outbox's commit leaves it (the way
    # tests/test_imap_delivery.py's kill -9 test puts it back).
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'folder'")
    root = d.data_dir / "folders" / "latkrabang"
    [copy] = d.maildir_files("latkrabang")
    for sub in ("tmp", "new", "cur"):
        (root / DONE / sub).mkdir(parents=True, exist_ok=True)
    shutil.move(str(copy), str(root / DONE / "cur" / (copy.name + ":2,S")))

    d.start()
    d.wait_idle()
    assert _copies(root) == [f"{DONE}/cur/{copy.name}:2,S"]
    assert d.status()["outbox"]["folder"] == {"done": 1}
