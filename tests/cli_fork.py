"""The `saraban-gateway` commands the tests run (`python -m gateway ...`), each in a
process of its own that is forked from one which has already imported the gateway.

Why: the suite runs ~800 commands, and a new interpreter importing the gateway is ~0.95 s
of CPU each: a fifth of the whole suite's CPU on its 2 cores (process accounting,
docs/performance.md "The test suite's time"). Forked from an interpreter that has done
those imports, a command costs ~0.05 s.

What a test sees is what it saw: a process of its own with its own pid, the request's
environment, working directory, argv and stdin, its stdout and stderr captured, its exit
code (or minus the signal that killed it), a traceback printed as Python prints one, and
its atexit handlers and finalisation run, because the child leaves the server's loop and
runs `gateway/__main__.py` as `python -m` does (runpy), then ends as an interpreter ends.
The server itself never runs a command, so no cache of a command (a `shutil.which`, a
settings file) is ever inherited. What cannot be the same falls back to a real `python
-m gateway` (`_needs_a_new_interpreter`): another working directory (sys.path[0]), other
locale or PYTHON* variables (read by the interpreter at its own start), or the daemon's
`run`, whose process group and signals the tests drive themselves. tests/test_cli_fork.py
holds what is kept the same; tests/test_cli_help_session37.py, test_startup_errors.py and
test_clerk_cli_texts.py still start real interpreters."""
from __future__ import annotations

import atexit
import gc
import importlib
import io
import locale
import os
import pickle
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What the commands import (python -X importtime over status, check-config, register,
# quarantine and outbox): a module not here is imported by the command itself, as before.
_PRELOAD = (
    "gateway.cli.main", "gateway.cli.common", "gateway.cli.table", "gateway.cli.service",
    "gateway.cli.register", "gateway.cli.rules", "gateway.cli.db", "gateway.cli.classified",
    "gateway.cli.notices", "gateway.cli.quarantine", "gateway.cli.units", "gateway.cli.outbox",
    "gateway.cli.verify", "gateway.cli.web", "gateway.cli.backup", "gateway.cli.secrecy",
    "gateway.config.settings", "gateway.config.views", "gateway.service.status", "gateway.service.log",
    "gateway.tools.replay", "gateway.tools.register_rows", "gateway.tools.actions",
    "storage.db", "storage.register", "storage.outbox", "storage.quarantine", "storage.users",
    "storage.vault", "storage.models", "sqlalchemy.dialects.sqlite", "sqlalchemy.orm",
)

# Read by the interpreter when it starts, not by the gateway: a command asked with other
# values than the server started with gets an interpreter of its own.
_READ_AT_INTERPRETER_START = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ")


def _needs_a_new_interpreter(args: list[str], env: dict[str, str], cwd: Path, started_env: dict[str, str]) -> bool:
    if Path(cwd).resolve() != REPO or "run" in args:
        return True
    keys = {k for k in (*env, *started_env) if k.startswith("PYTHON") or k in _READ_AT_INTERPRETER_START}
    return any(env.get(k) != started_env.get(k) for k in keys)


# -- the server (python -m tests.cli_fork SOCKET) ----------------------------------------

def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    (length,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < length:
        more = conn.recv(length - len(body))
        if not more:
            raise EOFError
        body += more
    return pickle.loads(body), fds


def _serve(path: str) -> dict | None:
    """Returns only in a forked child, with the request it is to run."""
    for name in _PRELOAD:
        importlib.import_module(name)
    # What the imports made is never collected in a command: without this each child's
    # collections, and its end, walked (and so copied) the whole inherited heap, 0.18
    # against 0.06 s for an argparse error (gc.freeze's own documentation: before fork).
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    os.write(1, b"ready\n")
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("accept",))
    selector.register(0, selectors.EVENT_READ, ("parent",))
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    while True:
        for key, _ in selector.select():
            what = key.data
            if what[0] == "parent":
                if not os.read(0, 4096):  # the pytest worker is gone
                    for pid, _conn in running.values():
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    os._exit(0)
            elif what[0] == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = _recv_request(conn)
                except (EOFError, OSError, pickle.UnpicklingError, struct.error):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    for pidfd, (_pid, other) in running.items():
                        os.close(pidfd)
                        other.close()
                    conn.close()
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                        os.close(fd)
                    os.chdir(request["cwd"])
                    os.environ.clear()
                    os.environ.update(request["env"])
                    return request
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, ("ended", pidfd))
                conn.sendall(struct.pack("!i", pid))
            else:
                pidfd = what[1]
                pid, conn = running.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                try:
                    conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
                except OSError:  # the test gave up on it
                    pass
                conn.close()


