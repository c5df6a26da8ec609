"""Every argument of every command says what it is in `--help` (session 37: about 30
were listed bare, `--json`, `id`, `username`, `file`, for a sysadmin or a clerk to
guess; gateway/cli/main.py `_HELP`)."""
from __future__ import annotations

import argparse
import subprocess
import sys

from gateway.cli.main import build_parser
from tests.paths import REPO


def _bare(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[str]:
    found = []
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, child in action.choices.items():
                found += _bare(child, (*words, name))
        elif action.help is None and not isinstance(action, argparse._HelpAction):  # noqa: SLF001
            found.append(" ".join((*words, *(action.option_strings or [action.dest]))))
    return found


def test_no_argument_is_listed_without_a_word_of_help():
    assert _bare(build_parser()) == []


def test_the_help_a_person_reads_names_the_quarantine_entry():
    shown = subprocess.run([sys.executable, "-m", "gateway", "quarantine", "release", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    assert "the quarantine entry's number" in shown.stdout, shown.stdout
