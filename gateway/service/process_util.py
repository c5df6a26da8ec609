"""Child-process plumbing shared by the runners."""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import multiprocessing
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Callable

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


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies (even by kill -9),
    so an orphaned runner never keeps working beside a restarted daemon.

    The request only covers a parent alive when it is made: a supervisor that died while
    the child was still importing (a crash right after it spawned its runners) left them
    running for good, polling a spool a restarted daemon also worked. So the parent the
    child was started by is checked once the request is in place."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)  # already orphaned: nothing of this child's work has begun


PR_SET_NAME = 15
# What `ps -o comm`, top and systemd show for a runner whose name (the supervisor's, in
# its events) would not fit Linux's 15 bytes; every other process is "saraban-<name>".
_SHOWN_NAMES = {"delivery": "saraban-deliver", "imap-intake": "saraban-imap"}


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
    process ids: a multiprocessing Event's semaphore does not survive the supervisor's
    clean-up at exit without noise).

    At the end, the runner's own children (the stamping child, the PDF workers) are
    ended here: one that nobody closed would otherwise live on as an orphan."""
    name_process(multiprocessing.current_process().name)
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
    """End and reap this process's children (all started by multiprocessing)."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(grace)
        if child.is_alive():
            child.kill()
            child.join(1.0)


def stop_resource_tracker() -> None:
    """End multiprocessing's resource tracker of this process and reap it, so that the
    supervisor leaves no process behind (it would otherwise outlive us as an orphan)."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)  # noqa: SLF001
    if stop is not None:
        try:
            stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
