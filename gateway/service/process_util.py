"""Child-process plumbing shared by the runners."""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import pickle
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

PR_SET_PDEATHSIG = 1


def no_core_dumps() -> None:
    """No core dump from this process or any it starts. A core dump is the process's
    memory on disk, in plain: the letter it was reading, a ลับ one's PDF or text included,
    in systemd-coredump's store or as `core` in the working directory (the data
    directory under systemd), where nothing shreds it. A PDF that crashes PDFium in the
    reading child, or a fault in any parser, was enough (leak red team, 30 Nov 2026)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies (even by kill -9),
    so an orphaned runner never keeps working beside a restarted daemon.

    The request only covers a parent alive when it is made: a supervisor that died while
    the child was still importing (a crash right after it spawned its runners) left them
    running for good, polling a spool a restarted daemon also worked. So the parent the
    child was started by (`parent`, else the one gateway/service/child.py was told of) is
    checked once the request is in place."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    parent = _started_by if parent is None else parent
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # already orphaned: nothing of this child's work has begun


# Set by gateway/service/child.py in a process started by `start_child`.
_role: str | None = None
_started_by: int | None = None


def process_role() -> str | None:
    """What this process is, as its command line says (`start_child`): "pipeline-0",
    "delivery", "stamp", "pdf"...; None in a process not started that way (the
    supervisor, a command of the CLI)."""
    return _role


def became_child(role: str, parent: int) -> None:
    """gateway/service/child.py, first thing: this process is `role`, started by `parent`."""
    global _role, _started_by
    _role, _started_by = role, parent
    die_with_parent(parent)


PR_SET_NAME = 15
# What `ps -o comm`, top and systemd show for a runner whose name (the supervisor's, in
# its events) would not fit Linux's 15 bytes; every other process is "saraban-<name>".
_SHOWN_NAMES = {"delivery": "saraban-deliver", "imap-intake": "saraban-imap", "fork-server": "saraban-forks"}


def name_process(name: str) -> None:
    """Give this process (its calling thread, the main one) the name `ps -o comm` and
    top show: "saraban-gateway", "saraban-pipe-0", "saraban-deliver", "saraban-stamp"...
    (docs/operations.md, "Processes")."""
    if name.startswith("pipeline-"):
        shown = "saraban-pipe-" + name.removeprefix("pipeline-")
    else:
        shown = _SHOWN_NAMES.get(name, "saraban-" + name)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(shown.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
SUPERVISOR_MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = SUPERVISOR_MALLOC_ARENAS) -> bool:
    """At most `arenas` malloc arenas in this process (glibc's default: up to 8 a core,
    one made for each thread that finds the others' locked, each keeping what it held).
    The supervisor's SMTP sessions, its sender checks' threads and its executor threads
    allocate at once while the GIL is released (ssl, DNS, SQLite): its arenas were
    ~6 MiB of its peak RSS with 50 connections (docs/performance.md, session 30). Before
    any thread starts; False where the C library has no mallopt (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


class StopFlag:
    """Set by SIGTERM/SIGINT; runners finish the item in hand, then return."""

    def __init__(self) -> None:
        self.stopping = False
        self.also: list[Callable[[], None]] = []  # e.g. wake the threads napping (doorbell.py)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # A reload is the supervisor's: it replaces the runners (gateway/service/reload.py).
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _stop(self, signum, frame) -> None:  # noqa: ANN001
        self.stopping = True
        for wake in self.also:
            wake()


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one (systemd's LimitNOFILE= sets
    both); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def run_child(target: str, args: tuple, after_pids: tuple[int, ...] = (), nice: int = 0) -> None:
    """The body of every runner process (gateway/service/daemon.py): `target` is
    "module:function", imported here, in the child.

    `after_pids`: work only once these processes are gone. A reload starts the new
    runners this way while the old ones finish the letter in hand, so the new ones
    are imported and ready the moment the old ones are gone (a plain wait on the
    process ids, nothing shared between the processes).

    At the end, the runner's own children (the stamping child, the PDF workers) are
    ended here: one that nobody closed would otherwise live on as an orphan."""
    if nice:
        os.nice(nice)  # relative to the supervisor's; the runner's own workers inherit it
    try:
        while any(pid_alive(pid) for pid in after_pids):
            time.sleep(0.05)
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)(*args)
    finally:
        end_children()
    exit_now(0)


class ChildProcess:
    """A child started by `start_child`, used as the supervisor and WorkerProcess used a
    multiprocessing.Process: `pid`, `exitcode` (negative: the signal that ended it),
    is_alive(), terminate(), kill(), join(timeout). `connection`: this process's end of
    the child's pipe, when it has one."""

    def __init__(self, role: str, popen: subprocess.Popen, connection: Connection | None):
        self.name = role
        self.popen = popen
        self.connection = connection

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        self.popen.terminate()  # nothing, once it has been reaped: its pid may be another's

    def kill(self) -> None:
        self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


_children: list[ChildProcess] = []  # what this process started: `end_children` ends them
_children_lock = threading.Lock()
_starter = None  # the lasting thread every child is started from (`start_child`)


def start_child(role: str, body: Callable[..., Any], args: tuple = (), *, connected: bool = False,
                direct: bool = False) -> ChildProcess:
    """Start `python -m gateway.service.child <role>`, a fresh interpreter that runs
    `body(*args)` (gateway/service/child.py); `connected`: with one end of a socket pair
    as `body`'s first argument (a multiprocessing Connection), the other end being the
    ChildProcess's `connection`.

    `role` is what `ps` shows (its command line, and `name_process` for its name) and
    what `process_role()` says in it. `body` and `args` (Settings, a seal key) reach it
    pickled on its stdin, never on its command line, where a database password would
    show to every user of the machine. It gets this process's module path and working
    directory, so a relative data_dir or sqlite:/// path means the same file.

    Not multiprocessing's spawn: that starts a resource tracker, a whole Python process
    beside the daemon that it has no use for (it shares no memory and no semaphore
    between processes), and its children's command lines all read
    `python -c from multiprocessing.spawn import spawn_main...`.

    Where this process has a fork server (the supervisor, gateway/service/fork_server.py)
    and `direct` is not asked, the child is forked by it, with the same command line,
    payload and pipe; a fresh interpreter where the server cannot."""
    global _starter
    ours = theirs = None
    if connected:
        # The child's end is inherited by it alone (pass_fds; Python's own descriptors are
        # close-on-exec): when it dies, ours reads EOF, and it reads EOF when we close ours.
        ours, theirs = socket.socketpair()
    try:
        payload = pickle.dumps((body, args, theirs.fileno() if theirs is not None else None),
                               pickle.HIGHEST_PROTOCOL)
        forked = None if direct else _forked_by_server(role, b"%d\n" % os.getpid() + payload, theirs)
        if forked is not None:
            return _started(role, forked, ours)
        command = [sys.executable, *subprocess._args_from_interpreter_flags(),  # noqa: SLF001 - as multiprocessing
                   "-m", "gateway.service.child", role]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
        pass_fds = (theirs.fileno(),) if theirs is not None else ()

        def popen() -> subprocess.Popen:
            return subprocess.Popen(command, stdin=subprocess.PIPE, env=env, pass_fds=pass_fds)

        with _children_lock:
            if _starter is None:
                from concurrent.futures import ThreadPoolExecutor

                # Linux sends PR_SET_PDEATHSIG (die_with_parent) when the *thread* that
                # started the child ends, not its process: a child started by a thread
                # that has since ended was killed at once, in the middle of whatever
                # letter another thread had given it.
                _starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-starter")
            starter = _starter
        try:
            started = starter.submit(popen)
        except RuntimeError:  # the interpreter is ending: no lasting thread is left
            process = popen()
        else:
            process = started.result()
    except BaseException:
        if ours is not None:
            ours.close()
        raise
    finally:
        if theirs is not None:
            theirs.close()  # the child's end is the child's alone: its death reads as EOF here
    try:
        # Its parent first, read before anything is unpickled (die_with_parent).
        process.stdin.write(b"%d\n" % os.getpid() + payload)
        process.stdin.flush()
    except BrokenPipeError:
        pass  # it has ended already: its exit code says so to whoever checks it
    finally:
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass
    return _started(role, process, ours)


_fork_server: Any = None  # gateway/service/fork_server.py's ForkServer, in the supervisor


def use_fork_server(server: Any) -> None:
    """From now on `start_child` asks `server` (gateway/service/fork_server.py) first."""
    global _fork_server  # noqa: PLW0603
    _fork_server = server


def fork_server_in_use() -> Any:
    """The server `use_fork_server` gave, lost or not; None where there is none."""
    return _fork_server


def _forked_by_server(role: str, payload: bytes, theirs: socket.socket | None) -> Any:
    server = _fork_server
    if server is None or server.lost:
        return None
    return server.start_child(role, payload, theirs)  # None where it cannot


def _started(role: str, process: Any, ours: socket.socket | None) -> ChildProcess:
    connection = None
    if ours is not None:
        from multiprocessing.connection import Connection

        connection = Connection(ours.detach())
    child = ChildProcess(role, process, connection)
    with _children_lock:
        _children[:] = [c for c in _children if c.popen.poll() is None]
        _children.append(child)
    return child


class ForkedChild:
    """A child `fork_child` started: what the supervisor used of the subprocess.Popen of a
    short-lived child, `pid`, `returncode`, communicate(timeout) -> (None, what it wrote
    on its stderr), kill(), wait(), and `stderr` (its pipe, closed once read to its end)."""

    def __init__(self, pid: int, stderr_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self.stderr = os.fdopen(stderr_fd, "rb", buffering=0)
        self._said: list[bytes] = []

    def communicate(self, timeout: float | None = None) -> tuple[None, bytes]:
        """Read its stderr to the end, then reap it; subprocess.TimeoutExpired when it has
        not closed its stderr within `timeout` (what was read so far is kept for the next
        call, as Popen.communicate keeps it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stderr.closed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"child {self.pid}", timeout)
            ready, _, _ = select.select([self.stderr], [], [], left)
            if not ready:
                continue
            data = self.stderr.read(65536)
            if not data:
                self.stderr.close()
                break
            self._said.append(data)
        self.wait()
        return None, b"".join(self._said)

    def wait(self) -> int:
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped by someone else: its outcome is unknown, not a success
                self.returncode = 255
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def fork_child(role: str, body: Callable[..., Any], *args: Any) -> ForkedChild | None:
    """Run `body(*args)` in a child forked from this process, its stderr a pipe to us
    (ForkedChild); None when this process has more than one thread, where the caller
    starts a fresh interpreter instead.

    For the supervisor's two short-lived children at start, the schema upgrade and the
    checks of keys and certificates: a fresh interpreter imported again what the
    supervisor had just imported (SQLAlchemy, pydantic, the configuration, structlog),
    0.5-0.8 s of CPU each (the schema upgrade only on a new or older database), a
    seventh of the CPU of a daemon's first start (docs/performance.md, sessions 48-49).
    Forked while the supervisor has one thread, no lock another thread held is copied
    held; what the child loads (Alembic, cryptography) stays in the child. It dies with
    the supervisor (die_with_parent) and leaves with os._exit, running none of the
    supervisor's exit handlers."""
    if threading.active_count() != 1:
        return None
    parent = os.getpid()
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # else the child would write the supervisor's pending lines again
        except (OSError, ValueError, AttributeError):
            pass
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            os.dup2(write_end, 2)
            os.close(write_end)
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(number, signal.SIG_DFL)  # as a fresh interpreter's
            became_child(role, parent)
            name_process(role)
            body(*args)
            code = 0
        finally:
            exit_now(code)
    os.close(write_end)
    return ForkedChild(pid, read_end)


def exit_now(code: int) -> None:
    """Leave without Python's interpreter teardown: everything that matters is already
    durable and closed, and tearing down pyHanko, pypdf and friends module by module
    costs 1-2 s that SIGTERM's "stopped within 2 s" cannot afford."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def pid_alive(pid: int) -> bool:
    """The process is running: not gone, and not a zombie (it has exited; only its
    parent's wait removes it, and nothing it held is still being worked on)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def end_children(grace: float = 2.0) -> None:
    """End and reap the children this process started (`start_child`) that are still
    running."""
    with _children_lock:
        children = [child for child in _children if child.is_alive()]
        _children.clear()
    for child in children:
        child.terminate()
    for child in children:
        child.join(grace)
        if child.is_alive():
            child.kill()
            child.join(1.0)
