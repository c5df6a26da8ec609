"""`saraban-gateway rules check FILE.eml`: the pipeline on one message, writing nothing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import settings_of


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.pipeline.dry_run import rules_check

    settings = settings_of(args) if args.config or Path("config/gateway.example.toml").exists() else None
    unit = args.unit.split("@", 1)[0].lower() if args.unit else None
    if unit and settings is not None:
        from gateway.units.directory import load_directory

        directory = load_directory(settings.directory_path, settings.gateway.domain)
        if directory.lookup(unit) is None:
            # Checking against a unit that does not exist would apply the default policy
            # and answer for a unit no letter can reach: refuse instead.
            print(f"saraban-gateway: unknown unit \"{args.unit}\": not in the unit directory "
                  f"{settings.directory_path} (e.g. saraban.latkrabang)", file=sys.stderr)
            return 2
    return rules_check(Path(args.file), settings, args.json, unit, args.dns)


def register(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="the letter rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="what the daemon would do with a .eml file, offline")
    check.add_argument("file")
    check.add_argument("--unit", help="apply this unit's policy")
    check.add_argument("--json", action="store_true")
    check.add_argument("--dns", action="store_true",
                       help="check DKIM, ARC and DMARC of the sender (queries DNS, [dns] nameservers)")
    check.set_defaults(func=cmd_rules_check)
