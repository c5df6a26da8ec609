"""The tools' subcommands. Only argparse here: each command's module (and the parser,
rules and PDF libraries behind it) is imported when that command runs, so `run` and
`--help` start fast."""
from __future__ import annotations

import argparse
import importlib
from typing import Callable


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return command


def add_register_tools(register_sub: argparse._SubParsersAction) -> None:
    """show, cancel, export, import-emergency under `register`."""
    add_show_commands(register_sub)
    add_export_command(register_sub)
    add_import_command(register_sub)


def add_quarantine_commands(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("quarantine", help="letters held back, with their reasons (กักกัน)")
    qsub = parser.add_subparsers(dest="quarantine_command", required=True)
    listing = qsub.add_parser("list", help="list held letters (or --all)")
    listing.add_argument("--state", default="held", choices=("held", "released", "rejected"))
    listing.add_argument("--all", action="store_true", help="every state")
    listing.add_argument("--unit", help="unit address, e.g. saraban.latkrabang")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_list"))
    show = qsub.add_parser("show", help="one entry: reasons (Thai and English), files, actions")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_show"))
    rel = qsub.add_parser("release", help="register the letter anyway (operator override)")
    rel.add_argument("id", type=int)
    rel.add_argument("--reason", help="why (kept with your user name)")
    rel.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_release"))
    rej = qsub.add_parser("reject", help="close the entry without registering")
    rej.add_argument("id", type=int)
    rej.add_argument("--reason", help="why (kept with your user name)")
    rej.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_reject"))


def add_reprocess_command(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reprocess", help="run a parked or quarantined message through the pipeline again")
    parser.add_argument("queue_id")
    parser.add_argument("--reason", help="why (kept with your user name)")
    parser.set_defaults(func=lazy("gateway.tools.reprocess", "cmd_reprocess"))


def add_show_commands(register_sub: argparse._SubParsersAction) -> None:
    show_p = register_sub.add_parser("show", help="one entry with its files, findings, outbox state and actions")
    show_p.add_argument("unit", help="unit address, e.g. saraban.latkrabang")
    show_p.add_argument("receive_no", metavar="NUMBER/YEAR", help="e.g. 15/2569")
    show_p.add_argument("--book", help="register book (default: the general book)")
    show_p.add_argument("--json", action="store_true")
    show_p.set_defaults(func=lazy("gateway.tools.register_show", "cmd_show"))
    cancel_p = register_sub.add_parser("cancel", help="cancel an entry; it keeps its number")
    cancel_p.add_argument("unit")
    cancel_p.add_argument("receive_no", metavar="NUMBER/YEAR")
    cancel_p.add_argument("--reason", required=True, help="why (kept in the register with your user name)")
    cancel_p.add_argument("--book", help="register book (default: the general book)")
    cancel_p.set_defaults(func=lazy("gateway.tools.register_show", "cmd_cancel"))


def add_export_command(register_sub: argparse._SubParsersAction) -> None:
    parser = register_sub.add_parser("export", help="the register of one unit and year as CSV or the printed book (PDF)")
    parser.add_argument("--unit", required=True, help="unit address, e.g. saraban.latkrabang")
    parser.add_argument("--year", type=int, help="Buddhist-era year (default: this year)")
    parser.add_argument("--format", choices=("csv", "pdf"), help="default: from the file name")
    parser.add_argument("--book", help="register book (default: the general book)")
    parser.add_argument("--thai-digits", action="store_true", help="write dates and numbers in Thai digits")
    parser.add_argument("-o", "--output", required=True, help="file to write")
    parser.set_defaults(func=lazy("gateway.tools.register_export", "cmd_export"))


def add_import_command(register_sub: argparse._SubParsersAction) -> None:
    parser = register_sub.add_parser("import-emergency",
                                      help="letters numbered in the paper emergency register (ฉ), with their scans")
    parser.add_argument("file", help="CSV: emergency_no, received_at, sender, subject, scan, ... (see docs)")
    parser.add_argument("--unit", required=True, help="the unit whose paper register it is")
    parser.add_argument("--reason", help="kept with your user name (e.g. the outage)")
    parser.set_defaults(func=lazy("gateway.tools.emergency_import", "cmd_import"))


def add_units_commands(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("units", help="the unit directory")
    usub = parser.add_subparsers(dest="units_command", required=True)
    imp = usub.add_parser("import", help="import the unit directory from CSV (address,name_th,name_en,parent,folder)")
    imp.add_argument("file")
    imp.add_argument("-o", "--output", help="units TOML to write (default: the configured [directory] path)")
    imp.add_argument("--check", action="store_true", help="validate and summarise only")
    imp.set_defaults(func=lazy("gateway.tools.units_import", "cmd_import"))
