"""Mail to postmaster at the desk (session 41, tests/test_postmaster_session41.py): the
administrator reads it in the quarantine and closes it; a unit's clerk does not see it;
`release` says, in the person's words, that it is no letter."""
from __future__ import annotations

import re

import pytest

from tests.letters import letter
from tests.web.client import signed_in
from tests.web.conftest import running_desk

SUBJECT = "Undelivered Mail Returned to Sender"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"), ("ops", "admin"))
    bounce = ((letter(subject=SUBJECT, body="This is the mail system at host mx.example.org.\n"), "postmaster"),)
    with running_desk(tmp_path_factory.mktemp("postmaster"), users, bounce) as desk:
        yield desk


def _shown(text: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_administrator_reads_and_closes_mail_to_postmaster(desk):
    [(entry_id, unit)] = desk.db("SELECT id, unit FROM quarantine WHERE subject = ?", SUBJECT)
    assert unit == "postmaster"
    ops = signed_in(desk.url, "ops")
    listing = _shown(ops.get("/quarantine").text)
    assert SUBJECT in listing and "postmaster" in listing
    page = ops.get(f"/quarantine/{entry_id}")
    assert page.status == 200
    text = _shown(page.text)
    assert "อีเมลถึง postmaster" in text and "mx.example.org" in text
    assert "Traceback" not in page.text

    refused = ops.post("/quarantine", [("id", str(entry_id)), ("action", "release"), ("reason", "อ่านแล้ว")])
    [outcome] = refused.outcomes()
    assert outcome.startswith(f"#{entry_id}: รายการนี้เป็นอีเมลถึง postmaster ไม่ใช่หนังสือราชการ"), outcome
    assert desk.db("SELECT count(*) FROM letters") == [(0,)]

    closed = ops.post("/quarantine", [("id", str(entry_id)), ("action", "reject"), ("reason", "อ่านแล้ว ไม่ต้องดำเนินการ")])
    assert len(closed.outcomes()) == 1
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("rejected",)]
    assert not [m for m in desk.sink.received if SUBJECT.encode() in m.data]  # its sender is not answered


def test_a_units_clerk_does_not_see_it(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE subject = ?", SUBJECT)
    clerk = signed_in(desk.url, "somchai")
    assert SUBJECT not in clerk.get("/quarantine?state=all").text
    assert clerk.get(f"/quarantine/{entry_id}").status == 404
