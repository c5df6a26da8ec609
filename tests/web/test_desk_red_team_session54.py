"""Session 54's red team of the desk, over plain HTTP against the real daemon (SQLite).

* A paper letter's scans attached at the emergency form with Thai names (หนังสือนำ.pdf,
  สิ่งที่ส่งมาด้วย 1.pdf, as a scanner's folder or a clerk names them) were registered,
  shown on the letter's page, downloaded and filed into the unit's folder as
  หน_งส_อนำ.pdf and ส_งท_ส_งมาด_วย_1.pdf: every Thai vowel and tone mark written
  above or below its letter, and each space, was made an `_`. `register
  import-emergency` keeps the name as the file has it.
* The sender typed on the emergency form was pasted into the From header of the copy
  filed into the unit's folder: "สำนักงานเขตบางกะปิ (ฝ่ายทะเบียน" (a bracket left open)
  filed it with no address at all, "ก.ท.ม.; สำนักการคลัง" as from "ก.ท.ม." with no
  address, "ฝ่ายโยธา: งานทาง" without "ฝ่ายโยธา", and "ผอ.เขต <somchai@gmail.example>"
  as from that address: the department's mail client showed it, and a reply went there.
* The emergency form cut every field at 1,000 characters without a word.
* The printed register book left out every character its Thai font lacks (≥, €, ✓).
* A letter's page drawn before another clerk cancelled the entry (or the cancelled
  entry's own page) passed the void number to a department all the same: "saved", and
  the register showed the cancelled entry assigned.
* A paper letter scanned one picture a page (21 files) was refused with "the form holds
  too many fields or files, or too long a text", and a form over `max_upload_mb` with
  "ไฟล์ใหญ่เกินกำหนด" alone: neither said the limit, nor that nothing was saved.
* The session's cookie was kept on disk for session_hours: Chromium closed without
  signing out and opened again by the next person at the counter was still signed in.
* The sign-in page had no language switch (the top bar's needs a session): its
  refusals were in Thai for whoever had not used English before.
"""
from __future__ import annotations

import email
import email.message
import email.policy
import html
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.letters import make_pdf
from tests.web.client import signed_in
from tests.web.conftest import Desk, running_desk


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s54clerk", "clerk", "saraban.latkrabang"), ("s54other", "clerk", "saraban.latkrabang"))
    with running_desk(tmp_path_factory.mktemp("s54"), users, (), extra="max_upload_mb = 2\n") as desk:
        yield desk


def emergency(desk: Desk, number: str, subject: str, scans: list[tuple[str, bytes]],
              sender: str = "สำนักการระบายน้ำ"):
    clerk = signed_in(desk.url, "s54clerk")
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", number), ("received_at", "6/3/2569 09.25 น."),
              ("sender", sender), ("subject", subject), ("do", "import")]
    answer = clerk.post_multipart("/emergency", fields, [("scans", name, data) for name, data in scans])
    assert answer.status == 200, answer.text[-2000:]
    found = desk.db("SELECT id FROM letters WHERE subject = ?", subject)
    assert found, f"no letter in the register with the subject typed: {subject[:80]}"
    return clerk, found[0][0]


def filed(desk: Desk, subject: str) -> email.message.EmailMessage:
    """The copy of the letter of this subject in the unit's folder, as a mail client reads it."""
    desk.daemon.wait_idle(60)
    folder = Path(desk.daemon.config).parent / "var" / "folders" / "latkrabang" / "new"
    for path in folder.iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if subject in str(message.get("Subject", "")):
            return message
    raise AssertionError(f"no message of {subject} in {folder}")


def filed_names(desk: Desk, subject: str) -> list[str]:
    return [part.get_filename() for part in filed(desk, subject).iter_attachments()]


def test_thai_names_of_emergency_scans_are_kept(desk):
    names = ["หนังสือนำ.pdf", "สิ่งที่ส่งมาด้วย 1.pdf"]
    clerk, letter_id = emergency(desk, "ปท 0013 / ฉ 541", "ขอเชิญประชุม S54NAMES",
                                 [(name, make_pdf(name)) for name in names])
    page = clerk.get(f"/letters/{letter_id}")
    shown = re.findall(rf'href="/letters/{letter_id}/files/\d+"[^>]*>([^<]*)<', page.text)
    assert shown == names, shown
    for position, name in enumerate(names):
        got = clerk.get(f"/letters/{letter_id}/files/{position}")
        disposition = got.header("content-disposition") or ""
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == name, disposition
    assert filed_names(desk, "S54NAMES") == names


def test_what_cannot_stand_in_a_scans_name_still_goes(desk):
    # A folder, the sheet's separators between scans, a leading dot, a right-to-left
    # override: the scan is registered under a name that holds none of them.
    clerk, letter_id = emergency(desk, "ปท 0013 / ฉ 542", "ชื่อไฟล์แปลก S54ODD",
                                 [("../ร่าง;ฉบับจริง|x.pdf", make_pdf("one")), (".สแกน\u202efdp.exe", make_pdf("two"))])
    page = clerk.get(f"/letters/{letter_id}")
    shown = re.findall(rf'href="/letters/{letter_id}/files/\d+"[^>]*>([^<]*)<', page.text)
    assert len(shown) == 2, shown
    assert all("/" not in name and ";" not in name and "|" not in name and not name.startswith(".")
               and "\u202e" not in name and name.endswith(".pdf") for name in shown), shown
    assert "ร่าง_ฉบับจริง_x.pdf" in shown[0] and shown[1] == "สแกนfdp.pdf", shown


