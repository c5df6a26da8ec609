"""`saraban-gateway outbox list | retry`: the deliveries owed, and a second chance for dead ones."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from gateway.cli.common import JSON_HELP, record_number
from gateway.delivery.error_texts import error_for_person
from storage.schema_version import require_current
from storage.models import OutboxItem
from storage.outbox import items_in_state


STATES = ["pending", "done", "dead", "held", "suppressed", "withdrawn"]
# The outbox's kinds (gateway/delivery/runner.py HANDLERS, not imported: the parser is
# built for every command). A misspelt kind (`--kind folders`) listed "0 item(s)", as
# if nothing were owed.
KINDS = ["folder", "registrar", "alert", "notice"]


def _when(moment: dt.datetime | None) -> str | None:
    """Bangkok time with its offset: SQLite hands times back without one."""
    from rules.thai_time import to_bangkok

    return to_bangkok(moment).isoformat(timespec="seconds") if moment else None


def _row(item: OutboxItem) -> dict:
    # An error an item overcame is history, not its state: a finished item shows none.
    error = None if item.state == "done" else error_for_person(item.last_error) or None
    return {
        "id": item.id, "kind": item.kind, "key": item.key, "state": item.state, "unit": item.unit,
        "queue_id": item.queue_id, "letter_id": item.letter_id,
        "attempts": item.attempts, "last_error": error,
        "next_attempt_at": _when(item.next_attempt_at) if item.state == "pending" else None,
        "created_at": _when(item.created_at),
        "done_at": _when(item.done_at),
    }


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from gateway.cli.common import settings_of
    from gateway.cli.table import render

    db = settings_of(args).open_database()
    require_current(db.engine)  # read-only: never migrates
    with db.session() as session:
        rows = [_row(item) for item in items_in_state(session, args.state, args.kind)]
    db.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(render(["id", "kind", "state", "unit", "queue id", "tries", "last error"],
                 [[str(r["id"]), r["kind"], _state_text(r["state"], r["last_error"]), r["unit"] or "", r["queue_id"],
                   str(r["attempts"]), r["last_error"] or ""] for r in rows], limits={6: 130}))
    print(f"\n{len(rows)} item(s)")
    return 0


def _state_text(state: str, last_error: str | None = None) -> str:
    if state == "held":  # the one state a person must act on to end
        if last_error and "SMTPUTF8" in last_error:  # a UTF-8 address, gateway/notices/send.py
            return "held (smarthost without SMTPUTF8: `notices release` once it has it)"
        return "held (no smarthost: `notices release`)"
    return state


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    """Make dead (or waiting) items due now. The dead-letter clock starts again from now."""
    from gateway.cli.common import settings_of

    if not args.ids and not args.dead:
        print("saraban-gateway: outbox retry needs item ids or --dead", file=sys.stderr)
        return 2
    from gateway.tools.actions import record_outbox_act
    from storage.outbox import items_by_id, retry_items

    from storage.schema_version import schema_revision

    db = settings_of(args).open_database()
    try:
        if schema_revision(db.engine) is None:
            # A database never set up (the wrong --config, a relative data_dir): it was
            # made, empty, and "0 item(s) queued" said (session 38).
            require_current(db.engine)
        db.create_schema()
    except BaseException:
        db.dispose()
        raise
    with db.session() as session:
        # A held, suppressed or withdrawn item is refused with its reason (NOT_FAILED).
        retried, refused = retry_items(session, args.ids, args.dead)
        # As the desk's retry is: until session 54 the command's left no trace.
        record_outbox_act(session, "outbox_retried", items_by_id(session, retried))
    db.dispose()
    for line in refused:
        print(f"saraban-gateway: {line}", file=sys.stderr)
    print(f"{len(retried)} item(s) queued for another attempt" + (f": {', '.join(map(str, retried))}" if retried else ""))
    return 1 if refused and not retried else 0


def register(sub: argparse._SubParsersAction) -> None:
    outbox = sub.add_parser("outbox", help="deliveries owed: folders (Maildir/IMAP/SMTP), notices")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = outbox_sub.add_parser("list", help="list outbox items")
    listing.add_argument("--state", choices=STATES, help="only items in this state")
    listing.add_argument("--kind", choices=KINDS, help="only items of this kind")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=cmd_outbox_list)
    retry = outbox_sub.add_parser("retry", help="attempt dead or waiting items again now")
    retry.add_argument("ids", nargs="*", type=record_number("an outbox item's number", "saraban-gateway outbox list"), metavar="ID",
                       help="outbox item numbers (from `outbox list`) to try again now")
    retry.add_argument("--dead", action="store_true", help="every dead item")
    retry.set_defaults(func=cmd_outbox_retry)
