"""Session 52's red team of the desk, over plain HTTP against the real daemon (SQLite).

* ตรวจซ้ำ (reprocess) on a parked letter's entry that another clerk had just rejected
  (a page drawn before the rejection, a second tab) was taken: the letter, rejected,
  was unparked and run through the pipeline again, `reprocessed` was recorded, and the
  clerk was told "ส่งกลับเข้าระบบตรวจแล้ว ระบบจะตรวจและลงทะเบียนให้เอง" (it will be
  registered), while a release or a reject of it says it was rejected, by whom and when.
* A classified letter released from the held list by its secret registrar went into
  the secret register, which has its own numbers, but the result line and the held
  entry's page (which the unit's clerks see too) said only "รับเข้าทะเบียนแล้ว เลขรับ
  2/2569": the general register's 2/2569 is another letter (session 35's emergency
  form had the same fault). Both now name the secret register.
* A form sent without what it needs was answered without saying what: release or
  reject with no letter ticked (the reason typed, the button pressed) got "ไม่มีรายการ" /
  "Nothing here." in red above the very list; the operations page's retry the same; a
  note or a department of spaces only (which the browser's `required` lets through)
  "บันทึก?" / "Notes?"; the emergency form without a scan "ไฟล์สแกน: Nothing here." on
  the English page. Each now says what to do, in the person's language.
* The export form drawn again after a refusal (the secret book of a unit below, whose
  registrar is another; a year it cannot print) came back at its first unit, the
  general book, PDF and this year: the choices are kept now.
* An id of more than 4,300 digits in a path (`/letters/111…1`, a file's position, a held
  entry) was the 500 page, for anyone signed in or not, and a traceback in the log:
  Starlette's `int` took any number of digits and int() refuses that many. 20 digits
  were already "not found" (session 39); now every id of more than 19 is no route.
"""
from __future__ import annotations

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import Client, signed_in
from tests.web.conftest import Desk, running_desk
from tests.web.test_parked_letters import vault_refusing

LAT = "saraban.latkrabang@bangkok.go.th"
SEALED_HELD = "S52SEALEDHELD"
HELD_PLAIN = "หนังสือไม่มีไฟล์แนบ S52"
HELD_KEPT = "หนังสือไม่มีไฟล์แนบ S52 ที่ยังกักไว้"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s52clerk", "clerk", "saraban.latkrabang"), ("s52other", "clerk", "saraban.latkrabang"),
             ("s52reg", "registrar", "saraban.latkrabang"), ("s52admin", "admin"))
    letters = (
        # the general register's 1/2569 and 2/2569
        (letter(subject="หนังสือธรรมดา S52 หนึ่ง"), LAT), (letter(subject="หนังสือธรรมดา S52 สอง"), LAT),
        # the secret register's 1/2569, registered and sealed
        (letter(subject="ลับ แผนงาน S52SECRET", body="ลับ\nเรื่อง แผนงาน S52SECRET\n",
                files=[("r.pdf", make_pdf("ลับ cover letter S52SECRET"))]), LAT),
        # ลับ and nothing the desk registers: held, its copy sealed for the registrar
        (letter(subject=f"ลับ แผนงาน {SEALED_HELD}", body=f"ลับ\nเรื่อง แผนงาน {SEALED_HELD}\n",
                files=[("x.html", f"<html>{SEALED_HELD}</html>".encode())]), LAT),
        (letter(subject=HELD_PLAIN, files=[]), LAT),  # held for what it is: no document
        (letter(subject=HELD_KEPT, files=[]), LAT),  # and one that stays held
    )
    with running_desk(tmp_path_factory.mktemp("s52"), users, letters) as desk:
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



