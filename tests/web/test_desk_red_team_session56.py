"""Session 56's red team of the desk, over plain HTTP against the real daemon (SQLite).

* The unit's secret registrar releasing a held ลับ letter whose sealed copy cannot be
  opened (here: the gateway key's file left readable by other users, as a restore with
  the wrong umask leaves it) read, on the English page, the key store's own sentence:
  ".../var/keys/gateway/<fingerprint>/key.pem can be read by other users (mode 644);
  run chmod 600 on it", the server's data directory and the key's fingerprint. The Thai
  page said "กรุณาแจ้งผู้ดูแลระบบ" (tell the administrator), and the log had nothing
  for the administrator: no event named the cause, and ดูข้อมูลประกอบการพิจารณา logged
  only "SecrecyError".
"""
from __future__ import annotations

import json

import pytest

from tests.letters import letter
from tests.web.client import signed_in
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
SEALED_MARKER = "S56SEALED-QXJV"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s56reg", "registrar", "saraban.latkrabang"),)
    # ลับ, and nothing the desk registers (an HTML file only): held, sealed for the registrar
    sealed = letter(subject=f"ลับ แผนงาน {SEALED_MARKER}", body=f"ลับ\nเรื่อง แผนงาน {SEALED_MARKER}\n",
                    files=[("x.html", f"<html>{SEALED_MARKER}</html>".encode())])
    with running_desk(tmp_path_factory.mktemp("s56"), users, ((sealed, LAT),)) as desk:
        yield desk


def _events(desk: Desk, name: str) -> list[dict]:
    found = []
    for line in desk.daemon.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == name:
            found.append(event)
    return found


def test_a_sealed_copy_that_cannot_be_opened_is_a_sentence_and_its_cause_is_logged(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE state = 'held' AND subject IS NULL")
    keys = desk.daemon.data_dir / "keys" / "gateway"
    fingerprint = (keys / "CURRENT").read_text().strip()
    key = keys / fingerprint / "key.pem"
    registrar = signed_in(desk.url, "s56reg")
    key.chmod(0o644)
    try:
        registrar.post("/lang", {"lang": "en", "back": "/quarantine"})
        english = registrar.post("/quarantine", {"id": str(entry_id), "action": "release", "reason": "to register"})
        details = registrar.post(f"/quarantine/{entry_id}/details", {"confirm": "yes"})
        registrar.post("/lang", {"lang": "th", "back": "/quarantine"})
        thai = registrar.post("/quarantine", {"id": str(entry_id), "action": "release", "reason": "รับเข้าทะเบียน"})
    finally:
        key.chmod(0o600)
    [said] = english.outcomes()
    assert said == (f"#{entry_id}: The sealed copy of this classified letter cannot be opened now; "
                    "the cause is in the log for the administrator."), said
    for page in (english, details, thai):
        assert str(desk.daemon.data_dir) not in page.text and fingerprint[:16] not in page.text
        assert "chmod" not in page.text and "SecrecyError" not in page.text
    [said] = thai.outcomes()
    assert said == (f"#{entry_id}: เปิดสำเนาที่ปิดผนึกของหนังสือลับฉบับนี้ไม่ได้ในขณะนี้ "
                    "ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว กรุณาแจ้งผู้ดูแลระบบ"), said
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("held",)]
    assert desk.db("SELECT count(*) FROM letters") == [(0,)]
    # What the administrator is told to look for: the cause, for each attempt.
    logged = _events(desk, "quarantine_sealed_copy_unreadable")
    assert len(logged) == 2 and all(e["quarantine_id"] == entry_id and e["who"] == "web:s56reg" for e in logged)
    assert all("can be read by other users" in e["error"] and str(key) in e["error"] for e in logged), logged
    [looked] = _events(desk, "web_held_details_failed")
    assert "can be read by other users" in looked["error"], looked
    assert SEALED_MARKER not in desk.daemon.log_path.read_text(encoding="utf-8", errors="replace")

    # The key put right, the same registrar releases it (into the secret book).
    released = registrar.post("/quarantine", {"id": str(entry_id), "action": "release", "reason": "รับเข้าทะเบียน"})
    [said] = released.outcomes()
    assert "รับเข้าทะเบียนแล้ว" in said and "ทะเบียนหนังสือรับลับ" in said, said
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("released",)]
