"""Session 53's red team of the desk, over plain HTTP against the real daemon (SQLite).

* A paper letter entered through the emergency form with สระอำ written as its two
  parts, nikhahit and sara aa (ํ + า: what a PDF's text layer, copied into the form,
  holds, and what some keyboards type), was stored as typed, while the search box
  rewrites every term to the one-character ำ (rules/thai_text.py normalise_typed): the
  letter was found neither by "คำสั่ง" as a clerk types it nor by the very text pasted
  again. The sender typed on the form, the same.
* A subject, or a sender's address, with a run that has no place to break (a link of 300
  characters) made the register, the letter's page and the held list 2,700 to 3,000 px
  wide in Chromium on the office's 1366 px screen: the receive number's column and the
  buttons were reached only by scrolling sideways.
* A note typed in lines (kept with them since session 38) was drawn on the letter's
  page as one run of text.
* On the held list and a held entry's page, Enter in the reason's field sent the form
  with its first button, รับเข้าทะเบียน (release): a clerk who typed why they rejected
  a letter and pressed Enter registered it, took a receive number that is never given
  back, and sent its sender the acknowledgement.
* A wrong password (or a directory that could not be asked, or a sign-in form that had
  expired) gave the sign-in form back empty: the clerk typed the user name again each
  time, and the cursor was in the name's field, not the password's.
* The held list's release/reject form refused for want of a tick (the reason typed) or
  of a reason (a reason of spaces, which the browser's `required` lets through, thirty
  entries ticked) came back with neither the reason nor the ticks.
* The Back button after a release on the held list (or an import on the emergency form,
  or a classified letter opened) showed Chromium's own English page, "Confirm Form
  Resubmission" (net::ERR_CACHE_MISS), and its Reload sent the release again.
* After ตรวจสอบ (check) the emergency form said "ข้อมูลถูกต้อง กด "ลงทะเบียน" เพื่อบันทึก"
  (press Register), but a browser keeps no file in a form drawn again: the scan field was
  empty, and ลงทะเบียน as told met the browser's own "Please select a file." bubble.
* A letter whose Subject header held 300,000 characters put them all in the register's
  list and the held list: 0.9 MB of one cell, for every clerk opening the register, and
  the rows below it thousands of lines down (50 such letters: a 44 MB page).
* Printing December's letters in January with the form's year left at the new year
  (its default), or with the days typed the wrong way round, downloaded an empty book
  (0 entries, a PDF with its headings and no row) without a word.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import quote

import pytest

from rules.thai_time import BANGKOK
from tests.letters import letter, make_pdf
from tests.web.client import Client, signed_in
from tests.web.conftest import Desk, running_desk
from tests.web.test_desk_browser import sign_in

LAT = "saraban.latkrabang@bangkok.go.th"
AM = "\u0e4d\u0e32"  # nikhahit + sara aa: สระอำ in two parts
# A Subject header of 174,000 characters, which SMTP takes (a folded header has no limit
# of its own; the header block has one since session 54, [smtp] max_header_size, 1 MiB:
# it had 290,000 characters, 1.4 MB encoded)
LONG_SUBJECT = "ขออนุมัติจัดซื้อวัสดุสำนักงาน " * 6000


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s53clerk", "clerk", "saraban.latkrabang"), ("s53login", "clerk", "saraban.latkrabang"))
    letters = ((letter(subject="หนังสือธรรมดา S53"), LAT),
               (letter(subject="หนังสือไม่มีไฟล์แนบ S53HELD หนึ่ง", files=[]), LAT),  # held: no document
               (letter(subject="หนังสือไม่มีไฟล์แนบ S53HELD สอง", files=[]), LAT),
               (letter(subject="S53LONG " + LONG_SUBJECT), LAT),
               (letter(subject="หนังสือไม่มีไฟล์แนบ S53LONG " + LONG_SUBJECT, files=[]), LAT))
    with running_desk(tmp_path_factory.mktemp("s53"), users, letters) as desk:
        yield desk


def listed(answer) -> str:
    """The register page's rows as a person reads them."""
    body = re.search(r"<tbody>(.*?)</tbody>", answer.text, re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body[1]))) if body else ""


