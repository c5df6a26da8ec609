"""The fork server (`saraban-forks`): one interpreter that has imported what the runners
and the DATA-check workers run, and forks each of them when the supervisor asks.

Each of them used to be a fresh interpreter importing the same libraries again
(SQLAlchemy, structlog, pypdf, PDFium, mail-parser, PyThaiNLP): about 1.8 s of CPU at
every start of the daemon, and in memory a copy of the same code objects in each.
Forked from one interpreter that imported them once and put them out of the garbage
collector's reach (`gc.freeze`, so no collection writes to their pages), the children
share those pages (docs/operations.md "Processes", docs/performance.md session 58).

It is a fresh interpreter itself (`python -m gateway.service.child fork-server`), not
a fork of the supervisor: the supervisor has threads, has imported pydantic, which no
runner needs, and holds the configuration's secrets (the database's password, the TLS
key), which a DATA-check worker reading hostile mail must not have in its memory; the
server holds code and the warm-up letter's reading, nothing else. It has one thread, forks only, and ignores SIGTERM, SIGINT and SIGHUP: it ends
with the supervisor (its socket read to the end, or the kernel's SIGKILL when the
supervisor dies), and its children die with it (PR_SET_PDEATHSIG), so a kill -9 of the
supervisor leaves no process behind, as before. Where it cannot serve (gone, or not
ready in time) the supervisor starts a fresh interpreter, as before it existed.

Its socket, a multiprocessing Connection over a Unix socket pair:
- supervisor -> server: `(number, kind, role, environment, entry)`, then the child's
  file descriptors (SCM_RIGHTS). kind "child": a runner, its stdin the pipe start_child
  writes its payload into, and its end of a connection when it has one; kind "check": a
  DATA-check worker running `entry`, its stdin and stdout the request and answer pipes.
  The child gets the supervisor's environment as it is now (the metrics directory is
  announced in it after the server has started).
- server -> supervisor: `("started", number, pid)` or `("failed", number, reason)`;
  `("exited", pid, exitcode)` once a child it forked has ended and been reaped
  (exitcode as subprocess says it: negative for the signal that ended it)."""
from __future__ import annotations

import asyncio
import ctypes
import gc
import importlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from multiprocessing.reduction import recvfds, sendfds
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import structlog

from gateway.service.process_util import (became_child, exit_now, fork_server_in_use, name_process, pid_alive,
                                          start_child, use_fork_server)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from gateway.service.process_util import ChildProcess

log = structlog.get_logger()

ROLE = "fork-server"
# What every daemon's runners and workers import; the IMAP intake's runner only where
# central mailboxes are configured.
PRELOAD = ("gateway.secrecy.markings", "gateway.pipeline.runner", "gateway.delivery.runner")
IMAP_PRELOAD = ("gateway.intake.imap_runner",)
READY_TIMEOUT = 120.0  # its imports, on a loaded machine; past it a fresh interpreter is started
FORK_TIMEOUT = 10.0  # a fork of the ready server: milliseconds
SILENT_SERVER = 2.0  # a child seen ended this long without the server saying so is taken as ended
LOOK_EVERY = 0.5  # how often a child's /proc entry is read while the server has not said it ended


class ForkServerUnavailable(Exception):
    """The server is gone, or did not answer in time: start a fresh interpreter."""


# ------------------------------------------------------------------------- the server


