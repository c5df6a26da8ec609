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
    from gateway.signatures.settings import check_stamp_files

    check_stamp_files(settings)  # the font, the operator's seal files: the start refuses them too
    problems = [*_unwritable_places(settings), *_unbindable_ports(settings),
                *check_imap_routes(settings)]  # each IMAP folder exists or is created now
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


def _unbindable_ports(settings) -> list[str]:  # noqa: ANN001 - Settings
    """The ports the daemon listens on ([smtp], and [http] and [web] when enabled) that
    it could not bind now: another program's (Postfix's own smtpd on 25), a port below
    1024 for a user without the right, a host that is no address of this machine. The
    start stops there (`smtp_bind_failed`), so check-config must not say OK; until
    session 57 it did. Bound as the daemon binds them (SO_REUSEADDR, every address the
    host names) and let go at once; not asked while this data directory's daemon runs,
    since it holds them itself."""
    import errno
    import socket

    from gateway.service.instance_lock import running_pid
    from gateway.tools.common import _who

    if running_pid(settings.data_dir) is not None:
        return []
    wanted = [("[smtp]", settings.smtp.host, settings.smtp.port)]
    if settings.http.enabled:
        wanted.append(("[http]", settings.http.host, settings.http.port))
    if settings.web.enabled:
        wanted.append(("[web]", settings.web.host, settings.web.port))
    problems = []
    for key, host, port in wanted:
        if not port:
            continue  # the kernel chooses one: always free
        try:
            addresses = {info[4][:2]: info[0] for info in socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
        except socket.gaierror as exc:
            problems.append(f"{settings.source}: {key} host {host!r} cannot be listened on: {exc.strerror}")
            continue
        for address, family in addresses.items():
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds it
                try:
                    sock.bind(address)
                    sock.listen(1)
                except OSError as exc:
                    where = f"{key} port {port} on {address[0]}"
                    if exc.errno == errno.EADDRINUSE:
                        why = (f"another program listens there (`ss -ltnp 'sport = :{port}'` says which; "
                               "Postfix's own smtpd on 25?)")
                    elif exc.errno == errno.EACCES:
                        why = (f"a port below 1024 needs the right to bind it, which {_who()} lacks "
                               "(the unit file gives it: AmbientCapabilities=CAP_NET_BIND_SERVICE)")
                    elif exc.errno == errno.EADDRNOTAVAIL:
                        why = "that is not an address of this machine"
                    else:
                        why = exc.strerror or str(exc)
                    problems.append(f"{settings.source}: {where} cannot be listened on: {why}")
                    break
    return problems


def _unwritable_places(settings) -> list[str]:  # noqa: ANN001 - Settings
    """The folders and files the daemon writes that this user could neither use nor
    make: the start stops there ("permission denied", "File exists", a register it
    cannot write), so check-config must not say OK. Until session 56 it said
    "configuration OK" of a data_dir that was a file, or that the gateway's user may not
    write (docs/install.md step 5 runs it as that user)."""
    import os

    from gateway.tools.common import _who
    from storage.backup import sqlite_path

    places = [("[storage] data_dir" + (" (SARABAN_DATA_DIR)" if os.environ.get("SARABAN_DATA_DIR") else ""),
               settings.data_dir)]
    database = sqlite_path(settings.database_url)
    if database is not None:
        places.append(("[storage] database_url (its folder)", database.parent))
    if settings.delivery.backend == "maildir":
        places.append(("[delivery] folders_dir", settings.folders_dir))
    if settings.http.enabled:
        places.append(("[http] metrics_dir", settings.metrics_dir))
    problems = []
    refused: list[Path] = []
    for key, path in places:
        path = Path(os.path.abspath(path))
        if any(path == bad or bad in path.parents for bad in refused):
            continue  # the data directory's own trouble, said once
        existing = next(p for p in (path, *path.parents) if os.path.lexists(p))
        if existing != path and not existing.is_dir():
            problems.append(f"{settings.source}: {key} {path} cannot be made: {existing} is not a folder")
        elif existing == path and not path.is_dir():
            problems.append(f"{settings.source}: {key} {path} is not a folder")
        elif os.access(existing, os.W_OK | os.X_OK):
            continue
        else:
            owner = _owner_name(existing)
            what = "cannot be written" if existing == path else f"cannot be made in {existing}"
            problems.append(f"{settings.source}: {key} {path} {what} by {_who()}"
                            f"{f' (it belongs to {owner})' if owner else ''}: run the gateway and its commands "
                            "as the user that owns it, or give that user the folder")
        refused.append(path)
    # Made by a command once run as root in the gateway's data directory (`db upgrade`):
    # the folder is the gateway user's, what is in it is not.
    inside = [settings.data_dir / name for name in ("spool", "spool/new", "spool/tmp", "vault", "secret", "keys",
                                                    "audit")]
    for path in [*inside, *([database, Path(f"{database}-wal")] if database is not None else [])]:
        path = Path(os.path.abspath(path))
        if any(path == bad or bad in path.parents for bad in refused) or not path.exists():
            continue
        if not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
            owner = _owner_name(path)
            problems.append(f"{settings.source}: {path} (in [storage] data_dir) cannot be written by {_who()}"
                            f"{f' (it belongs to {owner})' if owner else ''}: run the gateway and its commands "
                            "as the user that owns it, or give that user the file")
            refused.append(path)
    return problems


def _owner_name(path: Path) -> str | None:
    import pwd

    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def cmd_status(args: argparse.Namespace) -> int:
    from gateway.service.status import collect_status, render_status

    from gateway.tools.common import ToolError

    from gateway.service.status import status_without_database
    from gateway.tools.common import database_refusal, unopenable_database
    from storage.db import DatabaseError

    settings = settings_of(args)
    try:
        status = collect_status(settings)
    except ToolError as exc:  # the daemon registers in a PostgreSQL database the file no longer names
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        if (refusal := unopenable_database(args, exc)) is not None:
            print(refusal, file=sys.stderr)  # this user's files: nothing else is readable either
            return 1
        # PostgreSQL down or restarting, a damaged SQLite file: what waits in the spool,
        # whether the daemon runs and the disk are what the sysadmin needs then. Until
        # session 56 `status` said the refusal alone.
        refusal = database_refusal(exc)
        print(refusal, file=sys.stderr)  # as before: a script reading stderr is told the same
        status = status_without_database(settings, refusal.removeprefix("saraban-gateway: "))
        print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
        return 1
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("run", help="start the daemon in the foreground").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate and print the effective configuration").set_defaults(func=cmd_check_config)
    status = sub.add_parser("status", help="spool depth and counts by state")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    status.set_defaults(func=cmd_status)