def search(client: Client, term: str):
    answer = client.get(f"/register?unit=saraban.latkrabang&q={quote(term)}")
    assert answer.status == 200, answer.errors()
    return listed(answer)


def emergency(client: Client, do: str, **fields):
    form = {"unit": "saraban.latkrabang", "received_at": "2569-03-05 10:30", "sender": "สำนักการคลัง", **fields,
            "do": do}
    return client.post_multipart("/emergency", list(form.items()), [("scans", "scan.pdf", make_pdf("scan"))])


def test_an_emergency_letter_pasted_with_sara_am_in_two_parts_is_found_by_search(desk: Desk):
    clerk = signed_in(desk.url, "s53clerk")
    subject = f"ขอส่ง{'ค' + AM}สั่งแต่งตั้งคณะท{AM}งาน S53EMG"
    done = emergency(clerk, "import", emergency_no="ลก 0403 / ฉ 531", subject=subject,
                     sender=f"ส{AM}นักการคลัง S53EMG")
    assert done.status == 200, done.errors()
    # As a clerk types it, and as pasted from the same PDF again: both find the letter.
    for term in ("คำสั่งแต่งตั้ง", f"ค{AM}สั่งแต่งตั้ง", "คณะทำงาน", "สำนักการคลัง S53"):
        assert "S53EMG" in search(clerk, term), term
    # and the register shows the subject in the form search and sorting use
    assert "ขอส่งคำสั่งแต่งตั้งคณะทำงาน S53EMG" in search(clerk, "S53EMG")



# --- a subject or a name with no place to break, in a real browser ---------------------------

LONG_TOKEN = "https://drive.example.com/" + "x" * 300 + "S53WIDE"
LONG_SENDER = "saraban." + "w" * 55 + "@" + "d" * 60 + "." + "e" * 60 + ".example"


@pytest.fixture(scope="module")
def wide_desk(tmp_path_factory):
    from tests.letters import letter as mail

    users = (("s53wide", "clerk", "saraban.latkrabang"),)
    long_name = letter(subject=f"ขอส่งเอกสาร {LONG_TOKEN}")
    letters = ((mail(subject="หนังสือธรรมดา S53 ก่อน", sender=LONG_SENDER), LAT), (long_name, LAT),
               (mail(subject=f"หนังสือไม่มีไฟล์แนบ {LONG_TOKEN}", files=[]), LAT),  # held
               (mail(subject="หนังสือไม่มีไฟล์แนบ S53ENTER list", files=[]), LAT),
               (mail(subject="หนังสือไม่มีไฟล์แนบ S53ENTER entry", files=[]), LAT),
               (mail(subject="หนังสือไม่มีไฟล์แนบ S53BACK", files=[]), LAT))
    with running_desk(tmp_path_factory.mktemp("s53wide"), users, letters) as desk:
        yield desk


@pytest.mark.parametrize("path", ["/register", "/letter", "/quarantine"])
def test_a_subject_with_no_place_to_break_stays_on_a_1366_pixel_screen(browser, wide_desk, shot, path):
    context, page = _signed_in_page(browser, wide_desk, "s53wide")
    try:
        if path == "/letter":
            [(found,)] = wide_desk.db("SELECT id FROM letters WHERE subject LIKE '%S53WIDE'")
            path = f"/letters/{found}"
        page.goto(wide_desk.url + path)
        page.wait_for_load_state()
        assert "S53WIDE" in page.content()
        # The page is as wide as the screen: no sideways scrolling to reach the receive
        # number, the buttons or the rest of the row.
        width = page.evaluate("document.documentElement.scrollWidth")
        shot(page)
        assert width <= 1366, width
    finally:
        context.close()


# --- the sign-in form keeps the name typed -------------------------------------------------

def _field(answer, name: str) -> str:
    return re.search(rf'<input name="{name}"[^>]*>', answer.text)[0]


