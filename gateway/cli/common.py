"""What every command group shares: its settings, and commands imported only when run
(so `run` and `--help` start fast: the parser, rules and PDF libraries load on use)."""
from __future__ import annotations

import argparse
import importlib
from typing import Callable

from gateway.config.settings import Settings, load_settings

# Help said alike by several commands (`--help` listed them bare until session 37).
JSON_HELP = "print JSON (for scripts) instead of the table"
ENTRY_HELP = "the quarantine entry's number (from `quarantine list`)"
ACCOUNT_HELP = "the desk account's name"


# The largest number a row's id can be (SQLite's INTEGER, PostgreSQL's bigint): a longer
# one typed or pasted was OverflowError's traceback until session 38.
_LARGEST_ID = 2 ** 63 - 1


def record_number(what: str, listed_by: str) -> Callable[[str], int]:
    """argparse's type for the number of a row a list shows (a quarantine entry, an
    outbox item): a positive whole number, Thai digits too, else a refusal in English
    and Thai that says where the numbers are listed."""
    def number(text: str) -> int:
        digits = text.strip()
        try:
            value = int(digits) if digits.isdigit() else None  # int() reads Thai digits too
        except ValueError:
            value = None
        if value is None or not 0 < value <= _LARGEST_ID:
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise argparse.ArgumentTypeError(
                f"\"{shown}\" is not {what}: give the number shown by `{listed_by}` (e.g. 1); "
                f"ไม่ใช่เลขรายการ กรุณาใช้เลขที่แสดงใน `{listed_by}`")
        return value
    return number


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return command