def test_a_sealed_letter_released_into_the_secret_register_is_named_with_its_book(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE state = 'held' AND subject IS NULL")
    registrar, clerk = signed_in(desk.url, "s52reg"), signed_in(desk.url, "s52clerk")
    released = registrar.post("/quarantine", [("id", str(entry_id)), ("action", "release"), ("reason", "ลงทะเบียนลับ")])
    [(book, number, year)] = desk.db("SELECT l.book, l.number, l.year FROM letters l JOIN quarantine q "
                                     "ON q.queue_id = l.queue_id WHERE q.id = ?", entry_id)
    assert book == "secret" and number == 2  # the secret register's own 2/2569
    assert desk.db("SELECT count(*) FROM letters WHERE book = 'general' AND number = 2 AND year = ?", year) == [(1,)]
    assert released.outcomes() == [f"#{entry_id}: รับเข้าทะเบียนแล้ว เลขรับ 2/{year} (ทะเบียนหนังสือรับลับ)"]
    page = clerk.get(f"/quarantine/{entry_id}")
    assert page.status == 200 and f"รับเข้าแล้ว 2/{year} (ทะเบียนหนังสือรับลับ)" in page.text
    assert SEALED_HELD not in page.text
    clerk.post("/lang", {"lang": "en", "back": "/register"})
    assert f"released 2/{year} (Secret register)" in clerk.get(f"/quarantine/{entry_id}").text


def test_a_letter_released_into_the_general_register_is_named_as_before(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE state = 'held' AND subject = ?", HELD_PLAIN)
    clerk = signed_in(desk.url, "s52other")
    released = clerk.post("/quarantine", [("id", str(entry_id)), ("action", "release"), ("reason", "ตรวจแล้ว")])
    [outcome] = released.outcomes()
    assert outcome.startswith(f"#{entry_id}: รับเข้าทะเบียนแล้ว เลขรับ ") and "ลับ" not in outcome


REFUSALS = {  # (Thai, English) of each form sent without what it needs
    "none_ticked": ("ยังไม่ได้เลือกรายการ กรุณาทำเครื่องหมายหน้ารายการที่ต้องการ แล้วกดปุ่มอีกครั้ง",
                    "Nothing was ticked: tick the entries you mean, then press the button again."),
    "note": ("กรุณาพิมพ์ข้อความบันทึก (เว้นวรรคอย่างเดียวไม่นับเป็นบันทึก)", "Type the note (spaces alone are no note)."),
    "department": ("กรุณาระบุฝ่าย/หน่วยที่ปฏิบัติ (เว้นวรรคอย่างเดียวไม่นับ)",
                   "Name the department that acts on it (spaces alone are not a name)."),
    "scans": ("ยังไม่ได้แนบไฟล์สแกน กรุณาแนบไฟล์สแกนของหนังสืออย่างน้อยหนึ่งไฟล์ แล้วกดปุ่มอีกครั้ง",
              "No scan was attached: attach at least one scan of the letter, then press the button again."),
}


@pytest.mark.parametrize("lang", ["th", "en"])
def test_a_form_sent_without_what_it_needs_says_what_to_do(desk, lang):
    import html
    import re

    said = {key: pair[lang == "en"] for key, pair in REFUSALS.items()}
    clerk, admin = signed_in(desk.url, "s52other"), signed_in(desk.url, "s52admin")
    for person in (clerk, admin):
        person.post("/lang", {"lang": lang, "back": "/register"})
    [(held,)] = desk.db("SELECT id FROM quarantine WHERE subject = ?", HELD_KEPT)
    assert 'name="id" value="%d"' % held in clerk.get("/quarantine").text  # a list to tick from

    for action in ("release", "reject"):
        answer = clerk.post("/quarantine", [("action", action), ("reason", "ตรวจแล้ว")])  # nothing ticked
        assert (answer.status, answer.errors()) == (400, [said["none_ticked"]])
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", held) == [("held",)]
    retried = admin.post("/operations/retry", {})
    assert retried.status == 200
    assert [html.unescape(t) for t in re.findall(r'<li class="error">(.*?)</li>', retried.text)] == \
        [said["none_ticked"]]

    [(letter_id,)] = desk.db("SELECT min(id) FROM letters WHERE book = 'general'")
    for field, key in (("note", "note"), ("department", "department")):
        answer = clerk.post(f"/letters/{letter_id}/{'note' if field == 'note' else 'assign'}", {field: "   "})
        assert (answer.status, answer.errors()) == (400, [said[key]])

    answer = clerk.post_multipart("/emergency", [("unit", "saraban.latkrabang"), ("emergency_no", "ปท 0013 / ฉ 001"),
                                                 ("do", "check")])
    assert answer.status == 400
    [shown] = [html.unescape(t) for t in re.findall(r'<pre class="error"[^>]*>(.*?)</pre>', answer.text, re.S)]
    assert shown == said["scans"]


def test_the_export_form_keeps_what_was_chosen_after_a_refusal(desk):
    import re

    registrar = signed_in(desk.url, "s52reg")
    form = registrar.get("/export").text
    assert 'value="saraban.latkrabang.fin"' in form and 'value="secret"' in form
    refused = registrar.post("/export", {"unit": "saraban.latkrabang.fin", "book": "secret", "format": "csv",
                                         "year": "2569", "from": "2026-12-01"})
    assert refused.status == 403 and refused.errors()[0].startswith("ทะเบียนหนังสือลับของหน่วยงานนี้อยู่ในความดูแลของนายทะเบียนลับ")
    assert set(re.findall(r'<option value="([^"]+)" selected', refused.text)) == {
        "saraban.latkrabang.fin", "secret", "csv"}
    assert 'name="from" value="2026-12-01"' in refused.text
