"""The `saraban-gateway` command: the daemon and the tools around it.

Each command group is one module of gateway/cli/ with a `register(sub)` function;
GROUPS is the whole list, in the order `--help` shows them."""
from __future__ import annotations

import argparse
import importlib
import sys

GROUPS = ("service", "register", "rules", "db", "classified", "notices", "quarantine", "units",
          "outbox", "verify", "web", "backup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saraban-gateway", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", "-c", help="configuration file (default: $SARABAN_CONFIG, else "
                        "config/gateway.example.toml in a checkout, /etc/saraban-gateway/gateway.toml "
                        "in an installation)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print the log events of the command on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        importlib.import_module(f"gateway.cli.{group}").register(sub)
    _also_after_the_command(parser)
    return parser


def _also_after_the_command(parser: argparse.ArgumentParser) -> None:
    """README: "every command takes --config FILE and -v"; a sysadmin who wrote them
    after the command (`saraban-gateway status --config /etc/...`) heard "unrecognized
    arguments". Each command takes them too; not given there, the value given before
    the command (or the default) stays (SUPPRESS: argparse then sets nothing)."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in set(action.choices.values()):
                child.add_argument("--config", "-c", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                child.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                                   help=argparse.SUPPRESS)
                _also_after_the_command(child)


# What a letter's sender wrote reaches the clerk's terminal in tables and views (a
# Subject, a display name, a file's name): an ESC there is a terminal command (clear the
# screen, set the window title, rewrite the line above), a right-to-left override shows
# a different name than the one stored. The commands' own text has no control character
# but the line break and the tab, so every other one is shown as "?". JSON output is
# unchanged but for the overrides: json.dumps already escapes C0 controls.
_SHOWN_AS_QUESTION_MARK = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A)] + list(range(0x7F, 0xA0))
    + list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A)), "?")


class _TerminalSafe:
    """sys.stdout or sys.stderr with sender-written control characters made visible
    (`.buffer`, for the commands that write bytes, is the stream's own)."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a text stream
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text.translate(_SHOWN_AS_QUESTION_MARK))

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is the stream's
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    from gateway.config.settings import ConfigError
    from gateway.tools.common import (ANY_DATABASE, ToolError, database_refusal, os_refusal,
                                      same_database_as_the_daemon, unopenable_database)
    from gateway.units.directory import DirectoryError
    from storage.db import DatabaseError
    from storage.schema_version import SchemaBehind

    from gateway.service.process_util import no_core_dumps

    no_core_dumps()  # before any letter is read: the daemon, its children and every tool
    stdout, stderr = sys.stdout, sys.stderr
    # A refusal on stderr quotes what was typed or read (a file name, a unit, a queue
    # id): the same control characters as stdout, the same cure. argparse's own
    # complaints included, hence before parsing.
    if not isinstance(stderr, _TerminalSafe):
        sys.stderr = _TerminalSafe(stderr)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        sys.stderr = stderr
        raise
    if args.command == "run":
        sys.stderr = stderr  # the daemon's stderr is its log stream, written as it is
    else:
        if not isinstance(stdout, _TerminalSafe):
            sys.stdout = _TerminalSafe(stdout)
        from gateway.service.log import setup_logging

        setup_logging("info" if args.verbose else "warning", "console", process="cli", stream=sys.stderr)
    try:
        if args.command not in ANY_DATABASE:
            from gateway.config.settings import load_settings

            try:
                same_database_as_the_daemon(load_settings(args.config))
            except ToolError as exc:
                print(f"saraban-gateway: {exc}", file=sys.stderr)
                return 1
        return args.func(args)
    except (ConfigError, DirectoryError, SchemaBehind) as exc:
        print(f"saraban-gateway: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        if args.command == "run":
            raise
        # The database away (PostgreSQL restarting): `status`, `register list` and
        # `outbox list` printed SQLAlchemy's traceback to the sysadmin.
        print(unopenable_database(args, exc) or database_refusal(exc), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # A file of the gateway's this user may not touch (a command run as the login
        # user, not the gateway's: `status`, `check-config` and `run` printed
        # PermissionError's traceback until session 37), a read-only or full disk.
        print(os_refusal(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C at a prompt or in a long command: KeyboardInterrupt's traceback until
        # session 36. 130 is the shell's own for SIGINT.
        if args.command == "run":
            raise  # the daemon's own shutdown
        print("\nsaraban-gateway: interrupted", file=sys.stderr)
        return 130
    except EOFError as exc:
        # Ctrl-D, or no terminal, at a question a command asks
        said = str(exc) or ("no answer given (standard input ended); "
                            "give it with the command's option (such as --password-stdin)")
        print(f"\nsaraban-gateway: {said}", file=sys.stderr)
        return 2
    finally:
        sys.stdout, sys.stderr = stdout, stderr
