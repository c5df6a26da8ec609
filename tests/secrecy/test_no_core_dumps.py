"""No process of the gateway may dump core (leak red team, 30 Nov 2026).

A core dump is the memory of a process on disk: the DATA check's worker, the PDF
reading child and the pipeline runner hold the letter they read, a ลับ one's text and
PDF included, in plain. A service gets systemd's DefaultLimitCORE, which hosts that
collect crashes (systemd-coredump, apport) raise, and a crash (a PDF that faults
PDFium, a parser bug) put that memory in /var/lib/systemd/coredump, or as `core` in
the working directory (the data directory under the unit's WorkingDirectory), where
nothing shreds it. Here the daemon is started with the limit raised, and every one of
its processes is looked at as a sysadmin would (/proc/PID/limits)."""
from __future__ import annotations

import os
import resource
from pathlib import Path

from tests.daemon import Daemon, write_config
from tests.servers.common import group_members
from tests.letters import letter, make_pdf


def _core_limit(pid: int) -> tuple[str, str] | None:
    try:
        lines = Path(f"/proc/{pid}/limits").read_text().splitlines()
    except OSError:
        return None  # gone meanwhile
    [line] = [line for line in lines if line.startswith("Max core file size")]
    soft, hard = line.split()[4:6]
    return soft, hard


def test_no_process_of_the_daemon_may_dump_core(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))  # systemd's LimitCORE=infinity
    try:
        d = Daemon(write_config(tmp_path / "gw"))
        d.start()
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    try:
        # A letter with a PDF, so that every kind of child has been started.
        d.send(letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter"))]),
               "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        pids = group_members(d.proc.pid, zombies=True)
        assert d.proc.pid in pids and len(pids) >= 4, pids  # supervisor, runners, DATA workers, readers
        limits = {pid: _core_limit(pid) for pid in pids}
        assert {pid: limit for pid, limit in limits.items() if limit not in (None, ("0", "0"))} == {}
    finally:
        d.stop()
    assert not [p for p in os.listdir(d.data_dir) if p.startswith("core")]