@pytest.mark.parametrize("n, sender", list(enumerate([
    "สำนักงานเขตบางกะปิ (ฝ่ายทะเบียน",  # a bracket left open
    "ก.ท.ม.; สำนักการคลัง",
    "ฝ่ายโยธา: งานทาง",
    "ผอ.เขต <somchai@gmail.example>, สำนักงานเขต",
    'บริษัท "ทดสอบ" จำกัด \\',
])))
def test_the_filed_copy_is_from_the_unit_whatever_sender_was_typed(desk, n, sender):
    subject = f"ผู้ส่งพิมพ์เอง S54FROM{n}"
    clerk, letter_id = emergency(desk, f"ปท 0013 / ฉ 55{n}", subject, [("scan.pdf", make_pdf(subject))], sender)
    shown = clerk.get(f"/letters/{letter_id}")
    assert sender in html.unescape(shown.text)  # the letter's page keeps it as typed
    addresses = filed(desk, subject)["From"].addresses
    assert [a.addr_spec for a in addresses] == ["saraban.latkrabang@bangkok.go.th"], addresses
    if "@" in sender:
        # The filing's own rule for a display name naming another address than the
        # sender's: only the address is shown (X-Saraban-From-Note).
        assert addresses[0].display_name == ""
        return
    # (Python's parser keeps the space between two encoded words of a display name;
    # a mail client joins them)
    assert "".join(f"{sender} (สมุดทะเบียนฉุกเฉิน)".split()) == "".join(addresses[0].display_name.split())


def test_a_long_subject_typed_at_the_emergency_form_is_registered_whole(desk):
    # A เรื่อง of 1,286 characters (a long one pasted from the paper letter) was cut at
    # 1,000 without a word: the register kept it without its end.
    subject = "ขออนุมัติโครงการพัฒนาคุณภาพชีวิต S54LONG " + "ประชาชนในเขต " * 95 + "ท้ายเรื่อง"
    assert len(subject) > 1000
    clerk, letter_id = emergency(desk, "ปท 0013 / ฉ 561", subject, [("scan.pdf", make_pdf("S54LONG"))])
    assert subject in html.unescape(clerk.get(f"/letters/{letter_id}").text)
    assert desk.db("SELECT subject FROM letters WHERE id = ?", letter_id) == [(subject,)]


def test_the_printed_book_leaves_out_no_character_of_a_subject(desk, tmp_path):
    # TLWG Garuda has Thai and Latin-1 only: the printed register (the desk's
    # พิมพ์/ส่งออก, `register export --format pdf`) left out every other character
    # without a trace, "โครงการ ≥ 500,000 บาท" printed as "โครงการ  500,000 บาท".
    import unicodedata

    import pypdf

    subject = "จัดซื้อเครื่องวัด ≥ 500,000 € ✓ Ω 会议 S54GLYPH"
    emergency(desk, "ปท 0013 / ฉ 571", subject, [("scan.pdf", make_pdf("S54GLYPH"))])
    clerk = signed_in(desk.url, "s54clerk")
    book = clerk.post("/export", {"unit": "saraban.latkrabang", "book": "general", "format": "pdf", "year": "2569"})
    assert book.status == 200 and book.body.startswith(b"%PDF"), book.errors()
    (tmp_path / "book.pdf").write_bytes(book.body)
    text = unicodedata.normalize("NFKC", "".join(page.extract_text() for page in pypdf.PdfReader(tmp_path / "book.pdf").pages))
    row = " ".join(text.split())  # the book's one row, however its cells are laid out
    assert "จัดซื้อเครื่องวัด" in row, row
    # Debian's fonts-dejavu-core (register_pdf.py FALLBACK_FONTS): drawn, else written out
    drawn = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists()
    for ch in "≥€✓Ω":
        assert (ch if drawn else f"\\u{ord(ch):04x}") in row, row
    assert "\\u4f1a\\u8bae" in row, row  # in no font of the book: written out, never left out


