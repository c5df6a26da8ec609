"""Child-process plumbing shared by the runners."""
from __future__ import annotations

import ctypes
import ctypes.util
import resource
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies (even by kill -9),
    so an orphaned runner never keeps working beside a restarted daemon."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class StopFlag:
    """Set by SIGTERM/SIGINT; runners finish the item in hand, then return."""

    def __init__(self) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # A reload is the supervisor's: it replaces the runners (gateway/service/reload.py).
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _stop(self, signum, frame) -> None:  # noqa: ANN001
        self.stopping = True


def kill_pool(pool) -> None:  # noqa: ANN001 (concurrent.futures.ProcessPoolExecutor)
    """Tear down a process pool whose worker overran its deadline or died.

    `shutdown()` alone waits for (or leaves running) a worker stuck in a hostile file;
    its processes are killed first, so the next submit starts a fresh one."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


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
