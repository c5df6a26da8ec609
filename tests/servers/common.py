"""What the throwaway test servers share: free ports, an unprivileged account, process groups.

The suite runs as root in CI and as a normal user on a developer machine. Dovecot and
PostgreSQL both refuse (or misbehave) as root, so as root each server runs under an
unprivileged system account and owns its own temporary directory; as a normal user it
simply runs as that user.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

SKIP_ENV = "SARABAN_SKIP_SERVERS"


class ServerUnavailable(RuntimeError):
    """The server cannot be started here: a binary is missing or it did not come up."""


@dataclass(frozen=True)
class Account:
    """The Unix account a test server runs as."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


def service_account(preferred: tuple[str, ...]) -> Account:
    """The current user, or, as root, the first existing unprivileged account of `preferred`.

    `nobody` is the last resort: any non-root uid will do, since the server's files all
    live in a temporary directory that we hand to that account.
    """
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, os.geteuid(), os.getegid())
    for name in (*preferred, "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise ServerUnavailable(
        f"running as root and none of the accounts {', '.join(preferred)}, nobody exists "
        "to run the test server unprivileged"
    )


OWNER_FILE = "owner.pid"


def make_workdir(prefix: str, account: Account) -> Path:
    """A fresh temporary directory owned by `account` (which may not be us).

    Directories left by earlier runs that were killed outright are removed first.
    """
    _sweep_stale(prefix)
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / OWNER_FILE).write_text(str(os.getpid()))
    path.chmod(0o755)  # the unprivileged account must traverse it; nothing secret inside
    if not account.is_current:
        os.chown(path, account.uid, account.gid)
    return path


def _sweep_stale(prefix: str) -> None:
    for old in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            owner = int((old / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge
        if owner == os.getpid():
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's run


def chown_tree(path: Path, account: Account) -> None:
    """Hand files we wrote (as root) to the server's account."""
    if account.is_current:
        return
    os.chown(path, account.uid, account.gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        os.chown(root, account.uid, account.gid)
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), account.uid, account.gid, follow_symlinks=False)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def run_as(account: Account, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a short command as the server's account; raises with its output on failure."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", 60)
    if not account.is_current:
        kwargs.update(user=account.uid, group=account.gid, extra_groups=[])
    proc = subprocess.run(argv, **kwargs)
    if proc.returncode != 0:
        out = _text(proc.stdout) + _text(proc.stderr)
        raise ServerUnavailable(f"{' '.join(argv)} failed with exit code {proc.returncode}:\n{out}")
    return proc


def spawn_as(
    account: Account,
    argv: list[str],
    log_file: Path,
    env: dict[str, str],
    orphan_signal: int = signal.SIGTERM,
) -> subprocess.Popen:
    """Start a long-running server in its own process group, output to `log_file`.

    If the test process dies without cleaning up (SIGKILL, a crash), the kernel sends
    the server `orphan_signal`, so no server outlives the run that started it.
    """
    kwargs: dict = {"preexec_fn": _die_with_parent(orphan_signal)}
    if not account.is_current:
        kwargs.update(user=account.uid, group=account.gid, extra_groups=[])
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop() can kill every child
            **kwargs,
        )


def _die_with_parent(sig: int):
    """A preexec hook asking Linux for `sig` when our process exits (prctl PR_SET_PDEATHSIG).

    subprocess runs it after switching user, so the setting survives the uid change.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, sig, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the prctl took effect
            os.kill(os.getpid(), sig)

    return hook


def stop_group(
    proc: subprocess.Popen | None,
    sig: int = signal.SIGTERM,
    timeout: float = 15,
    whole_group: bool = False,
) -> None:
    """Ask the server to stop (its leader, or with `whole_group` every process in its
    group), then kill whatever is left of the group."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            if whole_group:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children may outlive the leader (or the leader ignored us): clear the group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    wait_until(lambda: not group_alive(proc.pid), timeout=5)


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group.

    Orphaned children become zombies until init reaps them, which can take seconds in
    some containers; zombies hold no port and no file, so they do not count.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():
        return True
    return bool(group_members(pgid))


def group_members(pgid: int, zombies: bool = False) -> list[int]:
    """The pids of process group `pgid`, from /proc; zombies only if asked."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and (zombies or fields[0] != "Z"):
            pids.append(int(entry.name))
    return pids


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return _text(data[-limit:]) or "(log is empty)"


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# Strong references on purpose: a server object collected early must still be stopped.
_live: "list[_Stoppable]" = []


def stop_at_exit(server: _Stoppable) -> None:
    """Make sure `server` is stopped even if the test run dies before its finalizer."""
    if server not in _live:
        _live.append(server)


def forget_at_exit(server: _Stoppable) -> None:
    if server in _live:
        _live.remove(server)


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - exiting anyway; stop as many as we can
            pass
