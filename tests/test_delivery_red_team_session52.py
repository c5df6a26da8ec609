"""Session 52's red team of delivery: the folder copy and the register, against the
real daemon and a mail server that misbehaves (tests/servers/blackhole.py)."""
from __future__ import annotations

import json
import signal

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.servers.blackhole import BlackHole

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
IMAP_GREETING = b"* OK [CAPABILITY IMAP4rev1] stalled.example ready\r\n"


def _folder_copy(d: Daemon, queue_id: str) -> dict:
    [item] = [i for i in json.loads(d.cli("outbox", "list", "--json").stdout)
              if i["queue_id"] == queue_id and i["kind"] == "folder"]
    return item


def test_a_copy_in_hand_when_reloads_kill_the_delivery_runner_is_retried_not_dead(tmp_path):
    """The unit's mail server stalls in the middle of a folder copy's APPEND (it greets,
    then answers nothing until `timeout`). The sysadmin reloads the gateway twice
    meanwhile (`systemctl reload`: a fixed configuration, a renewed certificate); at
    each reload the supervisor gives the delivery runner `runner_grace` to finish the
    copy in hand, then kills it. Those deaths were counted as the copy's own (as if
    the copy took the runner down, gateway/delivery/inflight.py): after the second the
    copy was dead (RunnerKilled) and the registered, acknowledged letter never reached
    the unit's folder unless someone ran `outbox retry`. A runner the supervisor kills
    is not killed by its item: the copy is tried again, never dead."""
    with BlackHole("greet", greeting=IMAP_GREETING) as hole:
        config = write_config(tmp_path, extra=f"""
[notices]
enabled = false
[service]
runner_grace = 1
[delivery.imap.mail]
host = "127.0.0.1"
port = {hole.port}
tls = false
timeout = 30
password = "secret"
""")
        config.write_text(config.read_text().replace("[delivery]\n", '[delivery]\nbackend = "imap"\n', 1))
        d = Daemon(config).start()
        try:
            # The receive numbers are read back from the folders at start (one look at
            # the stalled server, given up after `timeout`); letters wait for it.
            d.wait_for(lambda: json.loads((d.data_dir / "numbering.json").read_text()).get("state") == "open",
                       timeout=90, what="numbering to open")
            looked = hole.connections
            queue_id = d.send(letter(), LATKRABANG)
            for reload in (1, 2):
                # The delivery runner is in the APPEND (connected, unanswered): reload.
                d.wait_for(lambda: hole.connections >= looked + reload, timeout=90,
                           what=f"filing attempt {reload} to reach the server")
                d.proc.send_signal(signal.SIGHUP)
            # The runner after the second reload files the copy again (it reaches the
            # server once more), or, before the fix, made it dead at once.
            d.wait_for(lambda: hole.connections >= looked + 3 or _folder_copy(d, queue_id)["state"] == "dead",
                       timeout=90, what="the copy to be tried a third time")
            item = _folder_copy(d, queue_id)
            assert item["state"] != "dead", item
            assert "RunnerKilled" not in (item["last_error"] or ""), item
            assert [e for e in d.events() if e.get("event") == "runner_killed"]  # the supervisor's kills
        finally:
            d.stop()