def test_a_cancelled_entry_is_assigned_to_no_department(desk):
    clerk, letter_id = emergency(desk, "ปท 0013 / ฉ 581", "ขอเชิญประชุม S54CANCEL", [("scan.pdf", make_pdf("S54CANCEL"))])
    page = clerk.get(f"/letters/{letter_id}")  # drawn while the entry stands
    assert f'action="/letters/{letter_id}/assign"' in page.text
    other = signed_in(desk.url, "s54other")
    assert other.post(f"/letters/{letter_id}/cancel", {"reason": "ลงซ้ำกับเลขรับก่อนหน้า"}).status == 303
    answer = clerk.post(f"/letters/{letter_id}/assign", {"department": "ฝ่ายโยธา", "seen": "0"})
    assert answer.status == 409, answer.status
    number = desk.db("SELECT number, year FROM letters WHERE id = ?", letter_id)[0]
    said = f"เลขรับ {number[0]}/{number[1]} ยกเลิกแล้ว โดย web:s54other เมื่อ"
    assert any(said in e and "จึงมอบหมายให้ฝ่ายใดไม่ได้" in e for e in answer.errors()), answer.errors()
    assert desk.db("SELECT count(*) FROM letter_assignments WHERE letter_id = ?", letter_id) == [(0,)]
    assert desk.db("SELECT count(*) FROM operator_actions WHERE letter_id = ? AND action = 'letter_assigned'",
                   letter_id) == [(0,)]
    # The entry's page offers no assignment any more; a note still goes.
    page = clerk.get(f"/letters/{letter_id}")
    assert f'action="/letters/{letter_id}/assign"' not in page.text
    assert clerk.post(f"/letters/{letter_id}/note", {"note": "ดูเลขรับก่อนหน้า", "seen": "0"}).status == 303


def test_too_many_scans_or_too_large_a_form_is_told_with_its_limit(desk):
    clerk = signed_in(desk.url, "s54clerk")
    page = html.unescape(clerk.get("/emergency").text)
    assert "≤ 2 MB, ≤ 20 ไฟล์" in page  # the limits, on the form
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", "ปท 0013 / ฉ 591"), ("received_at", "6/3/2569 09.25 น."),
              ("sender", "สำนักการคลัง"), ("subject", "สแกนทีละหน้า S54PAGES"), ("do", "import")]
    pages = [("scans", f"page{n}.pdf", make_pdf(f"page {n}")) for n in range(21)]
    answer = clerk.post_multipart("/emergency", fields, pages)
    assert answer.status == 400
    text = html.unescape(answer.text)
    assert "แนบไฟล์ได้ไม่เกิน 20 ไฟล์ต่อครั้ง จึงยังไม่ได้บันทึกสิ่งใด" in text and "PDF ไฟล์เดียว" in text, text[-1500:]
    assert "Traceback" not in text and "Too many files" not in text
    # Over max_upload_mb (2 MB here): refused before it is read, the limit said.
    answer = clerk.post_multipart("/emergency", fields, [("scans", "big.pdf", make_pdf("big") + b"%" * 3_000_000)])
    assert answer.status == 413
    text = html.unescape(answer.text)
    assert "มีขนาดเกิน 2 MB จึงยังไม่ได้บันทึกสิ่งใด" in text, text[-1500:]
    assert desk.db("SELECT count(*) FROM letters WHERE subject = ?", "สแกนทีละหน้า S54PAGES") == [(0,)]
    # in English
    assert clerk.post("/lang", {"lang": "en", "back": "/emergency"}).status == 303
    answer = clerk.post_multipart("/emergency", fields, pages)
    assert "At most 20 files can be attached at once, so nothing was saved" in html.unescape(answer.text)


def test_closing_the_browser_ends_the_desk_for_the_next_person(desk, tmp_path):
    # At a counter's shared computer: the session's cookie was kept on disk for
    # session_hours (Max-Age), and a clerk who closed Chromium without signing out
    # left it signed in for whoever opened it next, acting in the clerk's name.
    import os

    from playwright.sync_api import sync_playwright

    from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.web.test_desk_browser import sign_in

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    profile = tmp_path / "chromium-profile"  # the counter computer's one browser profile
    with sync_playwright() as playwright:
        def browser():
            return playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

        context = browser()
        page = context.new_page()
        sign_in(page, desk, "s54clerk")
        page.wait_for_url("**/register")
        assert "s54clerk" in page.content()
        [session] = [c for c in context.cookies() if c["name"].endswith("saraban_session")]
        assert session["expires"] == -1, session  # a cookie of this browser session only
        context.close()  # closed without signing out

        context = browser()  # the next person opens the browser
        try:
            page = context.new_page()
            page.goto(desk.url + "/register")
            assert page.url.endswith("/login"), page.url
            assert "s54clerk" not in page.content()
        finally:
            context.close()


def test_the_sign_in_page_has_its_own_language_switch(desk, browser, shot):
    # The language switch is in the top bar, for people signed in: the sign-in page and
    # its refusals were in Thai for whoever had not signed in in English before.
    from tests.web.conftest import PASSWORD

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(desk.url + "/login")
        assert page.locator("h1").inner_text() == "เข้าสู่ระบบ"
        page.click("text=English")
        page.wait_for_url("**/login")
        assert page.locator("h1").inner_text() == "Sign in"
        page.fill("input[name=username]", "s54clerk")
        page.fill("input[name=password]", "not the password at all")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "Wrong user name or password." in page.locator("p.error").inner_text()
        shot(page)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/register")
        assert page.locator("h1").inner_text().startswith("Receive register")
        # and back, signed out
        page.goto(desk.url + "/login?lang=th")
        assert page.locator("h1").inner_text() == "เข้าสู่ระบบ"
        assert page.url.endswith("/login")
    finally:
        context.close()
