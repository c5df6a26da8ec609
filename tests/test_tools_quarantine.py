"""Quarantine list/show/release/reject and reprocess, against the real daemon."""
from __future__ import annotations

import email
import email.policy
import json

from tests.daemon import Daemon
from tests.letters import letter, make_pdf
from tests.tools_helpers import cli, json_events, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def well_named(**kwargs) -> bytes:
    """A letter whose file name follows appendix ข 2.2 and agrees with its reference."""
    return letter(files=[("2565_dds_0407_57.pdf", make_pdf("cover letter"))], **kwargs)


def test_letter_held_by_policy_is_listed_with_reasons_and_released_with_the_next_number(daemon_factory):
    year = this_be_year()
    d = daemon_factory(extra='[rules.policy]\nnaming = "reject"\n').start()
    d.send(well_named(), LAT)  # registered as 1
    held_qid = d.send(letter(subject="ขอเชิญประชุมคณะกรรมการ", files=[("scan0001.pdf", make_pdf("scan"))]), LAT)
    d.wait_idle()
    assert [e["number"] for e in d.register()] == [1]

    listing = d.cli("quarantine", "list", "--json")
    [held] = json.loads(listing.stdout)
    assert (held["queue_id"], held["unit"], held["state"]) == (held_qid, "saraban.latkrabang", "held")
    assert [r["rule"] for r in held["reasons"]] == ["naming"]
    table = d.cli("quarantine", "list").stdout
    assert "ชื่อไฟล์ scan0001.pdf ไม่เป็นไปตามหลักเกณฑ์" in table and "1 entry" in table  # in words

    shown = d.cli("quarantine", "show", str(held["id"])).stdout
    reason = held["reasons"][0]
    assert reason["message_th"] in shown and reason["message_en"] in shown  # Thai and English
    assert "scan0001.pdf" in shown and held_qid in shown

    d.send(well_named(), LAT)  # arrives after the held one: number 2
    d.wait_idle()
    released = d.cli("-v", "quarantine", "release", str(held["id"]), "--reason", "ผอ.เขตสั่งให้รับเรื่อง")
    assert f"registered as 3/{year}" in released.stdout
    [event] = [e for e in json_events(released.stderr) if e.get("event") == "quarantine_released"]
    assert event["reason"] == "ผอ.เขตสั่งให้รับเรื่อง" and event["who"] and event["receive_no"] == f"3/{year}"

    d.wait_idle()  # the running daemon files it into the unit's folder
    entries = {e["number"]: e for e in d.register("--unit", "saraban.latkrabang")}
    assert sorted(entries) == [1, 2, 3]
    assert entries[3]["queue_id"] == held_qid and entries[3]["review"] is True
    assert "naming" in [f["rule"] for f in entries[3]["findings"]]
    copies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in d.maildir_files("latkrabang")]
    assert f"3/{year}" in [c["X-Saraban-Receive-No"] for c in copies]

    detail = json.loads(d.cli("register", "show", "saraban.latkrabang", f"3/{year}", "--json").stdout)
    [folder] = [o for o in detail["outbox"] if o["kind"] == "folder"]
    assert folder == {"kind": "folder", "state": "done", "attempts": 1, "last_error": None,
                      "done_at": folder["done_at"]}
    # The sender is now acknowledged (held: this daemon has no smarthost).
    assert [o["state"] for o in detail["outbox"] if o["kind"] == "notice"] == ["held"]
    [action] = detail["actions"]
    assert action["action"] == "quarantine_released" and action["reason"] == "ผอ.เขตสั่งให้รับเรื่อง"

    again = d.cli("quarantine", "release", str(held["id"]), check=False)
    assert again.returncode == 1
    assert f"already released as 3/{year}" in again.stderr and "Traceback" not in again.stderr
    assert d.status()["quarantine"] == {"released": 1}


