"""Free disk space, checked at MAIL FROM: Postfix's `queue_minfree`.

A letter accepted is written again after its 250: into the vault, the register, the
stamped copy in the unit's folder. When a file system that holds these runs low, the
acknowledged backlog needs the space that is left more than a new sender does, so
intake answers 452 4.3.1 (the sender's MTA retries later, nothing is lost) instead of
taking letters it may then be unable to register. Without this, a full disk shows
up as a 451 only after the sender has uploaded the whole message, and the runners
retry the letters already accepted until space comes back.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from gateway.config.settings import Settings


def free_bytes(path: Path) -> int:
    """Space an unprivileged writer may still use on `path`'s file system."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


MIB = 1024 * 1024


@dataclass(frozen=True)
class DiskReading:
    """What /healthz and `status` show: the least free space over the file systems, or None when
    a file system cannot be measured (which refuses letters too), and the floor."""

    free: int | None  # bytes
    floor: int

    @property
    def ok(self) -> bool:
        return self.free is not None and self.free >= self.floor

    def describe(self) -> str:
        free = "free space cannot be measured" if self.free is None else f"{self.free // MIB} MiB free"
        return f"{free}, letters refused below {self.floor // MIB} MiB"


class StorageGuard:
    """Whether a message of a given size may be taken now.

    `paths`: the spool and the directories written after the 250; each file system is
    looked at once (one statvfs a MAIL FROM, microseconds). A path that does not exist
    yet is judged by its nearest existing parent, where it will be created."""

    def __init__(self, paths: Iterable[Path], floor: int,
                 measure: Callable[[Path], int] = free_bytes):
        self.floor = floor
        self._measure = measure
        seen: dict[int, Path] = {}
        for path in paths:
            existing = _existing(Path(path))
            seen.setdefault(os.stat(existing).st_dev, existing)
        self.paths = list(seen.values())

    def free(self) -> int:
        """The least free space over the file systems watched, in bytes."""
        return min(self._measure(path) for path in self.paths)

    def reading(self) -> DiskReading:
        try:
            return DiskReading(self.free(), self.floor)
        except OSError:
            return DiskReading(None, self.floor)

    def refuses(self, size: int = 0) -> bool:
        """True when taking `size` more bytes (MAIL FROM's SIZE=, 0 if not given) would
        leave less than the floor. A file system that cannot be measured refuses: the
        write after it would most likely fail too."""
        if self.floor <= 0 and size <= 0:
            return False
        try:
            return self.free() - size < self.floor
        except OSError:
            return True


class BelowFloor(OSError):
    """A message being received would take the disk below the floor: it is not taken
    (452 4.3.1 at the end of DATA, as at MAIL FROM), its draft shredded."""

    def __init__(self, floor: int) -> None:
        super().__init__(errno.ENOSPC, f"less than {floor // MIB} MiB free ([smtp] min_free_mb)")


def storage_guard(settings: "Settings") -> StorageGuard:
    """The guard of SMTP's MAIL FROM and of IMAP intake: every directory a letter is
    written to before it is filed (the SQLite database lives in the data directory)."""
    return StorageGuard((settings.spool_dir, settings.vault_dir, settings.data_dir, settings.folders_dir),
                        settings.min_free_bytes)


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def size_parameter(mail_options: list[str]) -> int:
    """MAIL FROM's SIZE=n (RFC 1870), already checked to be digits by aiosmtpd; 0 if absent."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0
