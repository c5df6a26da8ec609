"""Import the unit directory from a spreadsheet: CSV in, `config/units.toml` out.

Offices keep their unit lists in Excel; "Save as CSV UTF-8" adds a byte-order mark,
which is accepted. The TOML written here is what `load_directory` reads.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from gateway.units.directory import DirectoryError, default_folder

COLUMNS = ("address", "name_th", "name_en", "parent", "folder")


def import_units_csv(csv_path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV with columns address,name_th,name_en,parent,folder (UTF-8, BOM or not).

    Blank rows are skipped; an empty folder is derived from the address. Validation of the
    values themselves is `load_directory`'s job, after `write_units_toml`.
    """
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DirectoryError([f"{csv_path}: CSV file not found"]) from None
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{csv_path}: not UTF-8 text (byte {exc.start}); "
                              "save the sheet as 'CSV UTF-8'"]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DirectoryError([f"{csv_path}: missing column(s) {', '.join(missing)}; the first "
                              f"line must name the columns {','.join(COLUMNS)}"])
    reader.fieldnames = header
    units = []
    for row in reader:
        values = {key: (row.get(key) or "").strip() for key in COLUMNS}
        if not any(values.values()):
            continue
        if not values["folder"]:
            values["folder"] = default_folder(values["address"])
        # The line the row ends on, as a spreadsheet user counts (header = line 1),
        # so that an error can name it; `csv_rows_checked` takes it off again.
        values["line"] = reader.line_num
        units.append(values)
    return units


def csv_rows_checked(units: list[dict[str, Any]], csv_path: Path, domain: str) -> list[dict[str, Any]]:
    """The rows, validated as the daemon validates units.toml, every problem named by
    the CSV file and line ("units.csv line 4: duplicate address, already on line 2")."""
    import re

    from gateway.units.directory import build_directory

    lines = [unit.get("line") for unit in units]
    rows = [{k: v for k, v in unit.items() if k != "line"} for unit in units]
    source = str(csv_path)
    try:
        build_directory({"unit": rows}, domain=domain, source=source)
    except DirectoryError as exc:
        def line_of(m: re.Match) -> str:
            return f"line {lines[int(m[1]) - 1]}"

        problems = []
        for problem in exc.problems:
            problem = re.sub(rf"^{re.escape(source)}: unit #(\d+)", lambda m: f"{source} {line_of(m)}", problem)
            problem = re.sub(r"already used by unit #(\d+)", lambda m: f"already used on {line_of(m)}", problem)
            problems.append(problem)
        raise DirectoryError(problems) from None
    return rows


def write_units_toml(units: list[dict[str, Any]], path: Path) -> None:
    """Write units as `[[unit]]` tables, atomically (the daemon may read the file any time)."""
    path = Path(path)
    lines = ["# Unit directory (imported from CSV). Local parts only; the domain is configured",
             "# separately. Checked by saraban-gateway at start-up.", ""]
    for unit in units:
        lines.append("[[unit]]")
        for key in COLUMNS:
            lines.append(f"{key} = {_toml_string(str(unit.get(key, '') or ''))}")
        settings = unit.get("settings") or {}
        if settings:
            lines.append("[unit.settings]")
            for key, value in settings.items():
                lines.append(f"{_toml_string(str(key))} = {_toml_value(value)}")
        lines.append("")
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(lines))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise DirectoryError([f"settings value {value!r} cannot be written: only strings, "
                          "numbers and true/false"])


def _toml_string(text: str) -> str:
    """A TOML basic string; Thai stays as UTF-8, control characters are escaped."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
