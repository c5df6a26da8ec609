"""`saraban-gateway units import FILE.csv [-o units.toml]`: the unit directory from a
spreadsheet. The CSV is read, written as TOML beside the target, checked exactly as the
daemon will check it at start-up, and only then put in place: a bad sheet never
replaces a good directory."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway.units.directory import DirectoryError, load_directory
from gateway.units.in_force import refusals
from gateway.units.from_csv import csv_rows_checked, import_units_csv, write_units_toml
from gateway.tools.common import ToolError, friendly, settings_of


def import_units(csv_path: Path, target: Path, domain: str, check_only: bool = False,
                 data_dir: Path | None = None) -> dict:
    """`data_dir`: where the units the daemon has had are kept (gateway/units/in_force.py)."""
    units = import_units_csv(csv_path)
    if not units:
        raise ToolError(f"{csv_path}: no units in the file (only a header?)")
    units = csv_rows_checked(units, csv_path, domain)  # errors name the CSV line, all at once
    before: dict[str, dict] = {}
    in_force = None
    if target.exists():
        try:
            in_force = load_directory(target, domain)
            before = {u.address: {"name_th": u.name_th, "name_en": u.name_en, "parent": u.parent,
                                  "folder": u.folder} for u in in_force.units}
        except DirectoryError:
            before = {}  # the old file is broken: everything counts as added
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate = target.with_name(f".{target.name}.import.toml")
    try:
        write_units_toml(units, candidate)
        directory = load_directory(candidate, domain)  # the daemon's own validation
        taken = refusals(data_dir, directory, in_force) if data_dir is not None else []
        if taken:  # as a reload would refuse it
            raise ToolError(f"{csv_path}: " + "; ".join(taken) + f" ({target} is left as it was)")
        if not check_only:
            os.replace(candidate, target)
    finally:
        candidate.unlink(missing_ok=True)
    after = {u.address: {"name_th": u.name_th, "name_en": u.name_en, "parent": u.parent, "folder": u.folder}
             for u in directory.units}
    return {
        "units": len(directory.units),
        "top_level": sum(1 for u in directory.units if not u.parent),
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(a for a in set(after) & set(before) if after[a] != before[a]),
        "target": str(target),
        "written": not check_only,
    }


@friendly
def cmd_import(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    target = Path(args.output) if args.output else settings.directory_path
    result = import_units(Path(args.file), target, settings.gateway.domain, args.check,
                          data_dir=settings.data_dir)
    verb = "checked (not written)" if args.check else "wrote"
    print(f"{verb} {target}: {result['units']} units, {result['top_level']} at the top level")
    for label in ("added", "removed", "changed"):
        names = result[label]
        if names:
            shown = ", ".join(names[:10]) + (f", … ({len(names) - 10} more)" if len(names) > 10 else "")
            print(f"  {label} {len(names)}: {shown}")
    if result["written"]:
        print("the running daemon uses it after a reload (systemctl reload saraban-gateway) or a restart")
    return 0


@friendly
def cmd_list(args: argparse.Namespace) -> int:
    """The directory as the daemon reads it at start-up (the configured [directory] path)."""
    import json

    from gateway.cli.table import render

    settings = settings_of(args)
    try:
        directory = load_directory(settings.directory_path, settings.gateway.domain)
    except DirectoryError as exc:
        raise ToolError(str(exc)) from None
    units = [{"address": u.address, "name_th": u.name_th, "name_en": u.name_en, "parent": u.parent or None,
              "folder": u.folder} for u in directory.units]
    if args.json:
        print(json.dumps(units, ensure_ascii=False, indent=2))
        return 0
    print(render(["address", "ชื่อ (name)", "parent", "folder"],
                 [[u["address"], u["name_th"], u["parent"] or "", u["folder"]] for u in units],
                 limits={1: 48, 3: 40}))
    print(f"\n{len(units)} unit{'' if len(units) == 1 else 's'} in {directory.source}")
    return 0

