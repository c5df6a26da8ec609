"""`saraban-gateway rules check FILE.eml`: the pipeline on one message, writing nothing."""
from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import settings_of


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.pipeline.dry_run import rules_check

    settings = settings_of(args) if args.config or Path("config/gateway.example.toml").exists() else None
    return rules_check(Path(args.file), settings, args.json, args.unit, args.dns)


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
