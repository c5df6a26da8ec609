"""Red team of the batches (group commit, session 17): the pipeline registering
`[pipeline] batch` letters in one transaction, the delivery runner working its outbox
`[delivery] batch` items at a time. One letter or item that fails must fail as itself;
nothing accepted is lost or duplicated, and every sender gets the notice owed once
(a notice sent again after kill -9 carries the same Message-ID: docs/notices.md).

One daemon for the module (SQLite, one delivery thread so that items share batches,
notices to an SMTP sink), with the machine's faults injected by
tests/faults/sitecustomize.py; the crash tests start their own."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.paths import REPO
from tests.test_fidelity_red_team import sink  # noqa: F401 (the module's sink)

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng.admin@bangkok.go.th"


def _answers(sink, message_id: str) -> list:  # noqa: ANN001 - tests/servers Sink
    return [r for r in sink.messages() if r.message["In-Reply-To"] == message_id]


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("faults")
    (folder / "dir-fsync").write_text("", encoding="utf-8")
    return {"dir_fsync": folder / "dir-fsync"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink, faults):  # noqa: F811
    config = write_config(tmp_path_factory.mktemp("batches17"), extra=notices_config(sink))
    config.write_text(config.read_text().replace("[delivery]\n", "[delivery]\nworkers = 1\n", 1))
    env = {"SARABAN_TEST_DIR_FSYNC_FAILS": str(faults["dir_fsync"]),
           "PYTHONPATH": f"{REPO / 'tests' / 'faults'}:{REPO}"}
    d = Daemon(config, env=env).start()
    yield d
    d.stop()


def _outbox(d: Daemon, queue_id: str) -> list[dict]:
    return [i for i in json.loads(d.cli("outbox", "list", "--json").stdout) if i["queue_id"] == queue_id]


def test_a_unit_folder_that_cannot_be_synced_fails_its_own_copy_not_the_batch(gw, sink, faults):
    """The dindaeng folder's share answers EIO to a directory fsync (a network share's
    hiccup). The delivery batch synced its directories at its end and, one of them
    failing, recorded nothing: every item of the batch was done again a second later,
    so the acknowledgement of the letter (and of every letter beside it in the batch)
    went to its sender again every second, and the failing copy showed no failed
    attempt in `outbox list`. Now the copy that met the fault is a failed attempt of
    its own (backed off, the cause in `outbox list`), the other items are done once,
    and once the share is back the copy is filed, once."""
    folder = gw.data_dir / "folders" / "dindaeng_admin"
    faults["dir_fsync"].write_text(str(folder), encoding="utf-8")
    try:
        mid = "<fsync-eio-1@dds.bangkok.go.th>"
        queue_id = gw.send(letter(message_id=mid), [LATKRABANG, DINDAENG])
        gw.wait_for(lambda: len(_answers(sink, mid)) >= 2, what="the acknowledgements (one a unit)")

        def failed_copy():
            return [i for i in _outbox(gw, queue_id) if i["kind"] == "folder" and i["attempts"] >= 1
                    and i["state"] == "pending" and i["last_error"]]
        [copy] = gw.wait_for(failed_copy, timeout=20, what="the dindaeng copy's failed attempt")
        assert copy["unit"] == "saraban.dindaeng.admin", copy
        time.sleep(3)  # a batch done again each second would have answered three times more
        assert len(_answers(sink, mid)) == 2
        assert len([p for p in gw.maildir_files("latkrabang") if p.name.startswith(queue_id)]) == 1
    finally:
        faults["dir_fsync"].write_text("", encoding="utf-8")
    gw.wait_idle()
    assert len([p for p in gw.maildir_files("dindaeng_admin") if p.name.startswith(queue_id)]) == 1
    assert len({r.message["Message-ID"] for r in _answers(sink, mid)}) == len(_answers(sink, mid)) == 2
    assert {i["state"] for i in _outbox(gw, queue_id)} == {"done"}
