"""Session 52's red team of the desk, over plain HTTP against the real daemon (SQLite).

* ตรวจซ้ำ (reprocess) on a parked letter's entry that another clerk had just rejected
  (a page drawn before the rejection, a second tab) was taken: the letter, rejected,
  was unparked and run through the pipeline again, `reprocessed` was recorded, and the
  clerk was told "ส่งกลับเข้าระบบตรวจแล้ว ระบบจะตรวจและลงทะเบียนให้เอง" (it will be
  registered), while a release or a reject of it says it was rejected, by whom and when.
* An id of more than 4,300 digits in a path (`/letters/111…1`, a file's position, a held
  entry) was the 500 page, for anyone signed in or not, and a traceback in the log:
  Starlette's `int` took any number of digits and int() refuses that many. 20 digits
  were already "not found" (session 39); now every id of more than 19 is no route.
"""
from __future__ import annotations

import pytest

from tests.letters import letter
from tests.web.client import Client, signed_in
from tests.web.conftest import Desk, running_desk
from tests.web.test_parked_letters import vault_refusing

LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s52clerk", "clerk", "saraban.latkrabang"), ("s52other", "clerk", "saraban.latkrabang"))
    with running_desk(tmp_path_factory.mktemp("s52"), users, ()) as desk:
        yield desk


def _park_one(desk: Desk, subject: str) -> str:
    parked = desk.daemon.data_dir / "spool" / "failed"
    with vault_refusing(desk.daemon.data_dir):
        qid = desk.daemon.send(letter(subject=subject), LAT)
        desk.daemon.wait_for(lambda: (parked / f"{qid}.msg").exists(), 60, what="the letter parked")
    return qid


@pytest.mark.parametrize("lang", ["th", "en"])
def test_a_parked_letter_rejected_meanwhile_is_not_sent_back_by_a_stale_page(desk, lang):
    qid = _park_one(desk, f"หนังสือพักไว้ที่ปฏิเสธแล้ว S52 {lang}")
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE queue_id = ? AND state = 'held'", qid)
    clerk, other = signed_in(desk.url, "s52clerk"), signed_in(desk.url, "s52other")
    other.post("/lang", {"lang": lang, "back": "/quarantine"})
    stale = other.get("/quarantine")  # drawn while the entry is held: it offers ตรวจซ้ำ
    assert 'value="reprocess"' in stale.text and f'name="id" value="{entry_id}"' in stale.text

    rejected = clerk.post("/quarantine", [("id", str(entry_id)), ("action", "reject"), ("reason", "ส่งผิดหน่วยงาน")])
    assert rejected.outcomes() == [f"#{entry_id}: ปฏิเสธแล้ว"]
    again = other.post("/quarantine", [("id", str(entry_id)), ("action", "reprocess"), ("reason", "ลองอีกครั้ง")])
    [outcome] = again.outcomes()
    if lang == "th":
        assert outcome.startswith(f"#{entry_id}: รายการนี้ปฏิเสธไปแล้ว โดย web:s52clerk เมื่อ "), outcome
        assert outcome.endswith("ไม่ต้องทำซ้ำ") and "ลงทะเบียนให้เอง" not in outcome
    else:
        assert outcome.startswith(f"#{entry_id}: quarantine entry {entry_id} is rejected by web:s52clerk at "), outcome
    assert 'class="error"' in again.text and 'class="ok"' not in again.text
    # Nothing was done: still parked, still rejected, no `reprocessed` in the record.
    assert (desk.daemon.data_dir / "spool" / "failed" / f"{qid}.msg").exists()
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("rejected",)]
    assert desk.db("SELECT count(*) FROM operator_actions WHERE action = 'reprocessed' AND queue_id = ?",
                   qid) == [(0,)]
    assert desk.db("SELECT count(*) FROM letters WHERE queue_id = ?", qid) == [(0,)]


LONG_ID = "1" * 4301
LONG_ID_PATHS = [("GET", f"/letters/{LONG_ID}"), ("GET", f"/letters/1/files/{LONG_ID}"),
                 ("GET", f"/letters/{LONG_ID}/stamped"), ("GET", f"/quarantine/{LONG_ID}"),
                 ("GET", f"/quarantine/1/files/{LONG_ID}"), ("POST", f"/letters/{LONG_ID}/note"),
                 ("POST", f"/letters/{LONG_ID}/reveal"), ("POST", f"/letters/1/files/{LONG_ID}/reveal")]


def _failures(desk: Desk) -> list[dict]:
    return [e for e in desk.daemon.events() if e.get("event") == "web_handler_failed"]


@pytest.mark.parametrize("method,path", LONG_ID_PATHS, ids=[f"{m} {p[:24]}" for m, p in LONG_ID_PATHS])
def test_an_id_of_thousands_of_digits_is_not_found_not_a_failure(desk, method, path):
    before = len(_failures(desk))
    clerk = signed_in(desk.url, "s52clerk")
    if method == "GET":
        answers = [clerk.get(path), Client(desk.url).get(path)]
    else:
        answers = [clerk.post(path, {"note": "x", "confirm": "yes"})]
    for answer in answers:
        assert answer.status == 404, (answer.status, answer.errors())
        assert answer.errors() == ["ไม่มีรายการนี้ หรือท่านไม่มีสิทธิ์เห็นรายการนี้"]
    assert len(_failures(desk)) == before

