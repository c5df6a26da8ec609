"""Write-then-rename with fsync of file and directory: the only way a file is made
durable here, so a crash leaves either the old state or the whole new file."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(target: Path, chunks, tmp_dir: Path | None = None, mode: int = 0o640) -> None:
    """Write `chunks` (bytes or an iterable of bytes) to `target` atomically and durably.

    On any error the temporary file is removed and the exception propagates: the
    caller answers 451 and nothing half-written is left behind."""
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
    fsync_dir(target.parent)
    if tmp_dir != target.parent:
        fsync_dir(tmp_dir)
