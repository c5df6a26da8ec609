"""`saraban-gateway db ...`: the schema version, by hand (the daemon upgrades by itself)."""
from __future__ import annotations

import argparse


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.cli.common import settings_of
    from storage import migrate

    db = settings_of(args).open_database()
    try:
        migrate.upgrade(db.engine)
        print(f"schema at {migrate.current(db.engine)} (head {migrate.head()})")
    finally:
        db.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from gateway.cli.common import settings_of
    from storage import migrate

    db = settings_of(args).open_database()
    try:
        now, newest = migrate.current(db.engine), migrate.head()
    finally:
        db.dispose()
    print(f"schema at {now or 'nothing (empty database)'}; newest migration {newest}")
    return 0 if now == newest else 1


def cmd_db_revision(args: argparse.Namespace) -> int:
    from storage import migrate

    path = migrate.new_revision(args.message)
    print(f"wrote {path}: read it, adjust it, commit it with the change to storage/models.py")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema migrations (docs/database.md)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="bring the schema to the newest migration").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("current", help="show the schema revision; exit 1 if not the newest").set_defaults(
        func=cmd_db_current)
    revision = db_sub.add_parser("revision", help="developers: write a migration for a change to storage/models.py")
    revision.add_argument("-m", "--message", required=True, help="what changes, e.g. 'add notices table'")
    revision.set_defaults(func=cmd_db_revision)
