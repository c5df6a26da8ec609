"""The runners and the DATA-check workers are forked by the fork server
(gateway/service/fork_server.py, `saraban-forks`), an interpreter that has imported
their libraries once: what a sysadmin sees of them (names, command lines, parents), a
runner that dies forked again, a fork server that dies taking its children with it
and the daemon going on without it, and nothing left behind when the supervisor is
killed alone."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.processes import gone, named, parent as _parent, tree

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def _registered(d: Daemon, subject: str) -> bool:
    return any(entry.get("subject") == subject for entry in d.register())


def _one(d: Daemon, name: str) -> int:
    # A child the server has just forked bears the server's name for a moment.
    [found] = d.wait_for(lambda: len(named(d.proc.pid, name)) == 1 and named(d.proc.pid, name),
                         what=f"one running {name}")
    return found


def test_runners_and_workers_are_the_servers_children_and_a_dead_runner_is_forked_again(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        server = _one(d, "saraban-forks")
        assert _parent(server) == d.proc.pid
        assert _cmdline(server).endswith(" -m gateway.service.child fork-server")
        pipeline, delivery = _one(d, "saraban-pipe-0"), _one(d, "saraban-deliver")
        checkers = named(d.proc.pid, "saraban-check")
        assert len(checkers) == 2
        assert {_parent(pid) for pid in (pipeline, delivery, *checkers)} == {server}
        # `ps -ef` says what each is, as a fresh interpreter's command line did.
        assert _cmdline(pipeline).endswith(" -m gateway.service.child pipeline-0")
        assert _cmdline(delivery).endswith(" -m gateway.service.child delivery")
        assert all(_cmdline(pid).endswith(" -m gateway.secrecy.markings") for pid in checkers)

        os.kill(pipeline, signal.SIGKILL)
        # The supervisor hears of its end from the server, with how it ended.
        d.wait_for_event("runner_died", runner="pipeline-0", exitcode=-9)
        again = d.wait_for(lambda: [pid for pid in named(d.proc.pid, "saraban-pipe-0") if pid != pipeline],
                           what="the pipeline runner started again")
        assert _parent(again[0]) == server
        d.send(letter(subject="หลังตัวประมวลผลตาย"), LATKRABANG)
        d.wait_for(lambda: _registered(d, "หลังตัวประมวลผลตาย"), what="the letter registered")
        assert not [e for e in d.events() if e.get("event") == "fork_server_lost"]
    finally:
        d.stop()


def test_a_killed_fork_server_takes_its_children_and_the_daemon_goes_on(tmp_path):
    """kill -9 of the fork server: its children die with it (PR_SET_PDEATHSIG); the
    supervisor says so, starts the runners as fresh interpreters, a new DATA-check
    worker for the next letter, and letters are taken and filed as before."""
    d = Daemon(write_config(tmp_path)).start()
    try:
        server = _one(d, "saraban-forks")
        first = {name: _one(d, name) for name in ("saraban-pipe-0", "saraban-deliver")}
        children = [pid for pid in tree(server) if pid != server]  # and their own workers
        assert set(first.values()) <= set(children) and len(named(server, "saraban-check")) == 2
        os.kill(server, signal.SIGKILL)
        d.wait_for_event("fork_server_lost")
        d.wait_for(lambda: all(gone(pid) for pid in children), 10, what="the server's children gone")
        for name in first:
            pid = _one(d, name)  # started again
            assert pid not in children
            assert _parent(pid) == d.proc.pid  # a fresh interpreter, the server being gone
        d.send(letter(subject="หลังเซิร์ฟเวอร์ตาย"), LATKRABANG)
        d.wait_for(lambda: _registered(d, "หลังเซิร์ฟเวอร์ตาย"), what="the letter registered")
        assert d.wait_for(lambda: d.maildir_files("latkrabang"), what="the folder copy")
        assert any(e.get("event") == "classification_worker_replaced" for e in d.events())
    finally:
        d.stop()


def test_the_supervisor_killed_alone_leaves_no_process_behind(tmp_path):
    """kill -9 of the supervisor only (not its process group, as systemd's KillMode=mixed
    does not either): the server dies with it, and the runners and workers with the
    server, before a restarted daemon could find them working beside its own."""
    d = Daemon(write_config(tmp_path)).start()
    _one(d, "saraban-forks")
    d.wait_for(lambda: len(tree(d.proc.pid)) >= 6, what="the server's children")
    everyone = [pid for pid in tree(d.proc.pid) if pid != d.proc.pid]
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(10)
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in everyone):
        assert time.monotonic() < deadline, [pid for pid in everyone if not gone(pid)]
        time.sleep(0.05)


def test_a_stopped_fork_server_does_not_keep_a_dead_runner_from_being_replaced(tmp_path):
    """SIGSTOP of the fork server (a debugger, a sysadmin's mistake): it neither reaps nor
    reports a runner that dies meanwhile, nor answers the request for its replacement.
    The supervisor takes the runner as ended once it has not been running for a while,
    starts a fresh interpreter when the server does not answer, and letters are filed."""
    d = Daemon(write_config(tmp_path)).start()
    server = _one(d, "saraban-forks")
    try:
        pipeline = _one(d, "saraban-pipe-0")
        os.kill(server, signal.SIGSTOP)
        os.kill(pipeline, signal.SIGKILL)
        d.wait_for_event("runner_died", timeout=30, runner="pipeline-0")
        d.wait_for_event("fork_server_lost", timeout=30)
        d.send(letter(subject="เซิร์ฟเวอร์หยุด"), LATKRABANG)
        d.wait_for(lambda: _registered(d, "เซิร์ฟเวอร์หยุด"), 60, what="the letter registered")
        fresh = [pid for pid in named(d.proc.pid, "saraban-pipe-0") if pid != pipeline]
        assert fresh and _parent(fresh[0]) == d.proc.pid
    finally:
        os.kill(server, signal.SIGCONT)
        d.stop()


def fails() -> None:  # a body for the fork server's child, by reference
    raise RuntimeError("the body failed: " + "x" * 3)


def leaves(code: int) -> None:
    raise SystemExit(code)


_FAILING_BODY = """
from gateway.service import fork_server
from gateway.service.process_util import start_child
from tests.test_fork_server_session58 import fails, leaves

fork_server.begin(("gateway.service.log",))
first = start_child("pipeline-0", fails)
second = start_child("delivery", leaves, (3,))
print(first.popen.wait(30), second.popen.wait(30), fork_server.current() is not None, flush=True)
"""


def test_a_forked_child_that_fails_says_why_and_how_as_a_fresh_interpreter_would(tmp_path):
    """A runner's body that raises: its traceback on the daemon's stderr and exit code 1,
    as a fresh interpreter's; sys.exit(3) exit code 3. Not a silent exit code."""
    import subprocess
    import sys

    script = tmp_path / "failing.py"
    script.write_text(_FAILING_BODY)
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(repo)))
    assert done.stdout.split() == ["1", "3", "True"], (done.stdout, done.stderr[-2000:])
    assert "RuntimeError: the body failed: xxx" in done.stderr, done.stderr[-2000:]