def _run_command(request: dict) -> None:
    import runpy

    # runpy puts the module's path first, as -m does; bytes as the interpreter decodes
    # what the terminal handed over.
    sys.argv = ["-m", *(os.fsdecode(a) for a in request["args"])]
    runpy.run_module("gateway", run_name="__main__", alter_sys=True)


# -- the client ------------------------------------------------------------------------

class _Server:
    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="saraban-cli-")
        self.path = os.path.join(self.folder, "s")
        self.env = dict(os.environ)
        self.process = subprocess.Popen([sys.executable, "-m", "tests.cli_fork", self.path], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env)
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError("the command server did not start")
        atexit.register(self.stop)

    def stop(self) -> None:
        # Its stdin closed, it ends (and kills a command still running); waited for, so
        # that the CPU of it and of its commands counts in the test run's own.
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: _Server | None = None
_server_lock = threading.Lock()


def _the_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = _Server()
        return _server


def _as_text(data: bytes) -> str:
    # As subprocess's text=True: the locale's encoding, universal newlines.
    return io.TextIOWrapper(io.BytesIO(data), encoding=locale.getpreferredencoding(False)).read()


def run_gateway(args: list[str] | tuple[str, ...], *, env: dict[str, str] | None = None, input=None,  # noqa: A002
                timeout: float | None = 120, cwd: Path | str = REPO, text: bool = True) -> subprocess.CompletedProcess:
    """`subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, ...)`."""
    argv = [sys.executable, "-m", "gateway", *args]
    env = dict(os.environ if env is None else env)
    if input is not None and text and isinstance(input, str):
        input = input.encode(locale.getpreferredencoding(False))  # noqa: A001
    server = _the_server()
    if _needs_a_new_interpreter(list(args), env, Path(cwd), server.env):
        result = subprocess.run(argv, cwd=cwd, env=env, input=input, capture_output=True, timeout=timeout)
        return _finished(result.args, result.returncode, result.stdout, result.stderr, text)
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(server.path)
        body = pickle.dumps({"args": list(args), "env": env, "cwd": str(cwd)})
        socket.send_fds(conn, [struct.pack("!I", len(body)) + body], [stdin_r, out_w, err_w])
    finally:
        for fd in (stdin_r, out_w, err_w):
            os.close(fd)
    (pid,) = struct.unpack("!i", _read_exactly(conn, 4))
    if input:
        threading.Thread(target=_write_and_close, args=(stdin_w, input), daemon=True).start()
    else:
        os.close(stdin_w)
    out, err, code = _collect(conn, out_r, err_r, pid, timeout, argv)
    return _finished(argv, code, out, err, text)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data) if len(data) < 65536 else os.fdopen(fd, "wb", closefd=False).write(data)
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            raise RuntimeError("the command server closed the connection")
        data += more
    return data


def _collect(conn: socket.socket, out_r: int, err_r: int, pid: int, timeout: float | None, argv: list[str]):
    chunks = {out_r: [], err_r: []}
    status = b""
    selector = selectors.DefaultSelector()
    selector.register(out_r, selectors.EVENT_READ)
    selector.register(err_r, selectors.EVENT_READ)
    selector.register(conn, selectors.EVENT_READ)
    deadline = None if timeout is None else time.monotonic() + timeout
    killed = False
    try:
        while selector.get_map():
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = selector.select(wait)
            if not events and deadline is not None and time.monotonic() >= deadline and not killed:
                os.kill(pid, signal.SIGKILL)
                killed = True
                deadline = None
            for key, _ in events:
                if key.fileobj is conn:
                    more = conn.recv(4)
                    if not more:
                        selector.unregister(conn)
                    status += more
                else:
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
    finally:
        selector.close()
        os.close(out_r)
        os.close(err_r)
        conn.close()
    out, err = b"".join(chunks[out_r]), b"".join(chunks[err_r])
    if killed:
        raise subprocess.TimeoutExpired(argv, timeout, output=out, stderr=err)
    if len(status) != 4:
        raise RuntimeError("the command server did not say how the command ended")
    return out, err, struct.unpack("!i", status)[0]


def _finished(argv, code: int, out: bytes, err: bytes, text: bool) -> subprocess.CompletedProcess:
    if text:
        return subprocess.CompletedProcess(argv, code, _as_text(out), _as_text(err))
    return subprocess.CompletedProcess(argv, code, out, err)


if __name__ == "__main__":
    asked = _serve(sys.argv[1])
    if asked is not None:
        _run_command(asked)
