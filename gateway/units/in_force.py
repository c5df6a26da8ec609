"""The directory of units last in force, kept in the data directory (since session 37).

A reload and `units import` compare a new directory with the one in force and refuse a
unit's changed address (directory.py `folders_taken_over`). A restart has nothing to
compare with but this: each start and each reload that succeeds writes the units'
addresses and folders here, and the next start refuses a directory that gives a gone
unit's folder to a new address, as a reload would."""
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


def refusals(data_dir: Path, directory: Directory) -> list[str]:
    before = remembered(data_dir)
    return folders_taken_over(before, directory) if before is not None else []


def remember(data_dir: Path, directory: Directory) -> None:
    path = Path(data_dir) / FILE
    write_durably(path, json.dumps(unit_folders(directory), ensure_ascii=False, sort_keys=True).encode(),
                  tmp_dir=path.parent, mode=0o640)
