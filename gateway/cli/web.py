"""`saraban-gateway users add|list|disable|passwd` (local accounts of the web desk) and
`saraban-gateway web` (the desk alone, without the mail daemon)."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import warnings

from gateway.cli.common import ACCOUNT_HELP, JSON_HELP
from gateway.tools.common import ToolError, friendly, settings_of


def register(sub: argparse._SubParsersAction) -> None:
    from storage.users import ROLES

    users = sub.add_parser("users", help="accounts of the web desk")
    usub = users.add_subparsers(dest="users_command", required=True)
    add = usub.add_parser("add", help="add an account (password asked, or --password-stdin)")
    add.add_argument("username", help="the desk account's name (for --ldap: the directory's user name)")
    add.add_argument("--role", required=True, choices=ROLES,
                     help="clerk (เจ้าหน้าที่สารบรรณ), registrar (นายทะเบียนลับ), auditor, admin")
    add.add_argument("--unit", action="append", default=[],
                     help="unit kept by a clerk or registrar, e.g. saraban.latkrabang (repeat for more)")
    add.add_argument("--name", default="", help="display name, e.g. นางสาวสมศรี ใจดี")
    add.add_argument("--ldap", action="store_true", help="signs in with the directory's password ([web.ldap])")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_add)
    listing = usub.add_parser("list", help="the accounts")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=cmd_list)
    disable = usub.add_parser("disable", help="stop an account from signing in (and end its sessions)")
    disable.add_argument("username", help=ACCOUNT_HELP)
    disable.set_defaults(func=cmd_disable)
    passwd = usub.add_parser("passwd", help="set a new password (unlocks the account, ends its sessions)")
    passwd.add_argument("username", help=ACCOUNT_HELP)
    passwd.add_argument("--password-stdin", action="store_true", help="read the new password from standard input")
    passwd.set_defaults(func=cmd_passwd)
    change = usub.add_parser("set", help="change an account's role, units or name (ends its sessions)")
    change.add_argument("username", help=ACCOUNT_HELP)
    change.add_argument("--role", choices=ROLES, help="the account's new role")
    change.add_argument("--unit", action="append", default=None,
                        help="the units it keeps from now on, in place of the old ones (repeat for more)")
    change.add_argument("--name", default=None, help="display name")
    change.set_defaults(func=cmd_set)
    enable = usub.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("username", help=ACCOUNT_HELP)
    enable.set_defaults(func=cmd_enable)

    web = sub.add_parser("web", help="serve the web desk alone (the daemon serves it with [web] enabled)")
    web.add_argument("--host", help="default: [web] host")
    web.add_argument("--port", type=_port, help="default: [web] port")
    web.set_defaults(func=cmd_web)


def _database(args, writes: bool = True):
    """The database, brought to the newest migration by a command that writes; one that
    only reads checks it and names `db upgrade` instead (it never changes the schema)."""
    from storage.schema_version import SchemaBehind, require_current

    settings = settings_of(args)
    db = settings.open_database()
    try:
        db.create_schema() if writes else require_current(db.engine)
    except SchemaBehind as exc:
        db.dispose()
        raise ToolError(str(exc)) from None
    return settings, db


def _password(args) -> str:
    from gateway.web.auth import password_problem

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        try:
            with warnings.catch_warnings():
                # "Can not control echo on the terminal": Python's own words, and a warning class
                warnings.simplefilter("ignore", getpass.GetPassWarning)
                password = getpass.getpass("password: ")
                again = getpass.getpass("again: ")
        except EOFError:
            # Ctrl-D, or no terminal (cron, `</dev/null`): EOFError's traceback until session 36;
            # said by gateway/cli/main.py, exit 2 (a usage error, as argparse's)
            raise EOFError("no password given (type it at the prompt, or use --password-stdin)") from None
        if again != password:
            raise ToolError("the two passwords differ")
    problem = password_problem(password)
    if problem:
        raise ToolError(problem)
    return password


@friendly
def cmd_add(args: argparse.Namespace) -> int:
    from gateway.web.auth import hash_password
    from storage.users import add_user, find_user

    username = args.username.strip().lower()
    if not username or len(username) > 200 or any(c.isspace() for c in username):
        raise ToolError(f"\"{args.username}\" is not a user name (no spaces, at most 200 characters)")
    units = _units(args.role, args.unit)
    settings, db = _database(args)
    try:
        _in_directory(settings, units)
        password_hash = None if args.ldap else hash_password(_password(args))
        with db.session() as session:
            if find_user(session, username) is not None:
                raise ToolError(f"there is already an account \"{username}\"")
            add_user(session, username, args.role, units, password_hash, args.name,
                     source="ldap" if args.ldap else "local")
    finally:
        db.dispose()
    print(f"added {username} ({args.role}{': ' + ', '.join(units) if units else ''})")
    return 0


def _units(role: str, given: list[str]) -> list[str]:
    units = [u.strip().split("@", 1)[0].lower() for u in given]
    if role in ("clerk", "registrar") and not units:
        raise ToolError(f"a {role} keeps at least one unit: add --unit saraban.<unit>")
    return units


def _in_directory(settings, units: list[str]) -> None:
    from gateway.units.directory import load_directory

    directory = load_directory(settings.directory_path, settings.gateway.domain)
    unknown = [u for u in units if directory.lookup(u) is None]
    if unknown:
        raise ToolError(f"not in the unit directory: {', '.join(unknown)}")


@friendly
def cmd_list(args: argparse.Namespace) -> int:
    from gateway.cli.table import render
    from storage.users import all_users, user_as_dict

    _, db = _database(args, writes=False)
    try:
        with db.session() as session:
            users = [user_as_dict(u) for u in all_users(session)]
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(users, ensure_ascii=False, indent=2))
        return 0
    rows = [[u["username"], u["display_name"], u["role"], ", ".join(u["units"]), u["source"],
             "disabled" if u["disabled"] else ("locked" if u["locked_until"] else "active"),
             (u["last_login_at"] or "")[:16].replace("T", " ")] for u in users]
    print(render(["user", "name", "role", "units", "source", "state", "last sign-in (UTC)"], rows))
    return 0


def _account(session, username: str):  # noqa: ANN001, ANN202 - a storage session, a DeskUser
    from storage.users import find_user

    user = find_user(session, username.strip().lower())
    if user is None:
        raise ToolError(f"no account \"{username}\" (see `saraban-gateway users list`)")
    return user


def _change(args: argparse.Namespace, change) -> None:
    """`change(settings, user)`, then the account's sessions end: a person whose rights
    changed signs in again and gets the new ones, with nothing kept from before."""
    from storage.users import end_sessions_of

    settings, db = _database(args)
    try:
        with db.session() as session:
            user = _account(session, args.username)
            change(settings, user)
            end_sessions_of(session, user)
    finally:
        db.dispose()


def _existing_local(args: argparse.Namespace) -> None:
    """`users passwd` of an account that does not exist, or signs in through LDAP,
    refused before a password is asked (session 36: it asked twice, then refused)."""
    _, db = _database(args)
    try:
        with db.read_session() as session:
            user = _account(session, args.username)
            if user.source != "local":
                raise ToolError(f"{user.username} signs in with the directory's password (LDAP)")
    finally:
        db.dispose()


def _set_disabled(args: argparse.Namespace, disabled: bool) -> None:
    def flag(settings, user) -> None:
        user.disabled = disabled

    _change(args, flag)


@friendly
def cmd_disable(args: argparse.Namespace) -> int:
    _set_disabled(args, True)
    print(f"disabled {args.username}; their sessions are ended")
    return 0


@friendly
def cmd_enable(args: argparse.Namespace) -> int:
    _set_disabled(args, False)
    print(f"enabled {args.username}")
    return 0


@friendly
def cmd_passwd(args: argparse.Namespace) -> int:
    from gateway.web.auth import hash_password

    _existing_local(args)  # before the password is asked, not after it was typed twice
    password_hash = hash_password(_password(args))

    def set_password(settings, user) -> None:
        if user.source != "local":
            raise ToolError(f"{user.username} signs in with the directory's password (LDAP)")
        user.password_hash = password_hash
        user.failed_logins = 0
        user.locked_until = None

    _change(args, set_password)
    print(f"new password set for {args.username}; the account is unlocked and its sessions ended")
    return 0


@friendly
def cmd_set(args: argparse.Namespace) -> int:
    """A person moved to another unit, or no longer the secret registrar: until session 19
    there was no command for it (`users add` refuses a taken name, and a disabled account
    could not come back), so the old unit's letters stayed theirs."""
    if args.role is None and args.unit is None and args.name is None:
        raise ToolError("nothing to change: give --role, --unit or --name")
    said: list[str] = []

    def set_fields(settings, user) -> None:
        role = args.role or user.role
        units = _units(role, args.unit if args.unit is not None else list(user.units or []))
        _in_directory(settings, units)
        if role != user.role:
            said.append(f"role {user.role} -> {role}")
        if units != list(user.units or []):
            said.append(f"units {', '.join(user.units or []) or '-'} -> {', '.join(units) or '-'}")
        if args.name is not None and args.name != (user.display_name or ""):
            said.append("name changed")
        user.role, user.units = role, units
        if args.name is not None:
            user.display_name = args.name

    _change(args, set_fields)
    print(f"{args.username}: {'; '.join(said) or 'unchanged'}; their sessions are ended")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0-65535)")
    return port


