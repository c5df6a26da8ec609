"""The units known here, kept in the data directory (since session 37).

A reload, `units import` and a start compare a new directory with the units known and
refuse a folder given to another address (directory.py `folders_taken_over`). Each
start and each reload that succeeds adds the units' addresses and folders here, and
what a unit leaves stays: a unit removed by one reload and its folder given to a new
address by the next, or a unit moved to another folder and its old one given to a new
unit (session 38), were changes in two steps that each looked harmless.

The file holds {"units": {address: folder}, "folders": {folder: the address whose
letters it holds}}; session 37 wrote the first map alone. A file that cannot be read is
not taken for an empty one (session 38): every refusal would then be missed, and the
file rewritten without them."""
from __future__ import annotations

import json
from pathlib import Path

from gateway.units.directory import Directory, folders_taken_over, unit_folders
from storage.fsync import write_durably

FILE = "units-in-force.json"


class KeptUnreadable(Exception):
    """units-in-force.json is there but cannot be read or is not what this module wrote."""


def _pairs(value: object) -> dict[str, str] | None:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return value
    return None


def remembered(data_dir: Path) -> tuple[dict[str, str], dict[str, str]] | None:
    """({address: folder}, {folder: address}) kept, or None when there is no file (a
    first start, an older version). KeptUnreadable when it is there but damaged."""
    path = Path(data_dir) / FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise KeptUnreadable(_unreadable(path, str(exc))) from None
    flat = _pairs(kept)
    if flat is not None:  # session 37's form
        return flat, {folder: address for address, folder in flat.items()}
    units = _pairs(kept.get("units")) if isinstance(kept, dict) else None
    folders = _pairs(kept.get("folders")) if isinstance(kept, dict) else None
    if units is None or folders is None:
        raise KeptUnreadable(_unreadable(path, "not the units and folders this gateway wrote"))
    return units, folders


def _unreadable(path: Path, why: str) -> str:
    return (f"{path} cannot be read ({why[:200]}): it lists the units and folders this gateway has had, "
            "against which a folder given to another address is refused; restore it from a backup, or "
            "remove it to compare with the new directory alone")


def known(data_dir: Path, in_force: Directory | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Every unit known here, address -> folder (those in force now over those kept),
    and every folder used, folder -> the address whose letters it holds."""
    units, folders = remembered(data_dir) or ({}, {})
    now = unit_folders(in_force) if in_force is not None else {}
    return {**units, **now}, {**folders, **{folder: address for address, folder in now.items()
                                            if folder not in folders}}


def refusals(data_dir: Path, directory: Directory, in_force: Directory | None = None) -> list[str]:
    try:
        units, folders = known(data_dir, in_force)
    except KeptUnreadable as exc:
        return [str(exc)]
    return folders_taken_over(units, directory, folders)


def remember(data_dir: Path, directory: Directory) -> None:
    path = Path(data_dir) / FILE
    units, folders = known(data_dir, directory)
    write_durably(path, json.dumps({"units": units, "folders": folders}, ensure_ascii=False,
                                   sort_keys=True).encode(), tmp_dir=path.parent, mode=0o640)
