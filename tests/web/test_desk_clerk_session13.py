"""A new clerk's first day at the desk, and a careless colleague's (session 13), over
plain HTTP against the real daemon (SQLite): a held letter decided twice (two clerks,
or the back button after a release) and a letter cancelled twice were answered with
the command line's English sentence; the trails showed raw codes (letter_assigned,
folder: done); a page number past the last page showed an empty register; a day typed
the Thai way (30/11/2569) was silently no filter; Arabic digits did not find a
reference written in Thai digits (กท.๐๔๐๗/ว.๕๗), nor Thai digits a subject's 2569; the
secret registrar's audit trail had an English column and codes (view, view_file)."""
from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import urlencode

import pytest

from rules.thai_text import arabic_to_thai
from rules.thai_time import BANGKOK
from tests.classified.helpers import classified_letter
from tests.letters import letter, make_pdf
from tests.web.client import Answer, signed_in
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
SUBJECT = "ขอเชิญประชุมคณะกรรมการประจำปี 2569"
CLI_WORDS = ("quarantine entry", "saraban-gateway", "already", "--reason", "register")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"), ("dang", "clerk", "saraban.latkrabang"),
             ("rlat", "registrar", "saraban.latkrabang"))
    letters = ((classified_letter(marker="MARK-S13")[0], LAT),
               (letter(subject=SUBJECT, files=[("a.pdf", make_pdf("a"))]), LAT),
               *((letter(subject=f"หนังสือไม่มีไฟล์แนบ {n}", files=[]), LAT) for n in range(3)))  # held: no document
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters) as desk:
        yield desk


def held(desk: Desk) -> list[int]:
    return [i for (i,) in desk.db("SELECT id FROM quarantine WHERE state = 'held' ORDER BY id")]


def letter_id(desk: Desk) -> int:
    [(found,)] = desk.db("SELECT id FROM letters WHERE subject = ?", SUBJECT)
    return found


