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


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return command
