"""Each process of the daemon has a name `ps -o comm`, top and systemd show (their command
lines all read "python ... multiprocessing.spawn ..."): a sysadmin can tell which one
takes the CPU or the memory (docs/operations.md, "Processes")."""
from __future__ import annotations

from pathlib import Path

from tests.daemon import Daemon, write_config


def _tree(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _names(root: int) -> list[str]:
    names = []
    for pid in _tree(root):
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return sorted(names)


def test_every_process_of_the_daemon_says_what_it_is(tmp_path):
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        d.wait_for_event("stamp_child_ready")
        names = _names(d.proc.pid)
        assert {"saraban-gateway", "saraban-pipe-0", "saraban-deliver", "saraban-stamp"} <= set(names), names
        assert names.count("saraban-check") == 2, names  # the DATA-check workers
        # Only multiprocessing's resource tracker keeps the interpreter's name.
        assert len([n for n in names if not n.startswith("saraban-")]) == 1, names
    finally:
        d.stop()


def test_a_name_is_cut_to_what_linux_keeps():
    import subprocess
    import sys

    code = ("from gateway.service.process_util import name_process; name_process('pipeline-12'); "
            "print(open('/proc/self/comm').read().strip()); name_process('a-very-long-worker-name'); "
            "print(open('/proc/self/comm').read().strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    assert out == ["saraban-pipe-12", "saraban-a-very-"]
