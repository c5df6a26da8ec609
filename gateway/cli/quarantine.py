"""`saraban-gateway quarantine list | show | release | reject` and `reprocess`: letters
held back (กักกัน) and messages sent through the pipeline again."""
from __future__ import annotations

import argparse

from gateway.cli.common import ENTRY_HELP, JSON_HELP, lazy, record_number

ENTRY_NUMBER = record_number("a quarantine entry's number", "saraban-gateway quarantine list --all")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("quarantine", help="letters held back, with their reasons (กักกัน)")
    qsub = parser.add_subparsers(dest="quarantine_command", required=True)
    listing = qsub.add_parser("list", help="list held letters (or --all)")
    listing.add_argument("--state", default="held", choices=("held", "released", "rejected"),
                         help="held (default), released or rejected")
    listing.add_argument("--all", action="store_true", help="every state")
    listing.add_argument("--unit", help="unit address, e.g. saraban.latkrabang")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_list"))
    show = qsub.add_parser("show", help="one entry: reasons (Thai and English), files, actions")
    show.add_argument("id", type=ENTRY_NUMBER, help=ENTRY_HELP)
    show.add_argument("--json", action="store_true", help=JSON_HELP)
    show.set_defaults(func=lazy("gateway.tools.quarantine", "cmd_show"))
    for name, text, func in (
        ("release", "register the letter anyway (operator override; the sender is acknowledged)", "cmd_release"),
        ("reject", "close the entry without registering", "cmd_reject"),
    ):
        decide = qsub.add_parser(name, help=text)
        decide.add_argument("id", type=ENTRY_NUMBER, help=ENTRY_HELP)
        decide.add_argument("--reason", help="why (kept with your user name; at most 500 characters"
                            + ("; required)" if name == "reject" else ")"))
        decide.set_defaults(func=lazy("gateway.tools.quarantine", func))

    parser = sub.add_parser("reprocess", help="run a parked or quarantined message through the pipeline again")
    parser.add_argument("queue_id", help="the letter's queue id (from `status`, the log or `register list --json`)")
    parser.add_argument("--reason", help="why (kept with your user name)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--unit", help="decide again only this unit's held entry (e.g. saraban.latkrabang)")
    which.add_argument("--all-units", action="store_true",
                       help="decide again the held entries of every unit of the letter")
    parser.set_defaults(func=lazy("gateway.tools.reprocess", "cmd_reprocess"))
