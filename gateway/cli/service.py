"""`saraban-gateway run | check-config | status`: the daemon and how it stands."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.cli.common import JSON_HELP, settings_of


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.service.daemon import run

    return run(settings_of(args))


def cmd_check_config(args: argparse.Namespace) -> int:
    from gateway.units.directory import load_directory

    settings = settings_of(args)
    directory = load_directory(settings.directory_path, settings.gateway.domain)
    data = settings.effective()
    data["effective"]["units"] = len(directory.units)
    from gateway.signatures.settings import trust_from_settings  # bundles readable?

    data["effective"]["trust_roots"] = len(trust_from_settings(settings).roots)
    from gateway.delivery.route import check_imap_routes
    from gateway.secrecy.keys import refuse_seal_mismatch

    refuse_seal_mismatch(settings)
    problems = check_imap_routes(settings)  # each IMAP folder exists or is created now
    if problems:
        for line in problems:
            print(f"saraban-gateway: {line}", file=sys.stderr)
        return 2
    from gateway.service.readiness import notice_warnings, ocr_warnings, registrar_gaps, registrar_warning
    from storage.register import units_with_classified_letters

    warnings = notice_warnings(settings) + ocr_warnings()
    if settings.smtp.tls_certificate is not None and settings.smtp.tls_key is not None:
        from gateway.intake.tls import TlsError, configured_certificate_warnings, server_context

        try:
            server_context(settings.config_relative(settings.smtp.tls_certificate),
                           settings.config_relative(settings.smtp.tls_key))
        except TlsError as exc:
            print(f"saraban-gateway: [smtp] tls_certificate, tls_key: {exc}", file=sys.stderr)
            return 2
        warnings += configured_certificate_warnings(settings)
    url = settings.database_url
    try:
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise FileNotFoundError(url)  # a first install: nothing registered, create nothing
        db = settings.open_database()
        with db.read_session() as session:  # waits for no lock another program holds
            classified_units = units_with_classified_letters(session)
        db.dispose()
    except Exception:  # noqa: BLE001 - no database yet (first install): nothing registered
        classified_units = []
    warnings += registrar_warning(registrar_gaps(settings, classified_units))
    data["warnings"] = warnings
    print(json.dumps(data, ensure_ascii=False, indent=2))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"configuration OK: {settings.source} ({len(directory.units)} units"
          f"{', ' + str(len(warnings)) + ' warning(s)' if warnings else ''})", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gateway.service.status import collect_status, render_status

    from gateway.tools.common import ToolError

    settings = settings_of(args)
    try:
        status = collect_status(settings)
    except ToolError as exc:  # the daemon registers in a PostgreSQL database the file no longer names
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("run", help="start the daemon in the foreground").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate and print the effective configuration").set_defaults(func=cmd_check_config)
    status = sub.add_parser("status", help="spool depth and counts by state")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    status.set_defaults(func=cmd_status)
