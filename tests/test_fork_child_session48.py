"""The supervisor's short-lived children at start (the schema upgrade, the checks of keys
and certificates) are forked from it while it has one thread (gateway/service/
process_util.py `fork_child`), not started as fresh interpreters that imported again what
it had just imported. Each case runs in a fresh interpreter of its own, single-threaded
as the supervisor is at that moment (pytest's worker has threads of its own)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.letters import letter
from tests.paths import REPO

_PRELUDE = """
import json, os, sys, time, threading, subprocess
from gateway.service.process_util import exit_now, fork_child
"""


def _run(script: str, timeout: float = 60) -> dict:
    done = subprocess.run([sys.executable, "-c", _PRELUDE + script], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_child_runs_the_body_and_its_stderr_and_exit_code_reach_the_parent():
    found = _run("""
def says(word, code):
    print(json.dumps({"said": word, "name": open("/proc/self/comm").read().strip(),
                      "parent": os.getppid()}), file=sys.stderr, flush=True)
    exit_now(code)

def fails():
    raise ValueError("a failure the child did not catch")

sys.stdout.write("a line the parent had not flushed ")
ok = fork_child("schema", says, "done", 0)
_, said_ok = ok.communicate(timeout=30)
three = fork_child("startup", says, "three", 3)
_, said_three = three.communicate(timeout=30)
raised = fork_child("schema", fails)
_, said_raised = raised.communicate(timeout=30)
print()
print(json.dumps({"ok": [ok.returncode, json.loads(said_ok)], "three": [three.returncode, json.loads(said_three)],
                  "raised": [raised.returncode, said_raised.decode()], "me": os.getpid()}))
""")
    assert found["ok"] == [0, {"said": "done", "name": "saraban-schema", "parent": found["me"]}]
    assert found["three"][0] == 3 and found["three"][1]["name"] == "saraban-startup"
    # What the child did not catch ends it with 1, and nothing of Python's text reaches
    # the pipe the supervisor reads its answer from.
    assert found["raised"] == [1, ""]


def test_the_parents_unflushed_output_is_not_written_twice():
    done = subprocess.run([sys.executable, "-c", _PRELUDE + """
sys.stdout.write("once\\n")
child = fork_child("schema", lambda: exit_now(0))
child.communicate(timeout=30)
"""], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "once\n"


def test_with_a_second_thread_nothing_is_forked_and_the_caller_starts_a_fresh_interpreter():
    found = _run("""
stop = threading.Event()
worker = threading.Thread(target=stop.wait)
worker.start()
try:
    forked = fork_child("schema", lambda: exit_now(0))
finally:
    stop.set()
    worker.join()
print(json.dumps({"forked": forked is not None}))
""")
    assert found == {"forked": False}


def test_a_child_still_running_after_the_timeout_is_killed_and_reaped():
    found = _run("""
child = fork_child("startup", time.sleep, 300)
try:
    child.communicate(timeout=0.5)
    timed_out = False
except subprocess.TimeoutExpired:
    timed_out = True
child.kill()
child.communicate(timeout=30)
print(json.dumps({"timed_out": timed_out, "code": child.returncode}))
""")
    assert found == {"timed_out": True, "code": -signal.SIGKILL}


def test_the_child_dies_with_the_supervisor_even_by_kill_9(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", _PRELUDE + f"""
def waits():
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    time.sleep(300)
fork_child("startup", waits)
time.sleep(300)
"""], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert Path(f"/proc/{child}").exists()
        parent.kill()
        parent.wait(30)
        deadline = time.monotonic() + 30
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived the supervisor"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_daemon_started_on_a_new_data_directory_upgrades_and_checks_in_forked_children(tmp_path):
    """The start itself: the schema is made and the checks run by children whose command
    line is the supervisor's (forked), not `python -m gateway.service.schema_upgrade` or
    `... start_checks`, and the start goes on as before."""
    import threading

    from tests.daemon import Daemon, write_config

    daemon = Daemon(write_config(tmp_path))
    seen: dict[str, set[str]] = {}
    done = threading.Event()

    def watch():
        while not done.is_set():
            supervisor = daemon.proc.pid if daemon.proc is not None else None
            for entry in Path("/proc").iterdir():
                if supervisor is None or not entry.name.isdigit():
                    continue
                try:
                    # This daemon's children only: other tests' daemons start beside it.
                    if int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1]) != supervisor:
                        continue
                    name = (entry / "comm").read_text().strip()
                    line = (entry / "cmdline").read_bytes().decode(errors="replace")
                    if name in ("saraban-schema", "saraban-startup") and line:  # "": a zombie's
                        seen.setdefault(name, set()).add(line)
                except (OSError, IndexError, ValueError):
                    continue
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        daemon.start()
    finally:
        done.set()
        watcher.join()
    try:
        supervisor = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes().decode(errors="replace")
        assert set(seen) == {"saraban-schema", "saraban-startup"}, seen
        assert all(lines == {supervisor} for lines in seen.values()), (seen, supervisor)
        upgraded = [e for e in daemon.events() if e.get("event") == "schema_upgraded"]
        assert upgraded and upgraded[0]["process"] == "schema-upgrade"
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
        daemon.wait_idle(60)
    finally:
        daemon.stop()