def cmd_web(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.service.log import setup_logging

    settings = settings_of(args)
    setup_logging(settings.logging.level, settings.logging.format, process="web")
    return asyncio.run(serve_alone(settings, args.host or settings.web.host,
                                   args.port if args.port is not None else settings.web.port))


async def serve_alone(settings, host: str, port: int) -> int:
    import os

    from gateway.secrecy.shred import remove_folder, shred_folders_of_dead_processes, temporary_files_in
    from gateway.spool import open_spool
    from gateway.web.server import WebServer

    # Its uploads go where the daemon's do (the data directory's volume), in a folder of
    # its own: the daemon, or a second desk, may be uploading beside it.
    from gateway.secrecy.errors import SecrecyError

    own = None
    try:
        uploads = open_spool(settings).root / "uploads-desk"
        shred_folders_of_dead_processes(uploads)
        own = uploads / str(os.getpid())
        temporary_files_in(own)
    except (OSError, SecrecyError) as exc:  # never TMPDIR's disk in its place
        print(f"saraban-gateway: the desk cannot keep uploads in {own or 'the spool'}: "
              f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 1
    try:
        return await _serve(WebServer(settings, own_signals=True), host, port)
    finally:
        remove_folder(own)


async def _serve(server, host: str, port: int) -> int:
    try:
        await server.start(host, port)
    except (OSError, OverflowError) as exc:
        # The port taken (the daemon already serves the desk with [web] enabled) or a
        # host this machine does not have: a traceback before (OSError: [Errno 98]).
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"saraban-gateway: the desk cannot listen on {host}:{port}: {why}", file=sys.stderr)
        return 1
    await server.wait()
    return 0
