"""A new clerk and a new sysadmin at the command line (session 38): the mistakes a
newcomer makes, against a real daemon and its real SQLite register.

1. A quarantine entry's or an outbox item's number too long for the database (pasted
   twice, a queue id's digits) was OverflowError's traceback; a word was argparse's
   "invalid int value" in English only.
2. `outbox retry` of a held notice (no smarthost) made it pending: it failed at once,
   again and again, towards dead, and the command said "1 item(s) queued".
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


def test_retrying_a_held_notice_is_refused_and_it_stays_held(daemon):
    held_entry(daemon)  # its rejection notice is held: no smarthost in the test config
    items = json.loads(daemon.cli("outbox", "list", "--json").stdout)
    [notice] = [i for i in items if i["kind"] == "notice"]
    assert notice["state"] == "held"
    out = daemon.cli("outbox", "retry", str(notice["id"]), check=False)
    assert out.returncode == 1, (out.stdout, out.stderr)
    no_traceback(out)
    assert f"{notice['id']}: held, not failed: no smarthost is configured" in out.stderr
    assert "saraban-gateway notices release" in out.stderr and "smarthost" in out.stderr
    assert "0 item(s) queued" in out.stdout
    after = {i["id"]: i for i in json.loads(daemon.cli("outbox", "list", "--json").stdout)}
    assert after[notice["id"]]["state"] == "held" and after[notice["id"]]["attempts"] == 0
