"""The document vault: raw messages and attachments, byte for byte, by SHA-256.

Content addressing makes every write idempotent (the same bytes land at the same path)
and means a sender's file name never becomes a path on our disk."""
from __future__ import annotations

import hashlib
from pathlib import Path

from storage.fsync import write_durably


class Vault:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        write_durably(target, data, tmp_dir=self.tmp, mode=0o440)
        return digest

    def get(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IOError(f"vault object {sha256} is corrupt")
        return data

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()
