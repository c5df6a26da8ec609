"""Session 56's red team of the desk, over plain HTTP against the real daemon (SQLite).

* The unit's secret registrar releasing a held ลับ letter whose sealed copy cannot be
  opened (here: the gateway key's file left readable by other users, as a restore with
  the wrong umask leaves it) read, on the English page, the key store's own sentence:
  ".../var/keys/gateway/<fingerprint>/key.pem can be read by other users (mode 644);
  run chmod 600 on it", the server's data directory and the key's fingerprint. The Thai
  page said "กรุณาแจ้งผู้ดูแลระบบ" (tell the administrator), and the log had nothing
  for the administrator: no event named the cause, and ดูข้อมูลประกอบการพิจารณา logged
  only "SecrecyError".
* Other refusals of a release spoke the command line on the desk's English page: a
  parked letter ticked with others and released, "run it again with `saraban-gateway
  reprocess <queue id>`"; mail to postmaster, "close it with `saraban-gateway quarantine
  reject 7 --reason ...`" (and the Thai page told to press "ไม่รับ", a button no page
  has: the desk's is ปฏิเสธ); and, while the register restored from a backup was not yet
  read back from the folders, a release and the emergency register's import, "start the
  daemon (...; `status` says when) and try again", to a clerk of the daemon running.
* พิมพ์/ส่งออก as PDF of a busy unit's year laid the book out in the daemon's own process
  whatever its size, about 25 ms of CPU a row with Thai shaping: 2,000 rows took 51 s of
  CPU, 50,000 rows more than 15 minutes and 380 MB, long after the browser and the proxy
  in front (60 s) had given up, the clerk pressing again for another. Past `[web]
  max_printed_rows` (3,000) the page now says how many rows the book has and to print a
  range of days, or to take the CSV.
* The register's search did not know the receive number, the one thing the register is
  numbered by and the acknowledgement tells the sender: "2/2569", as the list shows it,
  found nothing, and "57" or "1523" the letters whose reference holds those digits.
"""
from __future__ import annotations

import json

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import Answer, Client, signed_in
from tests.web.conftest import Desk, running_desk
from tests.web.test_parked_letters import vault_refusing

LAT = "saraban.latkrabang@bangkok.go.th"
SEALED_MARKER = "S56SEALED-QXJV"
HELD_MARKER = "S56HELD"
BOUNCE_SUBJECT = "Undelivered Mail Returned to Sender S56"
COMMAND_LINE = ("saraban-gateway", "`", "--reason", "start the daemon", "units import")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s56reg", "registrar", "saraban.latkrabang"), ("s56clerk", "clerk", "saraban.latkrabang"),
             ("s56ops", "admin"))
    # ลับ, and nothing the desk registers (an HTML file only): held, sealed for the registrar
    sealed = letter(subject=f"ลับ แผนงาน {SEALED_MARKER}", body=f"ลับ\nเรื่อง แผนงาน {SEALED_MARKER}\n",
                    files=[("x.html", f"<html>{SEALED_MARKER}</html>".encode())])
    held = letter(subject=f"ไม่มีไฟล์แนบ {HELD_MARKER}", files=[])  # held for a person: no document
    bounce = letter(subject=BOUNCE_SUBJECT, body="This is the mail system at host mx.example.org.\n")
    with running_desk(tmp_path_factory.mktemp("s56"), users, ((sealed, LAT), (held, LAT), (bounce, "postmaster"))) as desk:
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
    assert desk.db("SELECT count(*) FROM letters l JOIN quarantine q ON q.queue_id = l.queue_id WHERE q.id = ?",
                   entry_id) == [(0,)]
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


def _in(client: Client, lang: str) -> Client:
    client.post("/lang", {"lang": lang, "back": "/quarantine"})
    return client


def _release(client: Client, entry_id: int) -> str:
    [said] = client.post("/quarantine", {"id": str(entry_id), "action": "release", "reason": "รับเข้าทะเบียน"}).outcomes()
    assert not [w for w in COMMAND_LINE if w in said], said
    return said