def test_reject_closes_the_entry_and_keeps_who_and_why(daemon):
    daemon.send(letter(files=[]), LAT)  # no document: held by default policy
    daemon.wait_idle()
    [held] = json.loads(daemon.cli("quarantine", "list", "--json").stdout)
    assert held["reasons"][0]["rule"] == "no_document"
    out = daemon.cli("quarantine", "reject", str(held["id"]), "--reason", "ผู้ส่งส่งใหม่แล้ว")
    assert "rejected quarantine entry" in out.stdout
    assert json.loads(daemon.cli("quarantine", "list", "--json").stdout) == []
    [closed] = json.loads(daemon.cli("quarantine", "list", "--all", "--json").stdout)
    assert closed["state"] == "rejected"
    shown = daemon.cli("quarantine", "show", str(held["id"])).stdout
    assert "quarantine_rejected" in shown and "ผู้ส่งส่งใหม่แล้ว" in shown
    refused = daemon.cli("quarantine", "release", str(held["id"]), check=False)
    assert refused.returncode == 1 and "is rejected" in refused.stderr
    assert daemon.register() == []
    missing = daemon.cli("quarantine", "show", "999", check=False)
    assert missing.returncode == 1 and "no quarantine entry 999" in missing.stderr


def test_reprocess_a_quarantined_letter_after_the_policy_changed(daemon_factory):
    year = this_be_year()
    d = daemon_factory(extra='[rules.policy]\nnaming = "reject"\n').start()
    qid = d.send(letter(files=[("scan0002.pdf", make_pdf("scan"))]), LAT)
    qid2 = d.send(letter(files=[("scan0003.pdf", make_pdf("scan"))]), LAT)
    d.wait_idle()
    before = {e["queue_id"]: e["id"] for e in json.loads(d.cli("quarantine", "list", "--json").stdout)}
    assert set(before) == {qid, qid2}

    # Under the same strict policy it is held again, with its reasons decided afresh.
    d.cli("reprocess", qid2, "--reason", "second look")
    d.wait_idle()
    after = {e["queue_id"]: e for e in json.loads(d.cli("quarantine", "list", "--json").stdout)}
    assert set(after) == {qid, qid2}
    assert [r["rule"] for r in after[qid2]["reasons"]] == ["naming"]
    assert d.register() == []

    # The policy relaxed in the configuration; the daemon stopped (a running daemon
    # would take the message first, under the configuration it was started with).
    d.stop()
    relaxed = d.config.with_name("relaxed.toml")
    relaxed.write_text(d.config.read_text().replace('naming = "reject"', 'naming = "warn"'), encoding="utf-8")
    out = cli(relaxed, "-v", "reprocess", qid, "--reason", "policy changed")
    assert out.returncode == 0, out.stderr
    assert "was quarantined" in out.stdout and f"registered 1/{year}" in out.stdout
    assert [e["event"] for e in json_events(out.stderr)].count("reprocessed") == 1

    restarted = Daemon(relaxed).start()
    try:
        restarted.wait_idle()
        [entry] = restarted.register()
        assert entry["queue_id"] == qid and entry["number"] == 1
        assert restarted.status()["quarantine"] == {"held": 1}  # qid2 is still held
        assert len(restarted.maildir_files("latkrabang")) == 1
        finished = restarted.cli("reprocess", qid, check=False)
        assert finished.returncode == 1 and "nothing to reprocess" in finished.stderr
        unknown = restarted.cli("reprocess", "nosuchid", check=False)
        assert unknown.returncode == 1 and "no message with queue id" in unknown.stderr
    finally:
        restarted.stop()


def test_a_release_refused_for_an_unreadable_letter_shows_no_parser_words_at_the_desk():
    """The command line names what the parser said (an exception and its place: the
    operator's to look up); the desk's clerk reads a sentence in Thai or English."""
    from types import SimpleNamespace

    from gateway.tools.quarantine import _refusal

    refused = _refusal(7, SimpleNamespace(action="hold", rule="unreadable"),
                       SimpleNamespace(findings=[], parse_error="MimeTooMany at parse.py:212"))
    assert "MimeTooMany at parse.py:212" in str(refused)
    for lang in ("th", "en"):
        said = refused.for_person(lang)
        assert "MimeTooMany" not in said and ".py" not in said, said
    assert refused.for_person("en").startswith("the message cannot be read as e-mail")
