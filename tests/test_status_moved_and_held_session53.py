"""`status` while the register's file was moved away under a running daemon and numbering
is held after a restore (session 53, from the operations red team's list): it said the
file was moved and left out that no letter is numbered until the folders are back,
which it says whenever the database can be read."""
from __future__ import annotations

import json
import os

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.tools_helpers import backed_up_then_numbered

LAT = "saraban.latkrabang@bangkok.go.th"


def test_status_says_numbering_is_held_when_the_database_file_is_moved_too(tmp_path):
    archive = backed_up_then_numbered(tmp_path, after=1)
    new = Daemon(write_config(tmp_path / "new", extra="[register]\ncheck_retry = 0.3\n"))
    new.cli("backup", "restore", str(archive))
    new.start()
    try:
        new.send(letter(), LAT)
        new.wait_for(lambda: new.status_here()["numbering"]["state"] == "held", timeout=30, what="numbering held")
        held = json.loads(new.cli("status", "--json").stdout)
        [numbering] = [w for w in held["warnings"] if "numbering held after a restore" in w]
        away = tmp_path / "away"
        away.mkdir()
        os.rename(new.data_dir / "saraban.db", away / "saraban.db")  # a botched `mv` of the register
        moved = json.loads(new.cli("status", "--json", check=False).stdout)
        assert moved["database"]["ok"] is False and "moved" in moved["database"]["detail"]
        # The daemon's folder check runs again every check_retry (0.3 s) and may now say
        # another why (the register it reads is away): the same hold, in other words.
        assert numbering.split(": ", 1)[0] == "ยังไม่ให้เลขรับ"
        assert any(w.startswith(numbering.split(" until every folder")[0]) for w in moved["warnings"]), \
            moved["warnings"]
        os.rename(away / "saraban.db", new.data_dir / "saraban.db")
    finally:
        new.stop()
