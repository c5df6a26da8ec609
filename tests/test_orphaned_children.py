"""A child the supervisor spawned does not outlive it, even when the supervisor died
before the child asked Linux to kill it with its parent (gateway/service/process_util.py
`die_with_parent`). Seen this session: a daemon that crashed right after spawning its
runners left them running for 1 h 40 min, polling their spool, until killed by hand."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PARENT = textwrap.dedent("""
    import multiprocessing, sys, time
    from gateway.service.process_util import die_with_parent

    def child(pidfile):
        open(pidfile, "w").write(str(__import__("os").getpid()))
        time.sleep(1.5)  # still importing, as a runner is, while the parent dies
        die_with_parent()
        time.sleep(60)  # the runner's work: must never run orphaned

    if __name__ == "__main__":
        multiprocessing.set_start_method("spawn")
        multiprocessing.Process(target=child, args=(sys.argv[1],)).start()
        time.sleep(0.8)
        import os
        os._exit(3)  # the supervisor crashes
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] if Path(f"/proc/{pid}").exists() \
        else "X"
    return state not in ("Z", "X")


def test_a_child_orphaned_before_it_asked_to_die_with_its_parent_exits(tmp_path):
    script, pidfile = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(PARENT)
    done = subprocess.run([sys.executable, str(script), str(pidfile)], cwd=REPO, timeout=30,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 3
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError("the orphaned child kept running")
        time.sleep(0.1)