def serve(connection: Connection, preload: tuple[str, ...], warm_ups: tuple[Callable[[], Any], ...] = ()) -> None:
    """The server's body (gateway/service/child.py runs it): import `preload`, run
    `warm_ups` (the lazy imports a first letter makes, PyThaiNLP's normaliser and pypdf's
    text extraction, made here once rather than in each worker), then fork on request."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    for module in preload:
        importlib.import_module(module)
    for warm_up in warm_ups:
        try:
            warm_up()
        except Exception:  # noqa: BLE001 - a warm-up only; each worker runs its own too
            pass
    gc.collect()
    gc.freeze()
    wake_read, wake_write = os.pipe()
    for fd in (wake_read, wake_write):
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wakeup fd fires
    signal.set_wakeup_fd(wake_write)
    sock = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        _serve_requests(connection, sock, wake_read, wake_write)
    except OSError:  # its socket broken: the supervisor is gone or ending, so are we
        pass
    exit_now(0)  # its children die with it (PR_SET_PDEATHSIG)


def _serve_requests(connection: Connection, sock: socket.socket, wake_read: int, wake_write: int) -> None:
    while True:
        ready, _, _ = select.select([connection, wake_read], [], [])
        if wake_read in ready:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        _report_exits(connection)
        if connection in ready or connection.poll(0):
            try:
                number, kind, role, environment, entry = connection.recv()
                fds = recvfds(sock, 3)
            except EOFError:
                return
            try:
                pid = _fork(kind, role, environment, entry, fds,
                            (connection.fileno(), sock.fileno(), wake_read, wake_write))
            except OSError as exc:
                connection.send(("failed", number, f"{type(exc).__name__}: {exc}"))
            else:
                connection.send(("started", number, pid))
            finally:
                for fd in fds:
                    os.close(fd)


def _report_exits(connection: Connection) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection.send(("exited", pid, os.waitstatus_to_exitcode(status)))


def _fork(kind: str, role: str, environment: dict[str, str], entry: Callable[[], Any] | None, fds: list[int],
          ours: tuple[int, ...]) -> int:
    if threading.active_count() != 1:
        raise OSError("the fork server has a second thread")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # else the child would write our pending lines again
        except (OSError, ValueError, AttributeError):
            pass
    server = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        # At once: `ps` would show it as the server meanwhile. Its command line as a
        # fresh interpreter of its role would have it, then its name.
        _retitle(_line(last=["gateway.secrecy.markings"], drop=2) if kind == "check" else _line(last=[role]))
        name_process(role)
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        for fd in ours:
            os.close(fd)
        os.environ.clear()
        os.environ.update(environment)  # the supervisor's now: the metrics directory, set after we started
        time.tzset()
        # Logging as a fresh interpreter has it, which each child sets up from: the
        # server's own configuration (stdlib processors) over a DATA-check worker's print
        # logger made every event it logged raise, and a letter of ten million lines
        # "unreadable", taken with a 250 instead of its 552.
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
        warnings.showwarning = warnings._showwarning_orig  # noqa: SLF001 - the stdlib's own
        if kind == "check":
            _become_check_worker(entry, fds, server)
        else:
            _become_child(role, fds, server)
        code = 0
    except SystemExit as exc:  # as the interpreter ends on it
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - what a fresh interpreter would print of it, on its stderr
        sys.excepthook(*sys.exc_info())
    finally:
        exit_now(code)
    return 0  # not reached


def _become_child(role: str, fds: list[int], server: int) -> None:
    from gateway.service import child

    stdin, connection = fds[0], (fds[1] if len(fds) > 1 else None)
    os.dup2(stdin, 0)
    os.close(stdin)
    child.run_forked(role, server, connection)


def _become_check_worker(entry: Callable[[], Any], fds: list[int], server: int) -> None:
    requests, answers = fds
    os.dup2(requests, 0)
    os.dup2(answers, 1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    for fd in (requests, answers, devnull):
        os.close(fd)
    became_child("check", server)
    entry()  # the worker's own entry point (gateway/secrecy/markings.py)


def _line(last: list[str], drop: int = 1) -> list[bytes]:
    """Our command line with its last `drop` words replaced by `last`."""
    try:
        words = Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return []
    return words[:-drop] + [os.fsencode(word) for word in last]


def _retitle(words: list[bytes]) -> None:
    """Write this process's command line (what `ps -ef` and /proc/<pid>/cmdline show) as a
    fresh interpreter of this role would have it: the kernel shows the memory the
    original arguments were in, the server's own; it fits, the server's last word being
    the longest role. Left as the server's where it would not fit."""
    if not words:
        return
    try:
        fields = Path("/proc/self/stat").read_bytes().rsplit(b") ", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5))
    except (OSError, IndexError, ValueError):
        return
    line = b"\0".join(words) + b"\0"
    if not start or len(line) > end - start:
        return
    ctypes.memmove(start, line + b"\0" * (end - start - len(line)), end - start)


