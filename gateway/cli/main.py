"""The `saraban-gateway` command: the daemon and the tools around it.

Each command group is one module of gateway/cli/ with a `register(sub)` function;
GROUPS is the whole list, in the order `--help` shows them."""
from __future__ import annotations

import argparse
import importlib
import sys

from gateway.config.settings import ConfigError

GROUPS = ("service", "register", "rules", "db", "classified", "notices", "quarantine", "units",
          "outbox", "verify", "web", "backup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saraban-gateway", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", "-c", help="configuration file (default: $SARABAN_CONFIG or config/gateway.example.toml)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print the log events of the command on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        importlib.import_module(f"gateway.cli.{group}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gateway.units.directory import DirectoryError
    from storage.migrate import SchemaBehind

    from gateway.service.process_util import no_core_dumps

    no_core_dumps()  # before any letter is read: the daemon, its children and every tool
    args = build_parser().parse_args(argv)
    if args.command != "run":
        from gateway.service.log import setup_logging

        setup_logging("info" if args.verbose else "warning", "console", process="cli", stream=sys.stderr)
    try:
        return args.func(args)
    except (ConfigError, DirectoryError, SchemaBehind) as exc:
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
