"""The `saraban-gateway` commands the tests run (`python -m gateway ...`), and the
daemons they start (`python -m gateway run`), each a process of its own forked from an
interpreter that has already imported the gateway.

Why: the suite runs ~800 commands and ~400 daemons, and a new interpreter importing the
gateway is ~0.95 s of CPU for a command and ~1 s for a daemon's supervisor: a third of the
whole suite's CPU on its 2 cores (process accounting, docs/performance.md, sessions 48 and
49). Forked from an interpreter that has done those imports, a command costs ~0.05 s.

What a test sees is what it saw: a process of its own with its own pid, the request's
environment, working directory, argv and stdin, its stdout and stderr (captured, or the
daemon's log), its exit code (or minus the signal that killed it), a daemon in a session of
its own, a traceback printed as Python prints one, and its atexit handlers and
finalisation run, because the child leaves the server's loop and runs
`gateway/__main__.py` as `python -m` does (runpy), then ends as an interpreter ends. The
server itself never runs a command, so no cache of one (a `shutil.which`, a settings file)
is ever inherited; the daemons' server imports only what `python -m gateway run` has
imported when the supervisor starts (tests/test_process_imports.py reads what a running
supervisor holds). The runners and workers a supervisor starts are new interpreters, as
in service. What cannot be the same falls back to a real `python -m gateway`
(`_needs_a_new_interpreter`): another working directory (sys.path[0]), other locale or
PYTHON* variables (read by the interpreter at its own start), another umask or resource
limit than the server was started with. tests/test_cli_fork.py holds what is kept the
same; tests/test_cli_help_session37.py, test_startup_errors.py and test_clerk_cli_texts.py
still start real interpreters, and so does every test that starts `python -m gateway`
itself."""
from __future__ import annotations

import atexit
import gc
import importlib
import io
import locale
import os
import pickle
import resource
import select
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

# What the commands import besides their parser's groups (python -X importtime over
# status, check-config, register, quarantine and outbox): a module not here is imported
# by the command itself, as before.
_COMMANDS_ALSO = (
    "gateway.cli.table", "gateway.cli.secrecy",
    "gateway.config.settings", "gateway.config.views", "gateway.service.status", "gateway.service.log",
    "gateway.tools.replay", "gateway.tools.register_rows", "gateway.tools.actions",
    "storage.db", "storage.register", "storage.outbox", "storage.quarantine", "storage.users",
    "storage.vault", "storage.models", "sqlalchemy.dialects.sqlite", "sqlalchemy.orm",
)


def _preload(kind: str) -> tuple[str, ...]:
    """What a server imports before it forks: the modules of the parser's groups, as
    every `python -m gateway` does, then for the daemons (`run`) gateway.service.daemon
    and nothing more, what `python -m gateway run` holds when its supervisor starts
    (tests/test_process_imports.py reads what a running supervisor maps)."""
    from gateway.cli.main import GROUPS

    groups = ("gateway.cli.main", *(f"gateway.cli.{group}" for group in GROUPS))
    return (*groups, "gateway.service.daemon") if kind == "run" else (*groups, *_COMMANDS_ALSO)


# Read by the interpreter when it starts, not by the gateway, or by a module of the
# gateway when it is imported (gateway/secrecy/markings.py): a process asked with other
# values than its server started with gets an interpreter of its own.
_READ_AT_INTERPRETER_START = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "SARABAN_TEST_SLOW_CHECK")


def _inherited() -> tuple:
    """What a process inherits from the one that starts it, besides its environment: the
    umask and the resource limits (tests/secrecy/test_no_core_dumps.py sets the core
    limit before it starts a daemon)."""
    with open("/proc/self/status", "rb") as status:
        umask = next(line.split()[1].decode() for line in status if line.startswith(b"Umask:"))
    return umask, tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource))
                        if name.startswith("RLIMIT_"))


_AT_IMPORT = _inherited()


def _as_at_import() -> None:
    umask, limits = _AT_IMPORT
    os.umask(int(umask, 8))
    names = [name for name in sorted(dir(resource)) if name.startswith("RLIMIT_")]
    for name, limit in zip(names, limits):
        try:
            resource.setrlimit(getattr(resource, name), limit)
        except (ValueError, OSError):
            pass


def _needs_a_new_interpreter(env: dict[str, str], cwd: Path, server: _Server) -> bool:
    if Path(cwd).resolve() != REPO or _inherited() != server.inherited:
        return True
    started_env = server.env
    keys = {k for k in (*env, *started_env) if k.startswith("PYTHON") or k in _READ_AT_INTERPRETER_START}
    return any(env.get(k) != started_env.get(k) for k in keys)


# -- the server (python -m tests.cli_fork SOCKET) ----------------------------------------

def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    (length,) = struct.unpack("!I", data[:4])
    body = data[4:]
    return pickle.loads(body + _read_exactly(conn, length - len(body))), fds


