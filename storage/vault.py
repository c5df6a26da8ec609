"""The document vault: raw messages and attachments, byte for byte, by SHA-256.

Content addressing makes every write idempotent (the same bytes land at the same path)
and means a sender's file name never becomes a path on our disk."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.fsync import fsync_dir, syncfs, write_durably


class Vault:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._deferred = 0  # inside deferred_sync(): writes wait for one syncfs

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        try:
            # A whole object is there. (A crash after a deferred write's rename but before
            # its sync can leave a short file under the name: that is written again.)
            if target.stat().st_size == len(data):
                return digest
        except FileNotFoundError:
            pass
        if not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            if not self._deferred:  # the new fan-out directories' names, durable too
                fsync_dir(target.parent.parent)
                fsync_dir(self.root)
        write_durably(target, data, tmp_dir=self.tmp, mode=0o440, sync=not self._deferred)
        return digest

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Objects put inside are made durable together at the end, by one syncfs of
        the vault's filesystem (the pipeline's group commit: before the transaction
        that registers them, never after)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if not self._deferred:
            syncfs(self.root)

    def get(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IOError(f"vault object {sha256} is corrupt")
        return data

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()