def test_a_parked_letter_released_by_mistake_is_told_in_the_desks_words(desk):
    with vault_refusing(desk.daemon.data_dir):
        qid = desk.daemon.send(letter(subject="หนังสือที่ระบบตรวจไม่สำเร็จ S56PARKED"), LAT)
        desk.daemon.wait_for(lambda: desk.daemon.status()["spool"]["parked"] == 1, 60, what="the letter parked")
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE queue_id = ? AND state = 'held'", qid)
    clerk = _in(signed_in(desk.url, "s56clerk"), "en")
    assert _release(clerk, entry_id) == (f"#{entry_id}: This is a letter the gateway could not process (parked): "
                                         "it cannot be registered unchecked. Press \"Reprocess\" to have it "
                                         "checked again.")
    assert 'value="reprocess">Reprocess<' in clerk.get(f"/quarantine/{entry_id}").text  # the button it names
    assert _release(_in(clerk, "th"), entry_id) == (f"#{entry_id}: รายการนี้เป็นหนังสือที่ระบบตรวจไม่สำเร็จ (พักไว้) "
                                                    "รับเข้าทะเบียนโดยไม่ตรวจไม่ได้ กรุณากด \"ตรวจซ้ำ\"")
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("held",)]
    # the command line keeps its command
    assert f"saraban-gateway reprocess {qid}" in desk.daemon.cli("quarantine", "release", str(entry_id),
                                                                 "--reason", "x", check=False).stderr


def test_mail_to_postmaster_names_the_button_the_page_has(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE subject = ?", BOUNCE_SUBJECT)
    ops = _in(signed_in(desk.url, "s56ops"), "th")
    assert _release(ops, entry_id) == (f"#{entry_id}: รายการนี้เป็นอีเมลถึง postmaster ไม่ใช่หนังสือราชการ "
                                       "รับเข้าทะเบียนไม่ได้ อ่านแล้วกรุณากด \"ปฏิเสธ\" เพื่อปิดรายการ")
    assert 'value="reject" class="danger">ปฏิเสธ<' in ops.get(f"/quarantine/{entry_id}").text
    assert _release(_in(ops, "en"), entry_id) == (f"#{entry_id}: This is mail to postmaster, not an official letter: "
                                                  "it cannot be registered. Once read, press \"Reject\" to close it.")
    assert 'value="reject" class="danger">Reject<' in ops.get(f"/quarantine/{entry_id}").text
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("held",)]


def _emergency(clerk: Client, number: str) -> Answer:
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", number), ("received_at", "6/3/2569 09.25 น."),
              ("sender", "สำนักการคลัง"), ("subject", "หนังสือฉุกเฉิน S56RESTORED"), ("do", "import")]
    return clerk.post_multipart("/emergency", fields, [("scans", "scan.pdf", make_pdf("S56RESTORED"))])


def _refusal(answer: Answer) -> str:
    """The emergency form's refusal, above the form (its lines kept: <pre>)."""
    import html
    import re

    found = re.search(r'<pre class="error" role="alert">(.*?)</pre>', answer.text, re.S)
    return html.unescape(found[1]) if found else ""


def test_a_register_not_yet_read_back_after_a_restore_is_told_to_the_clerk_not_the_operator(desk):
    [(entry_id,)] = desk.db("SELECT id FROM quarantine WHERE subject LIKE ?", f"%{HELD_MARKER}")
    marker = desk.daemon.data_dir / "restored.json"  # `backup restore`'s, until the folders are read back
    clerk = signed_in(desk.url, "s56clerk")
    marker.write_text("{}")
    try:
        english = _release(_in(clerk, "en"), entry_id)
        imported_en = _emergency(clerk, "ปท 0013 / ฉ 561")
        thai = _release(_in(clerk, "th"), entry_id)
        imported_th = _emergency(clerk, "ปท 0013 / ฉ 561")
    finally:
        marker.unlink()
    sentence_en = ("The register was just restored from a backup and the receive numbers given since are not yet "
                   "read back from the units' folders, so no receive number can be given yet: tell the "
                   "administrator, then try again later.")
    sentence_th = ("ฐานข้อมูลทะเบียนเพิ่งกู้คืนจากสำรอง ระบบยังอ่านเลขรับที่ให้ไปแล้วจากโฟลเดอร์ของหน่วยงานไม่ครบ "
                   "จึงยังให้เลขรับไม่ได้ กรุณาแจ้งผู้ดูแลระบบ แล้วลองใหม่ภายหลัง")
    assert english == f"#{entry_id}: {sentence_en}" and thai == f"#{entry_id}: {sentence_th}"
    assert imported_en.status == 400 and _refusal(imported_en) == sentence_en, _refusal(imported_en)
    assert imported_th.status == 400 and _refusal(imported_th) == sentence_th, _refusal(imported_th)
    assert desk.db("SELECT count(*) FROM letters WHERE subject LIKE '%S56RESTORED' OR subject LIKE ?",
                   f"%{HELD_MARKER}") == [(0,)]

    # Read back: the same release and import are done.
    assert _release(clerk, entry_id).startswith(f"#{entry_id}: รับเข้าทะเบียนแล้ว เลขรับ ")
    assert _emergency(clerk, "ปท 0013 / ฉ 561").status == 200
    assert desk.db("SELECT count(*) FROM letters WHERE subject LIKE '%S56RESTORED' OR subject LIKE ?",
                   f"%{HELD_MARKER}") == [(2,)]


