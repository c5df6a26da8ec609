"""/healthz while numbering is held after a restore (session 53, operations red team).

After `backup restore` no letter is numbered until every unit's folder was read back
(docs/operations.md, "Receive numbers after a restore"). A sysadmin who forgot to put
the old data directory's Maildirs back has a gateway that answers 250 and registers
nothing: `status` warned, but /healthz, what the monitoring looks at, said ok."""
from __future__ import annotations

import json
import shutil

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter
from tests.test_http_health_metrics import get
from tests.tools_helpers import backed_up_then_numbered, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def test_healthz_fails_while_numbering_is_held_and_passes_once_the_folders_are_back(tmp_path):
    year = this_be_year()
    archive = backed_up_then_numbered(tmp_path, after=1)

    port = free_port()
    new = Daemon(write_config(tmp_path / "new", extra=f"[http]\nenabled = true\nport = {port}\n"
                                                      "[register]\ncheck_retry = 0.3\n"))
    new.cli("backup", "restore", str(archive))
    new.start()
    try:
        new.send(letter(), LAT)
        new.wait_for(lambda: new.status_here()["numbering"]["state"] == "held", timeout=30, what="numbering held")
        status, _, body = get(f"http://127.0.0.1:{port}/healthz")
        data = json.loads(body)
        assert status == 503, data
        assert data["failed"] == ["numbering"]
        assert "numbering held after a restore" in data["checks"]["numbering"]["detail"]
        assert "Maildir" in data["checks"]["numbering"]["detail"]

        # Into the folders directory the start made and tried (since session 56), as `cp -a
        # old/folders/. new/folders/` puts them back.
        shutil.copytree(tmp_path / "old" / "var" / "folders", new.data_dir / "folders", dirs_exist_ok=True)
        new.wait_idle()
        status, _, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200, body
        assert [e["receive_no"] for e in new.register()] == [f"1/{year}", f"3/{year}"]
    finally:
        new.stop()
