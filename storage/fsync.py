"""Write-then-rename with fsync of file and directory: the only way a file is made
durable here, so a crash leaves either the old state or the whole new file."""
from __future__ import annotations

import ctypes
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_libc: ctypes.CDLL | None = None
_deferred = threading.local()  # this thread's DirSyncs, whose fsyncs wait (deferred_dir_syncs)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path) -> None:
    """Make everything written on the filesystem holding `path` durable: files, renames,
    new directories. One call for a batch of files (Linux syncfs(2)) instead of an
    fsync of each file and each directory; os.sync() where syncfs is missing."""
    global _libc
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        call = getattr(_libc, "syncfs", None)
        if call is None:
            os.sync()
            return
        if call(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), str(path))
    finally:
        os.close(fd)


def write_durably(target: Path, chunks, tmp_dir: Path | None = None, mode: int = 0o640,
                  sync: bool = True) -> None:
    """Write `chunks` (bytes or an iterable of bytes) to `target` atomically and durably.

    On any error the temporary file is removed and the exception propagates: the
    caller answers 451 and nothing half-written is left behind. `sync=False`: atomic
    but not yet durable; the caller makes a group of such writes durable at once
    (`syncfs`) before it relies on them."""
    tmp_dir = tmp_dir or target.parent
    tmp = tmp_dir / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            if isinstance(chunks, (bytes, bytearray, memoryview)):
                chunks = (chunks,)
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        # The new name is durable with its directory; the temporary name's removal
        # from tmp_dir needs no fsync (a stale entry there is cleaned up at start).
        sync_dir(target.parent)


def defer_syncfs(path: Path) -> bool:
    """Inside `deferred_dir_syncs` on this thread: the filesystem holding `path` is
    synced by one syncfs at the block's end, for the current owner, and True says the
    caller may write there without fsyncs of its own. Outside: False, nothing waits."""
    waiting = getattr(_deferred, "syncs", None)
    if waiting is None:
        return False
    waiting.filesystems.setdefault(path, set()).add(waiting.owner)
    return True


def sync_dir(path: Path) -> None:
    """fsync the directory now or, inside `deferred_dir_syncs`, with the others at its
    end. Also for a file found already there by a delivery done again: its name was
    written by an attempt whose directory sync may have failed."""
    waiting = getattr(_deferred, "syncs", None)
    if waiting is None:
        fsync_dir(path)
    else:
        waiting.dirs.setdefault(path, set()).add(waiting.owner)


class DirSyncs:
    """What `deferred_dir_syncs` yields. The caller names the `owner` of the writes to
    come (the delivery runner: the outbox item whose handler runs); once the block is
    left, `done` is set and `failed` holds, for each owner with a directory whose fsync
    failed, that error: its files may not survive a crash, and it alone is to be done
    again, not the others whose directories were synced."""

    def __init__(self) -> None:
        self.done = False
        self.owner: object = None
        self.dirs: dict[Path, set[object]] = {}
        self.filesystems: dict[Path, set[object]] = {}  # defer_syncfs: one syncfs each
        self.failed: dict[object, OSError] = {}


@contextmanager
def deferred_dir_syncs() -> Iterator[DirSyncs]:
    """Inside, on this thread, `write_durably` still fsyncs each file before its rename
    (a name never shows a file that is not whole), but its directory's fsync waits for
    the end, once per directory: the delivery runner's batch of folder copies and
    stamped PDFs, made durable before the one transaction that marks them done (the
    vault's stamped PDFs by one syncfs of its filesystem, `defer_syncfs`). On the
    way out (an exception too) every directory is synced, each whatever the others
    did: one unit's folder on a share that answers EIO had the batch record nothing and
    do every item again, a notice to each of its senders every second. A caller
    records as done only what `failed` does not name. Nested, the outer block syncs."""
    outer = getattr(_deferred, "syncs", None)
    if outer is not None:
        yield outer
        return
    syncs = _deferred.syncs = DirSyncs()
    try:
        yield syncs
    finally:
        _deferred.syncs = None
        for sync, waiting in ((syncfs, syncs.filesystems), (fsync_dir, syncs.dirs)):
            for path in sorted(waiting):
                try:
                    sync(path)
                except OSError as exc:
                    for owner in waiting[path]:
                        syncs.failed.setdefault(owner, exc)
        syncs.done = True
