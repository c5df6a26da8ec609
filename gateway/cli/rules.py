"""`saraban-gateway rules check FILE.eml`: the pipeline on one message, writing nothing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import JSON_HELP, settings_of


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.pipeline.dry_run import rules_check

    # The configuration as every command finds it (--config, SARABAN_CONFIG, the default
    # file). Before, it was read only when config/gateway.example.toml was under the
    # working directory: run elsewhere, SARABAN_CONFIG was ignored and with it the unit
    # directory, so a misspelt --unit was judged "removed from the directory" (reject).
    settings = settings_of(args)
    unit = args.unit.split("@", 1)[0].lower() if args.unit else None
    if unit:
        from gateway.tools.common import ToolError, directory_unit
        from gateway.units.directory import load_directory

        try:
            # Checking against a unit that does not exist would apply the default policy
            # and answer for a unit no letter can reach: refuse instead.
            unit = directory_unit(load_directory(settings.directory_path, settings.gateway.domain), args.unit)
        except ToolError as exc:
            print(f"saraban-gateway: {exc}\n  {exc.th}", file=sys.stderr)
            return 2
    return rules_check(Path(args.file), settings, args.json, unit, args.dns)


def register(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="the letter rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="what the daemon would do with a .eml file, offline")
    check.add_argument("file", help="a message file (.eml) to run the rules over, without registering it")
    check.add_argument("--unit", help="apply this unit's policy")
    check.add_argument("--json", action="store_true", help=JSON_HELP)
    check.add_argument("--dns", action="store_true",
                       help="check DKIM, ARC and DMARC of the sender (queries DNS, [dns] nameservers)")
    check.set_defaults(func=cmd_rules_check)
