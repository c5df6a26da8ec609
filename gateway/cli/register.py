"""`saraban-gateway register list | show | cancel | export | import-emergency`: the
receive register (ทะเบียนหนังสือรับ)."""
from __future__ import annotations

import argparse
import json
import sys

from gateway.cli.common import JSON_HELP, lazy, settings_of


def register_entries(settings, unit: str | None, year: int | None) -> tuple[list[dict], list[str]]:  # noqa: ANN001
    """What `register list` shows: each entry as `--json` prints it, and when each was
    received, in Thai. Raises gateway.tools.common.ToolError for a unit or year that
    names nothing. (The tests' waits read it here, without a command's start.)"""
    from gateway.sender.results import sender_label
    from rules.thai_time import thai_datetime
    from storage.schema_version import require_current
    from storage.register import letter_as_dict, query_letters, unit_has_letters

    from gateway.tools.common import listed_unit, register_year
    from gateway.units.directory import load_directory

    db = settings.open_database()
    try:
        require_current(db.engine)
        with db.read_session() as session:  # no write lock: a sysadmin's open sqlite3 shell does not hold it up
            if year is not None:
                register_year(year)  # `--year 2026` listed "0 letter(s)", as if the register were empty
            # An unknown unit, or its Thai name, listed "0 letter(s)" too.
            unit = listed_unit(load_directory(settings.directory_path, settings.gateway.domain), unit,
                               lambda name: unit_has_letters(session, name))
            letters = query_letters(session, unit=unit, year=year)
            entries = [letter_as_dict(letter) for letter in letters]
            received = [thai_datetime(letter.received_at) for letter in letters]
    finally:
        db.dispose()
    for e in entries:
        e["sender_verified"] = sender_label(e.get("sender_auth"))  # ยืนยันผู้ส่ง
    return entries, received


def cmd_register_list(args: argparse.Namespace) -> int:
    from gateway.cli.table import clip_address, render
    from gateway.tools.common import ToolError
    from gateway.tools.register_rows import remarks_of_entry

    try:
        entries, received = register_entries(settings_of(args), args.unit, args.year)
    except ToolError as exc:
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        if exc.th:
            print(f"  {exc.th}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return 0
    rows = []
    for e, when in zip(entries, received):
        rows.append([
            e["unit"], e["book"], e["receive_no"], when,
            clip_address(e["sender"], 32), e.get("reference") or "", e.get("subject") or ("(ลับ)" if e["secrecy"] != "none" else ""),
            str(len(e["attachments"])), e["sender_verified"].split(": ", 1)[1], remarks_of_entry(e),
        ])
    print(render(["unit", "book", "เลขรับ", "รับเมื่อ (received)", "จาก (sender)", "ที่", "เรื่อง (subject)",
                  "files", "ยืนยันผู้ส่ง", "หมายเหตุ (remarks)"],
                 rows, limits={6: 60}))
    cancelled = sum(1 for e in entries if e["status"] == "cancelled")
    print(f"\n{len(entries)} letter(s)" + (f", {cancelled} cancelled (ยกเลิก)" if cancelled else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    register = sub.add_parser("register", help="the receive register (ทะเบียนหนังสือรับ)")
    register_sub = register.add_subparsers(dest="register_command", required=True)
    listing = register_sub.add_parser("list", help="list register entries")
    listing.add_argument("--unit", help="unit address, e.g. saraban.latkrabang")
    listing.add_argument("--year", type=int, help="Buddhist-era year, e.g. 2569")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=cmd_register_list)
    _add_show_commands(register_sub)
    _add_export_command(register_sub)
    _add_import_command(register_sub)


def _add_show_commands(register_sub: argparse._SubParsersAction) -> None:
    show_p = register_sub.add_parser("show", help="one entry with its files, findings, outbox state and actions")
    show_p.add_argument("unit", help="unit address, e.g. saraban.latkrabang")
    show_p.add_argument("receive_no", metavar="NUMBER/YEAR", help="e.g. 15/2569")
    show_p.add_argument("--book", help="register book (default: the general book)")
    show_p.add_argument("--json", action="store_true", help=JSON_HELP)
    show_p.set_defaults(func=lazy("gateway.tools.register_show", "cmd_show"))
    cancel_p = register_sub.add_parser("cancel", help="cancel an entry; it keeps its number")
    cancel_p.add_argument("unit", help="unit address, e.g. saraban.latkrabang")
    cancel_p.add_argument("receive_no", metavar="NUMBER/YEAR", help="the entry's receive number, e.g. 15/2569")
    cancel_p.add_argument("--reason", required=True, help="why (kept in the register with your user name)")
    cancel_p.add_argument("--book", help="register book (default: the general book)")
    cancel_p.set_defaults(func=lazy("gateway.tools.register_show", "cmd_cancel"))


def _add_export_command(register_sub: argparse._SubParsersAction) -> None:
    parser = register_sub.add_parser("export", help="the register of one unit and year as CSV or the printed book (PDF)")
    parser.add_argument("--unit", required=True, help="unit address, e.g. saraban.latkrabang")
    parser.add_argument("--year", type=int, help="Buddhist-era year (default: this year)")
    parser.add_argument("--format", choices=("csv", "pdf"), help="default: from the file name")
    parser.add_argument("--book", help="register book (default: the general book)")
    parser.add_argument("--thai-digits", action="store_true", help="write dates and numbers in Thai digits")
    parser.add_argument("-o", "--output", required=True, help="file to write")
    parser.set_defaults(func=lazy("gateway.tools.register_export", "cmd_export"))


def _add_import_command(register_sub: argparse._SubParsersAction) -> None:
    parser = register_sub.add_parser("import-emergency",
                                      help="letters numbered in the paper emergency register (ฉ), with their scans")
    parser.add_argument("file", help="CSV: emergency_no, received_at, sender, subject, scan, ... (see docs)")
    parser.add_argument("--unit", required=True, help="the unit whose paper register it is")
    parser.add_argument("--reason", help="kept with your user name (e.g. the outage)")
    parser.set_defaults(func=lazy("gateway.tools.emergency_import", "cmd_import"))
