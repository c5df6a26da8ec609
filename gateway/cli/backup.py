"""`saraban-gateway backup create | restore`: the register, vault, sealed letters, keys
and audit trail in one archive (docs/install.md, 'Backup and restore')."""
from __future__ import annotations

import argparse

from gateway.cli.common import lazy


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backup", help="back up or restore the database, vault, sealed letters and keys")
    bsub = parser.add_subparsers(dest="backup_command", required=True)
    create = bsub.add_parser("create", help="write one .tar.gz while the daemon runs (SQLite copied consistently)")
    create.add_argument("file", help="archive to write, e.g. /backup/saraban-2569-11-29.tar.gz")
    create.add_argument("--folders", action="store_true", help="also the units' Maildir folders")
    create.add_argument("--files-only", action="store_true",
                        help="leave the database out (PostgreSQL: back it up with pg_dump)")
    create.set_defaults(func=lazy("gateway.tools.backup", "cmd_create"))
    restore = bsub.add_parser("restore", help="put a backup into an empty data directory (daemon stopped)")
    restore.add_argument("file", help="an archive made by `backup create`")
    restore.set_defaults(func=lazy("gateway.tools.backup", "cmd_restore"))
    confirm = bsub.add_parser(
        "confirm-numbers",
        help="after a restore, number letters although a folder cannot be read back (the numbers given "
             "since the backup accounted for with [register.start_numbers])")
    confirm.add_argument("--reason", help="why the numbers are accounted for (required; kept in the register's "
                         "actions with your user name)")
    confirm.set_defaults(func=lazy("gateway.tools.backup", "cmd_confirm_numbers"))