# ------------------------------------------------------------------ the supervisor's side


class ForkServer:
    """The supervisor's handle on the server: `start_child` and `start_check` ask it for
    a child; `exitcode(pid)` says whether one has ended."""

    def __init__(self, process: ChildProcess):
        self.process = process
        assert process.connection is not None
        self._connection = process.connection
        self._sock = socket.socket(fileno=os.dup(self._connection.fileno()))
        self._lock = threading.Lock()
        self._number = 0
        self._replies: dict[int, tuple] = {}
        self._exits: dict[int, int] = {}
        self._answered = False  # until then, a request waits for its imports too
        self.lost = False

    def _drain(self, timeout: float = 0.0) -> None:
        """Read what the server has said (waiting up to `timeout` for its first word);
        the caller holds the lock."""
        while not self.lost:
            try:
                if not self._connection.poll(timeout):
                    return
                message = self._connection.recv()
            except (EOFError, OSError):
                self._lost()
                return
            timeout = 0.0
            if message[0] == "exited":
                self._exits[message[1]] = message[2]
            else:
                self._replies[message[1]] = message

    def _lost(self) -> None:
        if not self.lost:
            self.lost = True
            log.error("fork_server_lost", pid=self.process.pid, exitcode=self.process.exitcode)

    def _fork(self, kind: str, role: str, fds: list[int], entry: Callable[[], Any] | None = None) -> int:
        with self._lock:
            if self.lost or not self.process.is_alive():
                self._lost()
                raise ForkServerUnavailable("gone")
            self._number += 1
            number = self._number
            try:
                self._connection.send((number, kind, role, dict(os.environ), entry))
                sendfds(self._sock, fds)
            except OSError as exc:
                self._lost()
                raise ForkServerUnavailable(str(exc)) from None
        # The first request waits for the server's imports; the lock is let go between
        # looks, so that others can ask whether their children have ended meanwhile.
        deadline = time.monotonic() + (FORK_TIMEOUT if self._answered else READY_TIMEOUT)
        while True:
            self._wait_for_word(0.05)
            with self._lock:
                self._drain()
                reply = self._replies.pop(number, None)
                if reply is None and (self.lost or time.monotonic() > deadline):
                    self._lost()  # a server that does not answer serves no one after
                    raise ForkServerUnavailable("no answer")
            if reply is not None:
                self._answered = True
                break
        if reply[0] != "started":
            raise ForkServerUnavailable(reply[2])
        return reply[2]

    def exitcode(self, pid: int) -> int | None:
        """Its exit code once ended, else None. A child of a server that is gone died with
        it (SIGKILL) or is about to: said ended once it is no longer running."""
        with self._lock:
            self._drain()
            if pid in self._exits:
                return self._exits.pop(pid)
            if self.lost and not pid_alive(pid):
                return -signal.SIGKILL
        return None

    def _wait_for_word(self, timeout: float) -> None:
        """Up to `timeout` for the server to say something, the lock not held: the event
        loop asks `exitcode` of a DATA-check worker for every letter, and must not wait
        behind a thread waiting here."""
        if self.lost:
            time.sleep(timeout)
            return
        try:
            select.select([self._connection], [], [], timeout)
        except (OSError, ValueError):  # closed meanwhile: the next drain says lost
            pass

    def wait_a_little(self, timeout: float) -> None:
        self._wait_for_word(timeout)
        with self._lock:
            self._drain()

    def start_child(self, role: str, payload: bytes, theirs: socket.socket | None) -> ServerChild | None:
        """A runner: forked, then its payload written on its stdin (start_child's); None
        where the server cannot (the caller starts a fresh interpreter)."""
        read_end, write_end = os.pipe()
        try:
            pid = self._fork("child", role, [read_end] + ([theirs.fileno()] if theirs is not None else []))
        except ForkServerUnavailable:
            os.close(write_end)
            return None
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        with open(write_end, "wb") as stdin:
            try:
                stdin.write(payload)
            except BrokenPipeError:
                pass  # it has ended already: its exit code says so
        return ServerChild(self, pid)

    def start_check(self, entry: Callable[[], Any]) -> tuple[ServerChild, int, int]:
        """A DATA-check worker running `entry` (its stdin and stdout its pipes): (its
        handle, our end of its request pipe, of its answer pipe)."""
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        try:
            pid = self._fork("check", "check", [requests_read, answers_write], entry)
        except BaseException:
            os.close(requests_write)
            os.close(answers_read)
            raise
        finally:
            os.close(requests_read)
            os.close(answers_write)
        return ServerChild(self, pid), requests_write, answers_read


