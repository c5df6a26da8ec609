"""Session 38: the desk (in the daemon's process) decided a quarantine entry while the
register's SQLite file was moved away: its pooled connection still held the old file,
the clerk was told "rejected", and the decision lived only in the file that had gone.
Now every transaction looks at the file first (storage/db.py `Database.session`) and the
clerk is told the register is unavailable; put back, the same decision goes through."""
from __future__ import annotations

import html
import os
import sqlite3

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
BUSY = ("ขณะนี้มีโปรแกรมอื่นใช้ฐานข้อมูลทะเบียนอยู่ ระบบจึงทำรายการนี้ไม่ได้ "
        "กรุณาลองใหม่ในอีกหนึ่งนาที หากยังไม่ได้ให้แจ้งผู้ดูแลระบบ")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"),)
    letters = ((letter(files=[]), LAT), (letter(subject="หนังสือธรรมดา S38", files=[("a.pdf", make_pdf("a"))]), LAT))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters) as desk:
        yield desk


def _actions_in(path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM operator_actions WHERE action = 'quarantine_rejected'").fetchone()[0]
    finally:
        conn.close()


def test_a_decision_while_the_register_file_is_away_is_refused_and_goes_through_once_it_is_back(desk, tmp_path):
    clerk = signed_in(desk.url, "somchai")
    [(held,)] = desk.db("SELECT id FROM quarantine WHERE state = 'held'")
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE status = 'registered'")
    clerk.csrf()
    path = desk.daemon.data_dir / "saraban.db"
    away = tmp_path / "saraban.db"
    os.rename(path, away)
    try:
        answer = clerk.post("/quarantine", [("action", "reject"), ("id", str(held)), ("reason", "ส่งผิดหน่วยงาน")])
        # Each entry's outcome is listed (the ones decided before stay decided): this one, not done.
        assert answer.status == 200 and answer.outcomes() == [f"#{held}: {BUSY}"], answer.outcomes()
        assert "Traceback" not in answer.text
        cancel = clerk.post(f"/letters/{letter_id}/cancel", {"reason": "ลงผิดเล่ม"})
        assert cancel.status == 503 and "ทะเบียนไม่ว่างชั่วคราว" in html.unescape(cancel.text), cancel.status
        assert not path.exists()  # no new, empty register made at the path
    finally:
        os.rename(away, path)
    assert _actions_in(path) == 0  # nothing was decided in the file while it was away
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", held) == [("held",)]
    assert desk.db("SELECT status FROM letters WHERE id = ?", letter_id) == [("registered",)]

    answer = clerk.post("/quarantine", [("action", "reject"), ("id", str(held)), ("reason", "ส่งผิดหน่วยงาน")])
    assert answer.status == 200 and answer.outcomes() == [f"#{held}: ปฏิเสธแล้ว"], answer.text[:400]
    assert _actions_in(path) == 1
    assert "Traceback" not in desk.daemon.log_path.read_text()
