"""Shredding: a file's bytes overwritten before it is unlinked.

Apart from the vault's encryption (vault_crypto.py) so that the processes that only
shred (the supervisor discards the drafts of refused letters, and its temporary files
of the last run) never load cryptography: ~8 MiB a process, kept for its life."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import structlog

from gateway.secrecy.errors import SecrecyError

log = structlog.get_logger(__name__)


def shred(path: str | os.PathLike, logged_as: str | None = None) -> bool:
    """Overwrite a file with random bytes, fsync, truncate, unlink, fsync the directory.
    `logged_as`: what the log calls it, for a file whose own name may be a letter's words.

    Returns False when the file was already gone (shredding twice is shredding once).

    Limits: this only overwrites the blocks the file occupies *now*. On copy-on-write or
    log-structured filesystems (btrfs, ZFS, F2FS) the overwrite lands elsewhere; on ext4
    with data=journal the journal may keep a copy; SSDs remap writes (wear levelling)
    and may keep the old pages until TRIM and garbage collection; snapshots and backups
    keep theirs. It is a best effort that removes the easy copy. Put the data directory
    on an encrypted volume (LUKS/dm-crypt) so whatever survives is ciphertext.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SecrecyError(f"cannot shred {p}: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecrecyError(f"cannot shred {p}: not a regular file")
        remaining = st.st_size
        chunk = 1 << 20
        while remaining > 0:
            n = min(chunk, remaining)
            written = os.write(fd, secrets.token_bytes(n))
            remaining -= written
        os.fsync(fd)
        os.ftruncate(fd, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(p)
    dfd = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    log.info("file_shredded", name=logged_as or p.name)
    return True


def temporary_files_in(folder: Path) -> None:
    """Make this process's temporary files in `folder` (0700), shredding first what a
    killed run of it left there. Starlette keeps a desk upload over 1 MB (a paper letter's
    scan, perhaps ลับมาก) in a temporary file while the request is read: in TMPDIR it sat
    on /tmp's disk, only unlinked; here it is on the data directory's encrypted volume
    (docs/secrecy.md)."""
    import tempfile

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _shred_tree(folder, keep_top=True)
    tempfile.tempdir = str(folder)


def folders_of_dead_processes(parent: Path) -> list[Path]:
    """The folders under `parent` named by a process id no longer running: each process
    that keeps its own there (a desk started alone, `backup create`) clears only those,
    never another's in flight."""
    try:
        folders = [p for p in parent.iterdir() if p.name.isdigit() and p.is_dir() and not p.is_symlink()]
    except FileNotFoundError:
        return []
    dead = []
    for folder in folders:
        try:
            os.kill(int(folder.name), 0)
        except ProcessLookupError:
            dead.append(folder)
        except (PermissionError, OverflowError, ValueError):
            pass  # another user's process, or no process id: not ours to clear
    return dead


def shred_folders_of_dead_processes(parent: Path) -> None:
    """Shred and remove `folders_of_dead_processes(parent)` (temporary files of desks)."""
    for folder in folders_of_dead_processes(parent):
        _shred_tree(folder, keep_top=False)


def remove_folder(folder: Path) -> None:
    """Shred what is left in this process's temporary folder and remove it (a clean stop)."""
    if folder.is_dir() and not folder.is_symlink():
        _shred_tree(folder, keep_top=False)


def _shred_tree(folder: Path, keep_top: bool) -> None:
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            shred(path, logged_as="a temporary file of the last run")
    if not keep_top:
        folder.rmdir()