def test_a_wrong_password_gives_the_form_back_with_the_name_typed(desk: Desk):
    client = Client(desk.url)
    refused = client.sign_in("S53Login", "not the password 1")
    assert refused.status == 401 and refused.errors() == ["ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"]
    assert 'value="S53Login"' in _field(refused, "username")
    # the cursor waits in the password's field, and the password is not given back
    assert "autofocus" in re.search(r'<input name="password"[^>]*>', refused.text)[0]
    assert "autofocus" not in _field(refused, "username")
    assert "not the password 1" not in refused.text
    # what a name may hold is shown as text, never as markup
    hostile = client.sign_in('"><script>alert(1)</script>', "not the password 1")
    assert hostile.status == 401 and "<script>alert(1)" not in hostile.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in _field(hostile, "username")
    assert client.sign_in("s53login").status == 303


# --- the held list's form keeps its reason and its ticks -------------------------------------

def _reason_field(answer) -> str:
    return html.unescape(re.search(r'<input name="reason"[^>]*>', answer.text)[0])


def _ticked(answer) -> list[str]:
    return re.findall(r'<input type="checkbox" name="id" value="(\d+)" class="pick" checked>', answer.text)


def test_a_refused_release_or_reject_keeps_the_reason_and_the_ticks(desk: Desk):
    clerk = signed_in(desk.url, "s53clerk")
    held = [str(i) for (i,) in desk.db("SELECT id FROM quarantine WHERE state = 'held' AND subject LIKE "
                                         "'%S53HELD%' ORDER BY id")]
    assert len(held) == 2
    no_tick = clerk.post("/quarantine", [("action", "reject"), ("reason", "ส่งผิดหน่วยงาน \"S53\" ขอให้ส่งใหม่")])
    assert no_tick.status == 400 and no_tick.errors()[0].startswith("ยังไม่ได้เลือกรายการ"), no_tick.errors()
    assert 'value="ส่งผิดหน่วยงาน "S53" ขอให้ส่งใหม่"' in _reason_field(no_tick)
    no_reason = clerk.post("/quarantine", [("action", "release"), ("reason", "   ")] + [("id", i) for i in held])
    assert no_reason.status == 400, no_reason.errors()
    assert sorted(_ticked(no_reason)) == held
    assert desk.db("SELECT count(*) FROM quarantine WHERE state = 'held' AND subject LIKE '%S53HELD%'") == [(2,)]


def test_a_note_of_several_lines_is_shown_in_its_lines(browser, wide_desk, shot):
    """The note is kept with its lines (session 38), but the letter's page drew it as
    one run of text: "1. ส่งฝ่ายโยธา 2. แจ้งผู้อำนวยการ" for the list the clerk typed."""
    context, page = _signed_in_page(browser, wide_desk, "s53wide")
    try:
        [(found,)] = wide_desk.db("SELECT id FROM letters WHERE subject = 'หนังสือธรรมดา S53 ก่อน'")
        page.goto(f"{wide_desk.url}/letters/{found}")
        page.fill("textarea[name=note]", "1. ส่งฝ่ายโยธา S53NOTE\n2. แจ้งผู้อำนวยการเขต")
        page.click("form[action$='/note'] button[type=submit]")
        page.wait_for_load_state()
        note = page.locator("li", has_text="S53NOTE")
        note.scroll_into_view_if_needed()
        shown = note.inner_text()
        shot(page)
        assert "S53NOTE\n2. แจ้งผู้อำนวยการเขต" in shown, shown
    finally:
        context.close()


# --- the export's days and year ------------------------------------------------------------

