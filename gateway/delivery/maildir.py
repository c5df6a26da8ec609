"""Deliver a folder copy into the unit's Maildir.

The file name is derived from (queue id, unit), not from time and pid as Maildir
usually does: delivering the same letter twice must find the first copy, whether it
is still in new/ or the clerk's client has moved it to cur/ with flags."""
from __future__ import annotations

import glob
import os
from pathlib import Path

from storage.fsync import sync_dir, write_durably


def maildir_for(root: Path, folder: str) -> Path:
    path = root / folder
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def message_name(queue_id: str, unit: str) -> str:
    return f"{queue_id}.{unit.replace('/', '_')}.saraban"


def delivered_in(maildir: Path, name: str) -> Path | None:
    """The subdirectory (new/ or cur/) holding the copy, or None: the unit's own, then
    those of its Maildir++ sub-folders (`.ดำเนินการแล้ว/cur/`), where a clerk may have
    filed the copy on while the gateway was down after writing it and before recording
    it. Until session 39 only the unit's own were looked in, and the attempt done again
    filed the letter a second time, new (as IMAP did until session 20)."""
    for folder in (maildir, *_subfolders(maildir)):
        if (folder / "new" / name).exists():
            return folder / "new"
        try:
            if any(entry.startswith(name + ":") or entry == name for entry in os.listdir(folder / "cur")):
                return folder / "cur"
        except FileNotFoundError:
            if folder == maildir:
                raise
    return None


def _subfolders(maildir: Path) -> list[Path]:
    """The Maildir++ sub-folders of a Maildir (`.Name/` holding cur/)."""
    try:
        with os.scandir(maildir) as entries:
            return [Path(e.path) for e in entries
                    if e.name.startswith(".") and e.name not in (".", "..") and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _drop_half_written(maildir: Path, name: str) -> None:
    """An earlier attempt's temporary file of this copy (`.NAME.PID.RAND.tmp`, storage/fsync.py
    `write_durably`), left in tmp/ when the delivery runner was killed while writing it:
    the attempt done now writes the copy whole, and nothing else would ever remove it (the
    kill campaign found one, session 38). One item is one thread: no other attempt of
    this copy is writing now."""
    for left in (maildir / "tmp").glob(f".{glob.escape(name)}.*.tmp"):
        left.unlink(missing_ok=True)


def deliver(root: Path, folder: str, queue_id: str, unit: str, data: bytes, in_doubt: bool = True) -> Path:
    """File `data` into the unit's Maildir once. `in_doubt` False: no earlier attempt can
    have filed it (route.py `FirstAttempts`), so cur/ is not listed for it: with a year
    of letters read there (50,000 files) the listing was ~28 ms a copy, several times
    all the rest of filing one; new/ is still looked at (one stat)."""
    maildir = maildir_for(root, folder)
    name = message_name(queue_id, unit)
    target = maildir / "new" / name
    if in_doubt:
        found = delivered_in(maildir, name)
        _drop_half_written(maildir, name)
    else:
        found = maildir / "new" if target.exists() else None
    if found is None:
        write_durably(target, data, tmp_dir=maildir / "tmp", mode=0o640)
    else:
        # Found by an attempt done again: the one that wrote it may have failed to
        # sync its directory (a share's EIO), and done now it must be durable.
        sync_dir(found)
    return target
