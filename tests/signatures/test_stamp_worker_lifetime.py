"""After SIGTERM (systemctl stop) nothing of the daemon is left: not the stamping child.

The stamp runs in a child of the delivery runner (gateway/service/worker_process.py). It used
to survive the daemon as an orphan in the daemon's process group; now the runner closes
it on the way out and the child carries PR_SET_PDEATHSIG for when the runner is killed."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.pki import make_letter

UNIT = "saraban.pomprap@bangkok.go.th"


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in a process group."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            state, group = fields[0], int(fields[2])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if group == pgid and state != "Z":
            out.append((int(entry.name), cmdline))
    return out


def _stamp_children(members) -> list:
    return [m for m in members if m[1].rstrip().endswith(" -m gateway.service.child stamp")]


def test_no_process_of_the_daemon_outlives_sigterm(tmp_path, pki):
    daemon = Daemon(write_config(tmp_path, extra=f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n')).start()
    pgid = daemon.proc.pid  # started with start_new_session: the supervisor leads the group
    try:
        daemon.send(letter(to=UNIT, files=[("2569_pomprap_0403.pdf", make_letter())]), UNIT)
        daemon.wait_for(lambda: any(e.get("event") == "receive_stamp" for e in daemon.events()),
                        what="the letter to be stamped")
        running = group_members(pgid)
        assert _stamp_children(running), running  # the stamping child exists while the daemon runs
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log_tail()
    deadline = time.monotonic() + 20
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = group_members(pgid)
    for pid, _ in left:  # do not leak them into the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after the daemon stopped: {left}"
