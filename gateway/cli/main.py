"""The `saraban-gateway` command: the daemon and the tools around it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.config.settings import ConfigError, Settings, load_settings
from gateway.cli.tools import add_quarantine_commands, add_register_tools, add_reprocess_command, add_units_commands


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.service.daemon import run

    return run(_settings(args))


def cmd_check_config(args: argparse.Namespace) -> int:
    from gateway.units.directory import load_directory

    settings = _settings(args)
    directory = load_directory(settings.directory_path, settings.gateway.domain)
    data = settings.effective()
    data["effective"]["units"] = len(directory.units)
    from gateway.signatures.settings import trust_from_settings  # bundles readable?

    data["effective"]["trust_roots"] = len(trust_from_settings(settings).roots)
    print(json.dumps(data, ensure_ascii=False, indent=2))
    print(f"configuration OK: {settings.source} ({len(directory.units)} units)", file=sys.stderr)
    return 0


def cmd_register_list(args: argparse.Namespace) -> int:
    from gateway.cli.table import render
    from rules.thai_time import to_bangkok
    from storage.db import Database
    from storage.register import letter_as_dict, query_letters

    settings = _settings(args)
    db = Database(settings.database_url)
    db.create_schema()
    unit = args.unit.split("@", 1)[0].lower() if args.unit else None
    with db.session() as session:
        letters = query_letters(session, unit=unit, year=args.year)
        entries = [letter_as_dict(letter) for letter in letters]
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return 0
    rows = []
    for e in entries:
        rows.append([
            e["unit"], e["book"], e["receive_no"], e["received_at"].replace("T", " ")[:16],
            e["sender"], e.get("reference") or "", e.get("subject") or ("(ลับ)" if e["secrecy"] != "none" else ""),
            str(len(e["attachments"])),
        ])
    print(render(["unit", "book", "เลขรับ", "received (+07:00)", "sender", "ที่", "subject", "files"],
                 rows, limits={4: 32, 6: 60}))
    print(f"\n{len(entries)} letter(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gateway.service.status import collect_status, render_status

    settings = _settings(args)
    status = collect_status(settings)
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.pipeline.dry_run import rules_check

    settings = _settings(args) if args.config or Path("config/gateway.example.toml").exists() else None
    return rules_check(Path(args.file), settings, args.json, args.unit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saraban-gateway", description=__doc__)
    parser.add_argument("--config", "-c", help="configuration file (default: $SARABAN_CONFIG or config/gateway.example.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="start the daemon in the foreground").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate and print the effective configuration").set_defaults(func=cmd_check_config)

    register = sub.add_parser("register", help="the receive register (ทะเบียนหนังสือรับ)")
    register_sub = register.add_subparsers(dest="register_command", required=True)
    listing = register_sub.add_parser("list", help="list register entries")
    listing.add_argument("--unit", help="unit address, e.g. saraban.latkrabang")
    listing.add_argument("--year", type=int, help="Buddhist-era year, e.g. 2569")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_register_list)
    add_register_tools(register_sub)

    status = sub.add_parser("status", help="spool depth and counts by state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    rules = sub.add_parser("rules", help="the letter rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="run every rule on a .eml file, offline")
    check.add_argument("file")
    check.add_argument("--unit", help="apply this unit's policy")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_rules_check)

    from gateway.cli.db import add_parser as add_db_parser
    add_db_parser(sub)
    from gateway.cli.classified import register_classified_commands

    register_classified_commands(sub)  # keys ..., audit verify, letter view|export
    from gateway.cli.notices import register_notices_parser
    register_notices_parser(sub)
    add_quarantine_commands(sub)
    add_reprocess_command(sub)
    add_units_commands(sub)
    from gateway.cli.outbox import add_outbox_commands

    add_outbox_commands(sub)
    from gateway.cli.verify import add_verify_parser

    add_verify_parser(sub)  # saraban-gateway verify FILE.pdf [--json]
    return parser


def main(argv: list[str] | None = None) -> int:
    from gateway.units.directory import DirectoryError

    args = build_parser().parse_args(argv)
    if args.command != "run":
        from gateway.service.log import setup_logging

        setup_logging("warning", "console", process="cli", stream=sys.stderr)
    try:
        return args.func(args)
    except (ConfigError, DirectoryError) as exc:
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
