"""SIGTERM and SIGHUP with every kind of child alive (PDF reader pool, signature
worker, receive-stamp worker, DATA-check workers): stop is quick and leaves no process;
reload keeps filing and leaks none."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

UNIT = "saraban.latkrabang@bangkok.go.th"


def _group(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if int(line.split()[1]) == pgid]


def _pdf_letter(n: int) -> bytes:
    return letter(files=[(f"2569_dds_0403_{n}.pdf", make_pdf(f"letter {n}"))])


def _filed(daemon: Daemon, queue_id: str) -> bool:
    return any(e.get("event") == "filed" and e.get("queue_id") == queue_id for e in daemon.events())


def test_reload_keeps_filing_and_stop_leaves_no_process(tmp_path):
    daemon = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        first = daemon.send(_pdf_letter(1), UNIT)
        daemon.wait_for(lambda: _filed(daemon, first), 120, what="first letter filed")
        before = _group(daemon.proc.pid)
        assert len(before) >= 6, before  # supervisor, 2 runners, stamper, DATA-check workers...

        daemon.proc.send_signal(signal.SIGHUP)
        during = daemon.send(_pdf_letter(2), UNIT)  # accepted while the runners are replaced
        daemon.wait_for(lambda: _filed(daemon, during), 120, what="letter sent during reload filed")
        daemon.wait_for(lambda: any(e.get("event") == "reloaded" for e in daemon.events()), 30,
                        what="reload finished")
        events = [e.get("event") for e in daemon.events()]
        assert "runner_killed" not in events  # the old runners ended on their own
        # Nothing leaked by the reload, nothing missing: the group is back to its size (a
        # child the new runners start when first asked, the stamper, may come a little
        # later on a loaded machine: session 44 counted once before it was back).
        daemon.wait_for(lambda: len(_group(daemon.proc.pid)) == len(before), 30,
                        what=f"the process group back to its {len(before)} processes")
        time.sleep(1.0)
        after = _group(daemon.proc.pid)
        assert len(after) == len(before), (before, after)

        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
        assert time.monotonic() - started < 2.0
        deadline = time.monotonic() + 3
        while _group(daemon.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _group(daemon.proc.pid) == []
    finally:
        if daemon.proc.poll() is None:
            os.killpg(daemon.proc.pid, signal.SIGKILL)
        else:
            try:
                os.killpg(daemon.proc.pid, signal.SIGKILL)  # anything the test found left
            except ProcessLookupError:
                pass
        daemon.stop()
