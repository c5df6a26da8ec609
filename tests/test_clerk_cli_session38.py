"""A new clerk and a new sysadmin at the command line (session 38): the mistakes a
newcomer makes, against a real daemon and its real SQLite register.

1. A quarantine entry's or an outbox item's number too long for the database (pasted
   twice, a queue id's digits) was OverflowError's traceback; a word was argparse's
   "invalid int value" in English only.
"""
from __future__ import annotations

import json

from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "Error:" not in result.stderr, result.stderr  # no Python exception's name


def held_entry(daemon) -> int:
    daemon.send(letter(files=[]), LAT)  # no document: held by the default policy
    daemon.wait_idle()
    [held] = json.loads(daemon.cli("quarantine", "list", "--json").stdout)
    return held["id"]


def test_an_id_too_long_or_not_a_number_is_refused_in_words(daemon):
    held_entry(daemon)
    huge = "9" * 25
    for args in (["quarantine", "show", huge], ["quarantine", "release", huge],
                 ["quarantine", "reject", huge, "--reason", "ส่งผิด"], ["quarantine", "show", "abc"],
                 ["quarantine", "show", "0"]):
        out = daemon.cli(*args, check=False)
        assert out.returncode == 2, (args, out.returncode, out.stderr)
        no_traceback(out)
        assert "is not a quarantine entry's number" in out.stderr, out.stderr
        assert "saraban-gateway quarantine list --all" in out.stderr and "ไม่ใช่เลขรายการ" in out.stderr
    out = daemon.cli("outbox", "retry", huge, check=False)
    assert out.returncode == 2 and "is not an outbox item's number" in out.stderr, out.stderr
    no_traceback(out)
    assert "ไม่ใช่เลขรายการ" in out.stderr and "saraban-gateway outbox list" in out.stderr
    # Thai digits are a number like any other
    shown = daemon.cli("quarantine", "show", "๑", "--json")
    assert json.loads(shown.stdout)["state"] == "held"
