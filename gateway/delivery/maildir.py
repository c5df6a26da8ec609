"""Deliver a folder copy into the unit's Maildir.

The file name is derived from (queue id, unit), not from time and pid as Maildir
usually does: delivering the same letter twice must find the first copy, whether it
is still in new/ or the clerk's client has moved it to cur/ with flags."""
from __future__ import annotations

import os
from pathlib import Path

from storage.fsync import write_durably


def maildir_for(root: Path, folder: str) -> Path:
    path = root / folder
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def message_name(queue_id: str, unit: str) -> str:
    return f"{queue_id}.{unit.replace('/', '_')}.saraban"


def already_delivered(maildir: Path, name: str) -> bool:
    if (maildir / "new" / name).exists():
        return True
    return any(entry.startswith(name + ":") or entry == name for entry in os.listdir(maildir / "cur"))


def deliver(root: Path, folder: str, queue_id: str, unit: str, data: bytes) -> Path:
    maildir = maildir_for(root, folder)
    name = message_name(queue_id, unit)
    target = maildir / "new" / name
    if not already_delivered(maildir, name):
        write_durably(target, data, tmp_dir=maildir / "tmp", mode=0o640)
    return target