@pytest.mark.parametrize("lang", ["th", "en"])
def test_days_outside_the_year_or_reversed_are_refused_not_an_empty_book(desk: Desk, lang):
    from tests.tools_helpers import this_be_year

    clerk = signed_in(desk.url, "s53clerk")
    clerk.post("/lang", {"lang": lang, "back": "/export"})
    year = this_be_year()
    today = dt.datetime.now(BANGKOK).date()
    first, last = max(today - dt.timedelta(days=1), dt.date(year - 543, 1, 1)), today
    december = {"unit": "saraban.latkrabang", "book": "general", "format": "pdf",
                "from": first.isoformat(), "to": last.isoformat()}
    # In January: the form's year is already the new one, the days are last December's.
    january = clerk.post("/export", {**december, "year": str(year + 1)})
    assert january.status == 400, (january.status, january.header("x-register-entries"))
    [said] = january.errors()
    if lang == "th":
        assert said == (f"วันที่ที่เลือกอยู่ในปี พ.ศ. {year} แต่ปีของทะเบียนที่เลือกคือ พ.ศ. {year + 1} "
                        f"ทะเบียนแต่ละปีมีเลขรับของตนเอง กรุณาเลือกปี พ.ศ. {year}"), said
    else:
        assert said == (f"The days chosen are in {year} (BE) but the register chosen is that of {year + 1}; "
                        f"each year's register has its own numbers: choose the year {year}."), said
    assert f'value="{year + 1}"' in january.text and f'value="{first.isoformat()}"' in january.text  # kept
    backwards = clerk.post("/export", {**december, "year": str(year), "from": last.isoformat(),
                                       "to": (last - dt.timedelta(days=1)).isoformat()})
    assert backwards.status == 400
    assert backwards.errors() == [("วันที่เริ่มต้องไม่อยู่หลังวันที่สิ้นสุด กรุณาสลับวันที่ทั้งสองช่อง" if lang == "th" else
                                   "The first day is after the last: swap the two days.")]
    printed = clerk.post("/export", {**december, "year": str(year), "format": "csv"})
    assert printed.status == 200 and int(printed.header("x-register-entries")) >= 1



def test_the_register_filtered_by_days_of_another_year_says_so(desk: Desk):
    from tests.tools_helpers import this_be_year

    clerk = signed_in(desk.url, "s53clerk")
    year = this_be_year()
    today = dt.datetime.now(BANGKOK).date().isoformat()
    page = clerk.get(f"/register?unit=saraban.latkrabang&year={year + 1}&from={today}&to={today}")
    assert page.status == 200
    assert page.errors() == [f"วันที่ที่เลือกอยู่ในปี พ.ศ. {year} แต่ปีของทะเบียนที่เลือกคือ พ.ศ. {year + 1} "
                             f"ทะเบียนแต่ละปีมีเลขรับของตนเอง กรุณาเลือกปี พ.ศ. {year}"]
    backwards = clerk.get(f"/register?unit=saraban.latkrabang&year={year}&from={today}&to=2000-01-01")
    assert backwards.errors() == ["วันที่เริ่มต้องไม่อยู่หลังวันที่สิ้นสุด กรุณาสลับวันที่ทั้งสองช่อง"]
    assert clerk.get(f"/register?unit=saraban.latkrabang&year={year}&from={today}&to={today}").errors() == []
    # an open end reaches into the year chosen: nothing to say
    assert clerk.get(f"/register?unit=saraban.latkrabang&year={year}&from={year - 544}-01-01").errors() == []
    assert clerk.get(f"/register?unit=saraban.latkrabang&year={year}&to={year - 542}-12-31").errors() == []


def _signed_in_page(browser, desk, username: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="th-TH")
    page = context.new_page()
    sign_in(page, desk, username)
    return context, page


