"""The directory of units last in force, kept in the data directory (since session 37).

A reload, `units import` and a start compare a new directory with the units known and
refuse a unit's changed address (directory.py `folders_taken_over`). Each start and
each reload that succeeds adds the units' addresses and folders here, and a unit
removed stays: removed by one reload and its folder given to a new address by the
next, the change was two steps that each looked harmless."""
from __future__ import annotations

import json
from pathlib import Path

from gateway.units.directory import Directory, folders_taken_over, unit_folders
from storage.fsync import write_durably

FILE = "units-in-force.json"


def remembered(data_dir: Path) -> dict[str, str] | None:
    try:
        kept = json.loads((Path(data_dir) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # never written (a first start, an older version), or damaged: nothing to compare
    if not isinstance(kept, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in kept.items()):
        return None
    return kept


def known(data_dir: Path, in_force: Directory | None = None) -> dict[str, str]:
    """Every unit known here, address -> folder: those in force now over those kept."""
    return {**(remembered(data_dir) or {}), **(unit_folders(in_force) if in_force is not None else {})}


def refusals(data_dir: Path, directory: Directory, in_force: Directory | None = None) -> list[str]:
    return folders_taken_over(known(data_dir, in_force), directory)


def remember(data_dir: Path, directory: Directory) -> None:
    path = Path(data_dir) / FILE
    kept = known(data_dir, directory)
    write_durably(path, json.dumps(kept, ensure_ascii=False, sort_keys=True).encode(),
                  tmp_dir=path.parent, mode=0o640)
