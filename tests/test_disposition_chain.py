"""One disposition chain (gateway/pipeline/dispose.py) for the pipeline, `quarantine
release`, `reprocess` and `rules check`: what each of them does to a letter agrees,
and the bugs of the old copies stay gone."""
from __future__ import annotations

import json

from gateway.pipeline.dispose import CHAIN
from tests.letters import letter, make_pdf
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
POMPRAP = "saraban.pomprap@bangkok.go.th"


def notices(d, queue_id: str) -> dict[str, dict]:
    """The notice outbox items of one message, by type (ack / reject)."""
    items = json.loads(d.cli("outbox", "list", "--kind", "notice", "--json").stdout)
    return {i["key"].split(":", 1)[0]: i for i in items if i["queue_id"] == queue_id}


def test_the_chain_is_data_in_one_place():
    names = [link.name for link in CHAIN]
    assert names == ["already_registered", "registered_before_restore", "already_held", "postmaster", "unit_directory",
                     "resend", "unreadable", "top_secret", "policy"]
    assert all(link.description for link in CHAIN)


def test_release_withdraws_the_rejection_and_acknowledges_exactly_once(daemon_factory):
    year = this_be_year()
    d = daemon_factory(extra='[rules.policy]\nnaming = "reject"\n').start()
    qid = d.send(letter(subject="ขอเชิญประชุม", files=[("scan0001.pdf", make_pdf("scan"))]), LAT)
    d.wait_idle()
    held = notices(d, qid)
    assert set(held) == {"reject"} and held["reject"]["state"] == "held"  # no smarthost yet

    [entry] = json.loads(d.cli("quarantine", "list", "--json").stdout)
    out = d.cli("quarantine", "release", str(entry["id"]), "--reason", "ผอ.สั่งรับ")
    assert f"registered as 1/{year}" in out.stdout
    after = notices(d, qid)
    assert after["reject"]["state"] == "withdrawn"  # the sender is never told to resend
    assert after["ack"]["state"] == "held" and after["ack"]["letter_id"] is not None
    shown = json.loads(d.cli("register", "show", "saraban.latkrabang", f"1/{year}", "--json").stdout)
    assert [o["kind"] for o in shown["outbox"]] == ["folder", "notice"]

    again = d.cli("quarantine", "release", str(entry["id"]), check=False)
    assert again.returncode == 1 and "already released" in again.stderr
    assert notices(d, qid).keys() == {"ack", "reject"}  # still one of each


def test_rules_check_says_what_the_daemon_does(daemon_factory, tmp_path):
    d = daemon_factory(extra='[rules.unit_policy."saraban.pomprap"]\nnaming = "reject"\n').start()
    raw = letter(files=[("scan0009.pdf", make_pdf("scan"))])
    path = tmp_path / "letter.eml"
    path.write_bytes(raw)
    for unit, expected in ((LAT, "register"), (POMPRAP, "hold")):
        checked = d.cli("rules", "check", str(path), "--unit", unit.split("@")[0], "--json", check=False)
        assert json.loads(checked.stdout)["disposition"]["action"] == expected
    d.send(raw, [LAT, POMPRAP])
    d.wait_idle()
    assert [e["unit"] for e in d.register()] == ["saraban.latkrabang"]
    assert [e["unit"] for e in json.loads(d.cli("quarantine", "list", "--json").stdout)] == ["saraban.pomprap"]


def test_one_recipients_context_does_not_leak_into_the_next(daemon_factory):
    """Two units, one registers and one holds: the hold's events carry no receive
    number of the other unit, and the message's last event no unit at all."""
    d = daemon_factory(extra='[rules.unit_policy."saraban.pomprap"]\nnaming = "reject"\n').start()
    qid = d.send(letter(files=[("scan0010.pdf", make_pdf("scan"))]), [LAT, POMPRAP])
    d.wait_idle()
    # message_finished is logged just after the spool entry is removed: wait for it too.
    events = [e for e in d.wait_for_event("message_finished", timeout=30, queue_id=qid) if e.get("queue_id") == qid]
    [registered] = [e for e in events if e["event"] == "registered"]
    [held] = [e for e in events if e["event"] == "quarantined"]
    assert registered["unit"] == "saraban.latkrabang" and registered["receive_no"]
    assert held["unit"] == "saraban.pomprap" and "receive_no" not in held
    [finished] = [e for e in events if e["event"] == "message_finished"]
    assert "unit" not in finished and "receive_no" not in finished
    assert registered["logger"] == "gateway.pipeline.dispose"