@pytest.mark.parametrize("where", ["list", "entry"])
def test_enter_in_the_reason_field_neither_releases_nor_rejects(browser, wide_desk, shot, where):
    subject = f"หนังสือไม่มีไฟล์แนบ S53ENTER {where}"
    [(entry_id,)] = wide_desk.db("SELECT id FROM quarantine WHERE subject = ?", subject)
    context, page = _signed_in_page(browser, wide_desk, "s53wide")
    try:
        if where == "list":
            page.goto(wide_desk.url + "/quarantine")
            page.check(f'input.pick[value="{entry_id}"]')
        else:
            page.goto(f"{wide_desk.url}/quarantine/{entry_id}")
        page.fill("input[name=reason]", "ส่งผิดหน่วยงาน ขอให้ส่งใหม่")
        page.press("input[name=reason]", "Enter")
        page.wait_for_timeout(1500)
        page.wait_for_load_state()
        shot(page)
        assert wide_desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("held",)]
        assert wide_desk.db("SELECT count(*) FROM letters WHERE subject = ?", subject) == [(0,)]
        # the buttons, reached with Tab, still decide
        page.focus("button[value=reject]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert wide_desk.db("SELECT state FROM quarantine WHERE id = ?", entry_id) == [("rejected",)]
    finally:
        context.close()



# --- a subject of 174,000 characters ---------------------------------------------------------

def test_a_subject_of_174000_characters_is_cut_in_the_lists_and_whole_on_its_page(desk: Desk):
    clerk = signed_in(desk.url, "s53clerk")
    register = clerk.get("/register?unit=saraban.latkrabang")
    held = clerk.get("/quarantine")
    for page in (register, held):
        assert page.status == 200 and len(page.body) < 60_000, len(page.body)
    row = re.search(r'<a href="/letters/(\d+)">(S53LONG [^<]*)</a>', register.text)
    assert row and row[2].endswith("…") and len(row[2]) <= 1000, row and len(row[2])
    assert html.unescape(row[2]).startswith("S53LONG ขออนุมัติจัดซื้อวัสดุสำนักงาน ขออนุมัติ")
    assert re.search(r"หนังสือไม่มีไฟล์แนบ S53LONG [^<]{0,1000}…</a>", held.text)
    # the register keeps it whole, and the letter's page shows it whole
    assert LONG_SUBJECT.strip()[-40:] in clerk.get(f"/letters/{row[1]}").text



# --- the Back button after a button's page ----------------------------------------------------

def test_back_after_a_release_shows_the_held_list_not_the_browser_s_resubmission_page(browser, wide_desk, shot):
    [(entry_id,)] = wide_desk.db("SELECT id FROM quarantine WHERE subject = 'หนังสือไม่มีไฟล์แนบ S53BACK'")
    context, page = _signed_in_page(browser, wide_desk, "s53wide")
    try:
        page.goto(wide_desk.url + "/quarantine")
        page.check(f'input.pick[value="{entry_id}"]')
        page.fill("input[name=reason]", "ตรวจแล้ว ถูกต้อง")
        with page.expect_navigation():
            page.click("button[value=release]")
        assert "รับเข้าทะเบียนแล้ว" in page.locator("ul.results").inner_text()
        with page.expect_navigation():
            page.click("ul.results a")  # to the letter just registered
        page.go_back()  # raised net::ERR_CACHE_MISS: the page was a POST's answer
        page.wait_for_load_state()
        shot(page)
        assert page.url == wide_desk.url + "/quarantine" and "หนังสือที่กักไว้" in page.title()
        page.reload()  # a GET: the release is not sent again
        page.wait_for_load_state()
        assert page.locator("li.error").count() == 0
        assert wide_desk.db("SELECT count(*) FROM operator_actions WHERE action = 'quarantine_released' "
                            "AND quarantine_id = ?", entry_id) == [(1,)]
    finally:
        context.close()



@pytest.mark.parametrize("lang", ["th", "en"])
def test_after_a_check_the_emergency_form_says_to_attach_the_scan_again(browser, wide_desk, tmp_path, lang):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_pdf("scan S53CHECK"))
    context, page = _signed_in_page(browser, wide_desk, "s53wide")
    try:
        if lang == "en":
            with page.expect_navigation():
                page.click("header form[action='/lang'] button")
        page.goto(wide_desk.url + "/emergency")
        page.fill("input[name=emergency_no]", "ปท 0013 / ฉ 533")
        page.fill("input[name=received_at]", "5/3/2569 09.25")
        page.fill("input[name=sender]", "สำนักการคลัง")
        page.fill("input[name=subject]", f"หนังสือกระดาษ S53CHECK {lang}")
        page.set_input_files("input[name=scans]", str(scan))
        with page.expect_navigation():
            page.click("button[value=check]")
        told = page.locator("ul.results li.ok").inner_text()
        assert page.locator("input[name=scans]").input_value() == ""  # the browser keeps no file
        if lang == "th":
            assert told == "ตรวจสอบแล้ว ข้อมูลถูกต้อง แนบไฟล์สแกนอีกครั้ง แล้วกด \"ลงทะเบียน\" เพื่อบันทึก", told
        else:
            assert told == "Checked: all fields are right; attach the scan again, then press Register to enter it.", told
    finally:
        context.close()
