"""A reload that kills a pipeline runner in the middle of a letter (past `runner_grace`)
must not count towards parking that letter (gateway/service/daemon.py
`_forgive_open_letters`), as it does not for the delivery runner's copy in hand
(tests/test_delivery_red_team_session52.py)."""
from __future__ import annotations

import signal
import sqlite3

from tests.daemon import Daemon, write_config
from tests.letters import letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _row(d: Daemon, queue_id: str) -> tuple | None:
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        return db.execute("SELECT state, attempts FROM messages WHERE queue_id = ?", (queue_id,)).fetchone()


def test_reloads_while_a_letter_is_in_hand_never_park_it(tmp_path):
    """The pipeline runner is slow on a letter (held at a stall point, as an OCR of a
    large scan outlasting the grace is) while the sysadmin reloads the gateway three
    times (`systemctl reload`: a renewed certificate, a fixed unit). Each reload gives
    the runner `runner_grace`, then kills it. Those kills were counted as the letter's
    attempts: with `max_attempts = 2` the second parked the acknowledged letter, held
    in quarantine as "the gateway failed 2 times", never registered. Now the letter is
    registered once the slow step ends, and nothing is parked."""
    stall = tmp_path / "stall"
    stall.write_text("held")
    config = write_config(tmp_path, extra="[service]\nrunner_grace = 1\n[notices]\nenabled = false\n")
    config.write_text(config.read_text().replace("[pipeline]\n", "[pipeline]\nmax_attempts = 2\n", 1)
                      if "[pipeline]\n" in config.read_text() else config.read_text() + "[pipeline]\nmax_attempts = 2\n")
    d = Daemon(config, env={"SARABAN_STALLPOINT": "after_spool_read", "SARABAN_STALL_FILE": str(stall)}).start()

    def stalled() -> set[str]:  # one file a runner that reached the stall point
        return {p.name for p in tmp_path.glob("stall.*")}

    try:
        queue_id = d.send(letter(), LATKRABANG)
        d.wait_for(lambda: stalled(), timeout=60, what="the runner to be held on the letter")
        for reload in (1, 2, 3):
            before = stalled()
            d.proc.send_signal(signal.SIGHUP)
            # The runner the reload started opens the letter again and is held on it
            # too; before the fix, the second reload's runner parked it instead.
            d.wait_for(lambda: stalled() - before or _row(d, queue_id)[0] != "processing",
                       timeout=60, what=f"the runner of reload {reload} to take the letter")
            assert _row(d, queue_id)[0] == "processing", _row(d, queue_id)
        assert len([e for e in d.events() if e.get("event") == "runner_killed"]) >= 3
        stall.unlink()
        d.wait_for(lambda: _row(d, queue_id)[0] != "processing", timeout=60, what="the letter to be done")
        assert _row(d, queue_id)[0] == "done", _row(d, queue_id)
        with sqlite3.connect(d.data_dir / "saraban.db") as db:
            [outcome] = db.execute("SELECT outcome FROM messages WHERE queue_id = ?", (queue_id,)).fetchone()
        assert outcome.startswith('{"' + LATKRABANG + '": "registered'), outcome
        assert not [e for e in d.events() if e.get("event") == "message_parked"]
        assert queue_id not in d.cli("quarantine", "list").stdout
    finally:
        d.stop()