def logs_three_ways() -> None:
    """A DATA-check worker's entry, as gateway/secrecy/markings.py's sets up its logging:
    an event through structlog's print logger, a library's stdlib logging, a Python
    warning; "ok" on its answer pipe if none of them raised."""
    import logging
    import sys
    import warnings

    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        structlog.get_logger().warning("classification_too_many_lines")
        logging.getLogger("pypdf").warning("a library's warning")
        warnings.warn("a Python warning", stacklevel=1)
    except Exception as exc:  # noqa: BLE001 - what the test reads
        sys.stdout.write(f"raised {type(exc).__name__}: {exc}\n")
    else:
        sys.stdout.write("ok\n")
    sys.stdout.flush()


_LOGGING_WORKER = """
import os
from gateway.service import fork_server
from tests.test_fork_server_session58 import logs_three_ways

fork_server.begin(("gateway.service.log",))
child, requests, answers = fork_server.current().start_check(logs_three_ways)
os.close(requests)
print(os.read(answers, 200).decode().strip(), child.wait(30), flush=True)
"""


def test_a_forked_worker_logs_as_a_fresh_interpreter_whatever_logs(tmp_path):
    """The fork server configured its own logging (stdlib processors): inherited, a
    DATA-check worker's first logged event raised and its letter was "unreadable"
    (a flood of lines taken with 250). A child starts from a fresh interpreter's
    logging, whether the event comes from structlog, a library's stdlib logger or a
    Python warning."""
    import subprocess
    import sys

    script = tmp_path / "logging_worker.py"
    script.write_text(_LOGGING_WORKER)
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(repo)))
    assert done.stdout.split() == ["ok", "0"], (done.stdout, done.stderr[-2000:])
