"""tests/cli_fork.py runs the suite's `saraban-gateway` commands forked from an
interpreter that has imported the gateway already. What a test reads of a command must be
what the command typed by a sysadmin gives: these run the same commands both ways."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cli_fork import REPO, run_gateway
from tests.daemon import write_config


def _real(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=REPO, capture_output=True, timeout=120,
                          **kwargs)


@pytest.fixture
def config(tmp_path):
    config = write_config(tmp_path)
    assert run_gateway(["--config", str(config), "db", "upgrade"]).returncode == 0
    return config


def test_a_command_gives_what_a_new_interpreter_gives(config):
    for args in (["--config", str(config), "register", "list", "--json"],
                 ["--config", str(config), "quarantine", "list"],
                 ["--config", str(config), "nonsense"],  # argparse's usage and exit 2
                 ["--config", str(config.parent / "missing.toml"), "status"],
                 ["--config", str(config), "register", "show", "saraban.latkrabang", "1/2569"]):
        forked = run_gateway(args, text=False)
        real = _real(args)
        assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr), args


def test_the_environment_argv_bytes_and_stdin_are_the_requests(config, tmp_path):
    # The environment: a setting given only there.
    shown = run_gateway(["--config", str(config), "check-config"], env=dict(os.environ, SARABAN_SMTP_PORT="2633"))
    assert shown.returncode == 0, shown.stderr
    assert "2633" in shown.stdout
    assert "2633" not in run_gateway(["--config", str(config), "check-config"]).stdout
    # Bytes that are no UTF-8 reach the command as the interpreter decodes them.
    args = ["--config", str(config), "register", "show", b"saraban.\xff", "1/2569"]
    forked, real = run_gateway(args, text=False), _real(args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    # stdin: a password read from it.
    added = run_gateway(["--config", str(config), "users", "add", "alice", "--role", "admin",
                         "--password-stdin"], input="correct horse battery 1\n")
    assert added.returncode == 0, added.stderr
    listed = run_gateway(["--config", str(config), "users", "list"])
    assert "alice" in listed.stdout


def test_a_command_past_its_timeout_is_killed_and_said_so(config):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_gateway(["--config", str(config), "web", "--port", "0"], timeout=3)
    assert time.monotonic() - started < 30
    # Nothing of it is left: the server's only children are the commands in hand.
    from tests.cli_fork import _the_server

    from tests.processes import tree

    server = _the_server().process.pid
    assert tree(server) == [server]


def test_what_the_interpreter_reads_at_its_start_gets_a_new_interpreter(config, tmp_path):
    # Another locale, or another working directory (sys.path[0]): a real `python -m`.
    env = dict(os.environ, LC_ALL="C", PYTHONIOENCODING="ascii:backslashreplace")
    args = ["--config", str(config), "register", "show", "ทดสอบ", "1/2569"]
    forked, real = run_gateway(args, env=env), _real(args, env=env, text=True)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert forked.returncode == 1 and 'unknown unit "\\u0e17\\u0e14' in forked.stderr
    # The working directory: `-m gateway` from elsewhere finds the installed package.
    listed = ["--config", str(config), "register", "list"]
    elsewhere = run_gateway(listed, cwd=tmp_path)
    assert (elsewhere.returncode, elsewhere.stdout) == (0, run_gateway(listed).stdout)


def test_a_daemon_is_forked_in_a_session_of_its_own_and_ends_as_it_is_told(tmp_path):
    from tests.cli_fork import ForkedProcess
    from tests.daemon import Daemon

    d = Daemon(write_config(tmp_path)).start()
    try:
        assert isinstance(d.proc, ForkedProcess)
        assert os.getsid(d.proc.pid) == d.proc.pid and d.proc.poll() is None
    finally:
        stopped = d.stop()
    assert stopped == 0 and d.proc.returncode == 0  # SIGTERM: a clean stop
    d.start()
    os.killpg(d.proc.pid, signal.SIGKILL)
    assert d.proc.wait(10) == -signal.SIGKILL
    other = Daemon(write_config(tmp_path / "b")).start()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            other.proc.wait(0.5)
    finally:
        assert other.stop() == 0


def test_another_umask_or_limit_gets_a_new_interpreter(tmp_path):
    import resource

    from tests.cli_fork import _needs_a_new_interpreter, _the_server

    server = _the_server("run")
    env = dict(server.env)
    assert not _needs_a_new_interpreter(env, REPO, server)
    assert _needs_a_new_interpreter(dict(env, PYTHONMALLOC="malloc"), REPO, server)
    assert _needs_a_new_interpreter(dict(env, SARABAN_TEST_SLOW_CHECK="x"), REPO, server)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0 if soft else min(hard, 4096), hard))
    try:
        assert _needs_a_new_interpreter(env, REPO, server)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    old = os.umask(0o002)
    try:
        assert _needs_a_new_interpreter(env, REPO, server) == (old != 0o002)
    finally:
        os.umask(old)


def test_the_daemons_server_imports_nothing_that_python_m_gateway_run_would_not_hold():
    # The supervisor forked from it holds what the server imported
    # (tests/test_process_imports.py reads what a running supervisor maps).
    code = ("import importlib, json, sys\n"
            "import gateway.cli.main as m; m.build_parser(); import gateway.service.daemon\n"
            "before = set(sys.modules)\n"
            "import tests.cli_fork as cf\n"
            "for name in cf._preload('run'): importlib.import_module(name)\n"
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    import json

    assert set(json.loads(out)) <= {"gc", "tests", "tests.cli_fork"}


def test_a_request_cut_short_leaves_the_server_serving(config):
    import socket
    import struct

    from tests.cli_fork import _the_server

    server = _the_server()
    for cut in (struct.pack("!I", 1000) + b"\x80\x04", b"\x00", b"not a length or a pickle at all"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(server.path)
        conn.sendall(cut)
        conn.close()
    assert run_gateway(["--config", str(config), "register", "list"]).returncode == 0
    assert _the_server() is server and server.process.poll() is None
