"""The document vault: raw messages and attachments, byte for byte, by SHA-256.

Content addressing makes every write idempotent (the same bytes land at the same path)
and means a sender's file name never becomes a path on our disk."""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.fsync import defer_syncfs, fsync_dir, syncfs, write_durably

_DIGEST = re.compile(r"[0-9a-f]{64}")



class VaultObjectDamaged(IOError):
    """A stored object whose bytes no longer hash to its name (a disk's damage, a file
    edited by hand): the desk says so and the operator restores it from the backup."""

class Vault:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Per thread: a deferral belongs to the block that opened it. The delivery
        # runner's threads share one Vault; a count shared by them would let one
        # thread's puts skip their fsyncs, relying on a syncfs that does not wait for them.
        self._local = threading.local()

    @property
    def _deferred(self) -> int:  # inside deferred_sync() on this thread: writes wait for one syncfs
        return getattr(self._local, "depth", 0)

    def path(self, sha256: str) -> Path:
        if not _DIGEST.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        # Inside the delivery runner's deferred_dir_syncs the batch's objects are made
        # durable by one syncfs before the transaction that marks it done: also one
        # found whole, which an earlier attempt may have renamed without its sync.
        deferred = bool(self._deferred) or defer_syncfs(self.root)
        try:
            # A whole object is there. A crash after a deferred write's rename but before
            # its sync can leave under the name a short file, or on some file systems
            # (XFS's delayed allocation) one of the right size that reads as zeros: either
            # is written again. Until session 52 the size alone was trusted, and a letter
            # registered on its second attempt kept a damaged copy (VaultObjectDamaged at
            # every read: its folder copy never made).
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return digest
        except FileNotFoundError:
            pass
        if not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            if not deferred:  # the new fan-out directories' names, durable too
                fsync_dir(target.parent.parent)
                fsync_dir(self.root)
        write_durably(target, data, tmp_dir=self.tmp, mode=0o440, sync=not deferred)
        return digest

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Objects put inside are made durable together at the end, by one syncfs of
        the vault's filesystem (the pipeline's group commit: before the transaction
        that registers them, never after)."""
        self._local.depth = self._deferred + 1
        try:
            yield
        finally:
            self._local.depth -= 1
        if not self._deferred:
            syncfs(self.root)

    def get(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise VaultObjectDamaged(f"vault object {sha256} is corrupt")
        return data

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()