@pytest.fixture(scope="module")
def printing_desk(tmp_path_factory):
    users = (("s56printer", "clerk", "saraban.latkrabang"),)
    letters = tuple((letter(subject=f"หนังสือ S56PRINT {n}"), LAT) for n in range(3)) + (
        (letter(subject="หนังสือ S56PRINT ฝ่ายการคลัง", to="saraban.latkrabang.fin@bangkok.go.th"),
         "saraban.latkrabang.fin@bangkok.go.th"),)
    with running_desk(tmp_path_factory.mktemp("s56print"), users, letters, extra="max_printed_rows = 2\n") as desk:
        yield desk


@pytest.mark.parametrize("lang", ["th", "en"])
def test_a_book_past_the_printed_rows_is_refused_with_what_to_do(printing_desk, lang):
    from tests.tools_helpers import this_be_year

    clerk = signed_in(printing_desk.url, "s56printer")
    clerk.post("/lang", {"lang": lang, "back": "/export"})
    form = {"unit": "saraban.latkrabang", "book": "general", "year": str(this_be_year())}
    refused = clerk.post("/export", {**form, "format": "pdf"})
    assert refused.status == 409 and refused.header("x-register-entries") is None
    assert refused.errors() == [
        "ทะเบียนที่เลือกมี 3 แถว พิมพ์เป็น PDF จากหน้านี้ได้ครั้งละไม่เกิน 2 แถว กรุณาเลือกช่วงวันที่ให้แคบลง "
        "(เช่น ทีละเดือน) หรือส่งออกเป็น CSV" if lang == "th" else
        "The book chosen has 3 rows; this page prints at most 2 as PDF at a time. Choose a shorter range of "
        "days (a month at a time, say), or export it as CSV."], refused.errors()
    assert 'value="pdf" selected' in refused.text  # the form comes back as chosen
    # The same book as CSV, and a book within the bound as PDF, are what they were.
    as_csv = clerk.post("/export", {**form, "format": "csv"})
    assert as_csv.status == 200 and as_csv.header("x-register-entries") == "3"
    assert as_csv.body.decode("utf-8-sig").count("S56PRINT") == 3
    small = clerk.post("/export", {**form, "unit": "saraban.latkrabang.fin", "format": "pdf"})
    assert small.status == 200 and small.body.startswith(b"%PDF") and small.header("x-register-entries") == "1"
    # The command line is the operator's, in its own process: not bounded.
    out = printing_desk.daemon.data_dir.parent / f"book-{lang}.pdf"
    printed = printing_desk.daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year",
                                       form["year"], "--format", "pdf", "-o", str(out))
    assert "wrote 3 entries" in printed.stdout and out.read_bytes().startswith(b"%PDF")


def _listed_numbers(answer: Answer) -> list[str]:
    import re

    return re.findall(r'<td class="no"><a href="/letters/\d+">([^<]*)</a>', answer.text)


def test_the_register_is_searched_by_receive_number(printing_desk):
    from urllib.parse import quote

    from tests.tools_helpers import this_be_year

    year = this_be_year()
    clerk = signed_in(printing_desk.url, "s56printer")
    assert _listed_numbers(clerk.get("/register?unit=saraban.latkrabang")) == [f"3/{year}", f"2/{year}", f"1/{year}"]
    for typed in (f"2/{year}", f" 2 / {year} ", f"เลขรับ 2/{year}"):
        found = clerk.get(f"/register?unit=saraban.latkrabang&year={year}&q={quote(typed)}")
        assert found.status == 200 and _listed_numbers(found) == [f"2/{year}"], (typed, _listed_numbers(found))
    # the year typed is the book's: the form's select at another year follows it
    found = clerk.get(f"/register?unit=saraban.latkrabang&year={year - 1}&q={quote(f'1/{year}')}")
    assert _listed_numbers(found) == [f"1/{year}"] and f'<option value="{year}" selected>' in found.text
    # the reference is still found by its digits, and a text search as before
    assert _listed_numbers(clerk.get(f"/register?unit=saraban.latkrabang&q={quote('0407/ว 57')}")) == [
        f"3/{year}", f"2/{year}", f"1/{year}"]
    assert len(_listed_numbers(clerk.get(f"/register?unit=saraban.latkrabang&q={quote('S56PRINT')}"))) == 3