class ServerChild:
    """A child the server forked, as the supervisor used a subprocess.Popen: `pid`,
    `returncode`, poll(), wait(timeout), send_signal(), terminate(), kill()."""

    def __init__(self, server: ForkServer, pid: int):
        self.server = server
        self.pid = pid
        self.returncode: int | None = None
        self._gone_since: float | None = None  # seen not running, the server silent about it
        self._looked_at = 0.0  # when /proc was last read for it (`poll`)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exitcode(self.pid)
        if self.returncode is not None:
            return self.returncode
        # /proc read at most every LOOK_EVERY: the event loop polls a DATA-check worker
        # for every letter it gives it.
        now = time.monotonic()
        if now - self._looked_at < LOOK_EVERY:
            return None
        self._looked_at = now
        if not pid_alive(self.pid):
            # Ended (or a zombie), and the server, which reaps it and says how, has not
            # said so: it is stopped or stuck. Not waited for past SILENT_SERVER, else a
            # dead runner would never be restarted; its exit code is then unknown, said
            # as a kill.
            if self._gone_since is None:
                self._gone_since = now
            elif now - self._gone_since >= SILENT_SERVER:
                log.warning("fork_server_silent", pid=self.pid)
                self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(f"child {self.pid}", timeout)
            self.server.wait_a_little(left)
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.poll() is None:  # once reaped, its pid may be another process's
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_begin_lock = threading.Lock()


def begin(preload: tuple[str, ...], warm_ups: tuple[Callable[[], Any], ...] = ()) -> None:
    """The supervisor, at start: start the server; it imports while the start goes on,
    and `start_child` asks it from now on."""
    with _begin_lock:
        if fork_server_in_use() is None:
            use_fork_server(ForkServer(start_child(ROLE, serve, (preload, warm_ups), connected=True, direct=True)))


def current() -> ForkServer | None:
    """The server to ask, if this process has one that is not lost."""
    server = fork_server_in_use()
    return server if server is not None and not server.lost else None


class CheckWorkerProcess:
    """A DATA-check worker the server forked, as DataCheck uses asyncio's Process: `stdin`
    (a StreamWriter), `stdout` (a StreamReader), `returncode`, kill(), wait()."""

    def __init__(self, child: ServerChild, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader):
        self.child = child
        self.pid = child.pid
        self.stdin = stdin
        self.stdout = stdout

    @property
    def returncode(self) -> int | None:
        return self.child.poll()

    def kill(self) -> None:
        self.child.kill()

    async def wait(self) -> int:
        while self.child.poll() is None:
            await asyncio.sleep(0.02)
        return self.child.returncode


async def start_check_worker(entry: Callable[[], Any]) -> CheckWorkerProcess | None:
    """A DATA-check worker running `entry`, forked by the server; None where there is
    none to ask."""
    server = current()
    if server is None:
        return None
    loop = asyncio.get_running_loop()
    try:
        # Off the event loop: the first one waits for the server's imports.
        child, requests, answers = await loop.run_in_executor(None, server.start_check, entry)
    except ForkServerUnavailable:
        return None
    reader = asyncio.StreamReader(loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                 open(answers, "rb", buffering=0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        open(requests, "wb", buffering=0))
    return CheckWorkerProcess(child, asyncio.StreamWriter(transport, protocol, None, loop), reader)