def shown(answer: Answer) -> str:
    """The page's text as a person reads it."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", answer.text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def listed(answer: Answer) -> bool:
    return SUBJECT in answer.text


def test_a_held_letter_decided_twice_is_answered_in_thai(desk):
    somchai, dang = signed_in(desk.url, "somchai"), signed_in(desk.url, "dang")
    first, second = held(desk)[:2]
    done = somchai.post("/quarantine", [("action", "release"), ("id", str(first)), ("reason", "ผอ.สั่งให้รับ")])
    assert done.status == 200 and "รับเข้าทะเบียนแล้ว" in done.outcomes()[0]
    [(number, year)] = desk.db("SELECT number, year FROM letters WHERE queue_id = "
                               "(SELECT queue_id FROM quarantine WHERE id = ?)", first)
    number = f"{number}/{year}"
    # dang's page was open before the release; the back button does the same for somchai
    for client, action in ((dang, "release"), (dang, "reject"), (somchai, "release")):
        again = client.post("/quarantine", [("action", action), ("id", str(first)), ("reason", "ซ้ำ")])
        assert again.status == 200
        [outcome] = again.outcomes()
        assert "รับเข้าทะเบียนไปแล้ว" in outcome and number in outcome and "web:somchai" in outcome, outcome
        assert not any(w in outcome for w in CLI_WORDS), outcome

    assert somchai.post("/quarantine", [("action", "reject"), ("id", str(second)),
                                        ("reason", "ไม่มีไฟล์")]).outcomes() == [f"#{second}: ปฏิเสธแล้ว"]
    [outcome] = dang.post("/quarantine", [("action", "release"), ("id", str(second)), ("reason", "x")]).outcomes()
    assert "ปฏิเสธไปแล้ว" in outcome and not any(w in outcome for w in CLI_WORDS), outcome


def test_a_letter_cancelled_twice_is_answered_in_thai(desk):
    somchai, dang = signed_in(desk.url, "somchai"), signed_in(desk.url, "dang")
    # another letter of its own: the register tests below want SUBJECT's letter as it is
    desk.daemon.send(letter(subject="หนังสือที่ลงซ้ำ", files=[("b.pdf", make_pdf("b"))]), LAT)
    desk.daemon.wait_idle(120)
    [(doubled,)] = desk.db("SELECT id FROM letters WHERE subject = 'หนังสือที่ลงซ้ำ'")
    assert somchai.post(f"/letters/{doubled}/cancel", {"reason": "ลงซ้ำ"}).status == 303
    again = dang.post(f"/letters/{doubled}/cancel", {"reason": "ลงซ้ำ"})
    assert again.status == 409
    [error] = again.errors()
    assert "ยกเลิกไปแล้ว" in error and not any(w in error for w in CLI_WORDS), error


def test_the_trails_say_in_words_what_happened(desk):
    somchai = signed_in(desk.url, "somchai")
    found = letter_id(desk)
    assert somchai.post(f"/letters/{found}/assign", {"department": "ฝ่ายโยธา"}).status == 303
    assert somchai.post(f"/letters/{found}/note", {"note": "โทรแจ้งแล้ว"}).status == 303
    page = shown(somchai.get(f"/letters/{found}"))
    for code in ("letter_assigned", "letter_note_added", "folder:", "notice:", "done", "pending", " bytes"):
        assert code not in page, (code, page)
    assert "มอบหมายให้หน่วย" in page and "ส่งเข้าโฟลเดอร์ของหน่วยงาน" in page and "ไบต์" in page

    released = [i for (i,) in desk.db("SELECT id FROM quarantine WHERE state != 'held'")]
    for entry in released:
        page = shown(somchai.get(f"/quarantine/{entry}"))
        for code in ("quarantine_released", "quarantine_rejected", " bytes"):
            assert code not in page, (code, page)
        assert "รับเข้าทะเบียน" in page or "ปฏิเสธ" in page


def test_a_page_number_past_the_last_shows_the_last_page(desk):
    clerk = signed_in(desk.url, "somchai")
    for wanted in ("999", "100000"):
        answer = clerk.get(f"/register?page={wanted}")
        assert answer.status == 200 and listed(answer), wanted
        assert "หน้า 1/1" in shown(answer)


def test_a_day_in_the_buddhist_era_filters_the_register(desk):
    clerk = signed_in(desk.url, "somchai")
    # The day the letter was received in Bangkok, not the day the test runs: run just
    # after midnight there (17:00 UTC), "today" was the day after the letters came.
    [(received,)] = desk.db("SELECT received_at FROM letters WHERE subject = ?", SUBJECT)
    received = dt.datetime.fromisoformat(str(received))
    today = (received if received.tzinfo else received.replace(tzinfo=dt.timezone.utc)).astimezone(BANGKOK).date()
    tomorrow = today + dt.timedelta(days=1)

    def be(day: dt.date) -> str:
        return f"{day.day}/{day.month}/{day.year + 543}"

    for day in (be(today), arabic_to_thai(be(today)), f"{today.year + 543}-{today:%m-%d}", today.isoformat()):
        answer = clerk.get("/register?" + urlencode({"from": day, "to": day}))
        assert answer.status == 200 and listed(answer), day
        assert f'value="{today.isoformat()}"' in answer.text, day  # the date field shows the day taken
    for day in (be(tomorrow), arabic_to_thai(be(tomorrow))):
        answer = clerk.get("/register?" + urlencode({"from": day}))
        assert answer.status == 200 and not listed(answer), day
    for bad in ("31/02/2569", "พรุ่งนี้", "30-11"):
        answer = clerk.get("/register?" + urlencode({"from": bad}))
        assert answer.status == 400 and "วันที่" in shown(answer), bad
        assert "Traceback" not in answer.text


def test_arabic_and_thai_digits_find_each_other(desk):
    clerk = signed_in(desk.url, "somchai")
    # the register keeps ที่ as กท 0407/ว 57; the letter says กท.๐๔๐๗/ว.๕๗
    for term in ("0407", "๐๔๐๗", "กท.0407", "กท.๐๔๐๗/ว.๕๗", "ว.57", "๒๕๖๙", "2569", "ประจำปี ๒๕๖๙"):
        answer = clerk.get("/register?" + urlencode({"q": term}))
        assert answer.status == 200 and listed(answer), term


def test_an_export_year_written_wrong_says_how_to_write_it(desk):
    clerk = signed_in(desk.url, "somchai")
    for typed in ("30/11/2569", "2026", "ปีนี้"):
        answer = clerk.post("/export", {"unit": "saraban.latkrabang", "year": typed, "format": "csv"})
        assert answer.status == 400, typed
        [error] = answer.errors()
        assert error == f"ปี พ.ศ. ไม่ถูกต้อง กรุณาเขียนเป็นตัวเลขสี่หลัก เช่น 2569 ({typed})", error
    thai = clerk.post("/export", {"unit": "saraban.latkrabang", "year": "๒๕๖๙", "format": "csv"})
    assert thai.status == 200 and thai.body.startswith(b"\xef\xbb\xbf")  # Excel reads the Thai


def test_the_audit_trail_says_what_was_opened_in_thai(desk):
    rlat = signed_in(desk.url, "rlat")
    [(secret,)] = desk.db("SELECT id FROM letters WHERE book = 'secret'")
    assert rlat.post(f"/letters/{secret}/reveal", {"confirm": "yes"}).status == 200
    page = shown(rlat.get("/secret/audit"))
    assert "เปิดดูเนื้อหา" in page and "การเปิดดู" in page, page
    assert not re.search(r"\b(view|action)\b", page), page


def test_a_form_sent_after_the_session_ended_says_so(desk):
    clerk = signed_in(desk.url, "somchai")
    token = clerk.csrf()
    found = letter_id(desk)
    assert clerk.post("/logout", {}).status in (200, 303)  # or the session's hours ran out
    clerk._csrf = token
    answer = clerk.post(f"/letters/{found}/note", {"note": "บันทึกที่พิมพ์ไว้ยาว ๆ"})
    assert answer.status == 403
    text = shown(answer)
    assert "การเข้าสู่ระบบหมดอายุ" in text and "ยังไม่ได้บันทึก" in text and 'href="/login"' in answer.text
    assert desk.db("SELECT count(*) FROM letter_notes WHERE text LIKE 'บันทึกที่พิมพ์ไว้%'") == [(0,)]


def test_switching_language_keeps_the_filtered_register_and_stays_on_this_site(desk):
    clerk = signed_in(desk.url, "somchai")
    filtered = "/register?" + urlencode({"q": "ประชุม", "review": "1"})
    page = clerk.get(filtered)
    back = html.unescape(re.search(r'name="back" value="([^"]*)"', page.text).group(1))
    assert back == filtered  # the filter was dropped: the clerk searched again after switching
    answer = clerk.post("/lang", {"lang": "en", "back": back})
    assert answer.status == 303 and answer.header("location") == filtered
    for elsewhere in ("/\\evil.example/", "//evil.example/", "/\\\\evil.example", "https://evil.example/"):
        answer = clerk.post("/lang", {"lang": "th", "back": elsewhere})
        assert answer.header("location") == "/register", elsewhere
        answer = clerk.post("/digits", {"on": "1", "back": elsewhere})
        assert answer.header("location") == "/register", elsewhere


def test_session16_a_classified_letter_s_files_read_signatures_not_checked(desk):
    """The gateway verifies no signature of a classified letter (its registrar does): the
    letter page said "ไม่มีลายมือชื่อ" (no signature) for its signed PDF all the same.
    (Since session 16 a ZIP's PDFs are verified: an ordinary ZIP's row says what was found.)"""
    [(found,)] = desk.db("SELECT id FROM letters WHERE secrecy != 'none'")
    page = shown(signed_in(desk.url, "rlat").get(f"/letters/{found}"))
    assert "ไม่ได้ตรวจลายมือชื่อ" in page and "ไม่มีลายมือชื่อ" not in page, page
