"""`saraban-gateway units import | list`: the unit directory from a spreadsheet, and as it is."""
from __future__ import annotations

import argparse

from gateway.cli.common import JSON_HELP, lazy


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("units", help="the unit directory")
    usub = parser.add_subparsers(dest="units_command", required=True)
    imp = usub.add_parser("import", help="import the unit directory from CSV (address,name_th,name_en,parent,folder)")
    imp.add_argument("file", help="CSV: address,name_th,name_en,parent,folder")
    imp.add_argument("-o", "--output", help="units TOML to write (default: the configured [directory] path)")
    imp.add_argument("--check", action="store_true", help="validate and summarise only")
    imp.set_defaults(func=lazy("gateway.tools.units_import", "cmd_import"))
    listing = usub.add_parser("list", help="the units of the directory the daemon uses: address, names, parent, folder")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=lazy("gateway.tools.units_import", "cmd_list"))
