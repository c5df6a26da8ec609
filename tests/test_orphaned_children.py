"""A child the supervisor started does not outlive it, even when the supervisor died
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
    import os, sys, time
    from gateway.service.process_util import start_child

    # Only the child's interpreter starts slowly (SLOW_START, read by sitecustomize.py):
    # the supervisor crashes while its runner is still starting, before the runner could
    # ask to die with it.
    os.environ["SLOW_START"] = sys.argv[1]
    start_child("orphan", time.sleep, (60,))  # the runner's work: must never run orphaned
    time.sleep(0.8)
    os._exit(3)  # the supervisor crashes
""")

# Run by every interpreter with this folder on its module path, before anything else.
SLOW_START = textwrap.dedent("""
    import os, time
    if os.environ.get("SLOW_START"):
        open(os.environ["SLOW_START"], "w").write(str(os.getpid()))
        time.sleep(1.5)
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
    (tmp_path / "sitecustomize.py").write_text(SLOW_START)
    done = subprocess.run([sys.executable, str(script), str(pidfile)], cwd=REPO, timeout=30,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)])))
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


def test_a_child_dies_with_the_process_that_started_it(tmp_path):
    """Killed -9, the parent has no say: PR_SET_PDEATHSIG ends its child."""
    pidfile = tmp_path / "child.pid"
    code = ("import os, sys, time\n"
            "from gateway.service.process_util import start_child\n"
            "child = start_child('orphan', time.sleep, (60,))\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        pid = int(parent.stdout.readline())
        pidfile.write_text(str(pid))
        time.sleep(1.0)  # the child is running its body
        assert _alive(pid)
    finally:
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError("the child outlived its parent")
        time.sleep(0.05)