def _serve(path: str, kind: str) -> dict | None:
    """Returns only in a forked child, with the request it is to run."""
    for name in _preload(kind):
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
                except (EOFError, OSError, RuntimeError, pickle.UnpicklingError, struct.error):
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
                    if request.get("new_session"):
                        os.setsid()
                    os.chdir(request["cwd"])
                    os.environ.clear()
                    os.environ.update(request["env"])
                    return request
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, ("ended", pidfd))
                try:
                    conn.sendall(struct.pack("!i", pid))
                except OSError:  # the test gave up on it already; its end is still reaped
                    pass
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
    def __init__(self, kind: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="saraban-cli-")
        self.path = os.path.join(self.folder, "s")
        # The daemon's log is read line by line while it runs (tests/daemon.py).
        self.env = dict(os.environ, **({"PYTHONUNBUFFERED": "1"} if kind == "run" else {}))
        # As the test process was before any test changed them: a server first asked for
        # by a test that raised a limit (test_no_core_dumps) would otherwise keep it.
        self.inherited = _AT_IMPORT
        self.process = subprocess.Popen([sys.executable, "-m", "tests.cli_fork", self.path, kind], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
                                        preexec_fn=_as_at_import)
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


_servers: dict[str, _Server] = {}
_server_lock = threading.Lock()


def _the_server(kind: str = "command") -> _Server:
    with _server_lock:
        server = _servers.get(kind)
        if server is None or server.process.poll() is not None:
            server = _servers[kind] = _Server(kind)
        return server


def _send(server: _Server, request: dict, fds: list[int]) -> tuple[socket.socket, int]:
    """The request sent with the fds that become the process's 0, 1 and 2 (closed here
    once sent) -> the connection and the process's pid."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(server.path)
        body = pickle.dumps(request)
        socket.send_fds(conn, [struct.pack("!I", len(body)) + body], fds)
    except BaseException:
        conn.close()
        raise
    finally:
        for fd in fds:
            os.close(fd)
    (pid,) = struct.unpack("!i", _read_exactly(conn, 4))
    return conn, pid


class ForkedProcess:
    """What tests/daemon.py asks of the `subprocess.Popen` of `run`: pid, poll, wait,
    send_signal, terminate, kill, returncode. The exit code is the server's to read
    (it is the parent); it comes on the connection when the process has ended."""

    def __init__(self, args: list[str], conn: socket.socket, pid: int) -> None:
        self.args, self.pid, self._conn, self.returncode = args, pid, conn, None

    def _ended(self, timeout: float | None) -> bool:
        if self.returncode is not None:
            return True
        if not select.select([self._conn], [], [], timeout)[0]:
            return False
        self._conn.settimeout(10)
        try:
            (self.returncode,) = struct.unpack("!i", _read_exactly(self._conn, 4))
        finally:
            self._conn.close()
        return True

    def poll(self) -> int | None:
        self._ended(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start_daemon(args: list[str], *, env: dict[str, str], output: int) -> subprocess.Popen | ForkedProcess:
    """`subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=REPO, env=env,
    stdout=output, stderr=subprocess.STDOUT, start_new_session=True)`, its supervisor
    forked from an interpreter that has imported what `python -m gateway run` imports."""
    argv = [sys.executable, "-m", "gateway", *args]
    server = _the_server("run")
    if _needs_a_new_interpreter(env, REPO, server):
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    fds = [os.open(os.devnull, os.O_RDONLY), os.dup(output), os.dup(output)]
    conn, pid = _send(server, {"args": list(args), "env": env, "cwd": str(REPO), "new_session": True}, fds)
    return ForkedProcess(argv, conn, pid)


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
    if _needs_a_new_interpreter(env, Path(cwd), server) or "run" in args:
        result = subprocess.run(argv, cwd=cwd, env=env, input=input, capture_output=True, timeout=timeout)
        return _finished(result.args, result.returncode, result.stdout, result.stderr, text)
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    conn, pid = _send(server, {"args": list(args), "env": env, "cwd": str(cwd)}, [stdin_r, out_w, err_w])
    if input:
        threading.Thread(target=_write_and_close, args=(stdin_w, input), daemon=True).start()
    else:
        os.close(stdin_w)
    out, err, code = _collect(conn, out_r, err_r, pid, timeout, argv)
    return _finished(argv, code, out, err, text)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        with open(fd, "wb") as pipe:  # written whole, then closed: the command reads its end
            pipe.write(data)
    except BrokenPipeError:  # it did not read it all
        pass


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
            if not events and deadline is not None and time.monotonic() >= deadline:
                if killed:  # as subprocess.run: killed, not waited for what else holds its pipes
                    break
                os.kill(pid, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + 10
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
    asked = _serve(sys.argv[1], sys.argv[2])
    if asked is not None:
        _run_command(asked)
