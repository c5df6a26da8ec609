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

