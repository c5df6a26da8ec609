"""The central unit's desk in a real browser (headless Chromium): what a clerk, a
secret registrar and an attacker see. One daemon serves the whole module; each test
has its own browser context (its own cookies) and leaves a screenshot in its tmp dir."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from rules.thai_text import arabic_to_thai
from tests.classified.helpers import MARKER, classified_letter
from tests.letters import letter, make_pdf
from tests.tools_helpers import this_be_year
from tests.web.conftest import PASSWORD, Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
DIN = "saraban.dindaeng@bangkok.go.th"
SUBJECT = "ขอเชิญประชุมคณะกรรมการพัฒนาเขตลาดกระบัง"
OTHER_SUBJECT = "ขอส่งรายงานการเงินประจำไตรมาส"


# A letter typed into the mail itself (held: no PDF), with what a hostile sender adds: markup,
# a terminal's escape sequence and a right-to-left override.
TYPED_IN_THE_MAIL = ("ที่ กท 0407/ว 57\nวันที่ 13 มิถุนายน 2565\nเรื่อง หนังสือไม่มีไฟล์แนบ\n"
                     "เรียน ผู้อำนวยการเขตลาดกระบัง\n\n    ขอเชิญประชุมในวันที่ 20 นี้ <script>document.title='pwned'</script>"
                     "\x1b[2J\u202eลงชื่อ ผู้อำนวยการสำนักการระบายน้ำ\n")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"), ("dinclerk", "clerk", "saraban.dindaeng"),
             ("somsri", "registrar", "saraban.latkrabang"), ("victim", "clerk", "saraban.latkrabang"),
             ("admin", "admin"))
    letters = ((letter(subject=SUBJECT, files=[("2565_dds_0407_57.pdf", make_pdf("cover letter"))]), LAT),
               (letter(subject=OTHER_SUBJECT, files=[("2565_dds_0407_58.pdf", make_pdf("report"))]), LAT),
               (letter(subject="หนังสือของเขตดินแดง", files=[("2565_dds_0407_59.pdf", make_pdf("din"))]), DIN),
               (letter(subject="หนังสือไม่มีไฟล์แนบ", files=[], body=TYPED_IN_THE_MAIL), LAT),  # held: no document
               (classified_letter()[0], LAT))
    # The receive stamp on: the letter page offers the stamped copy the folder got.
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters, registrars=(("saraban.latkrabang", "สมศรี registrar"),),
                      extra="[signatures]\nstamp = true\n") as desk:
        yield desk


@pytest.fixture
def page(browser, desk):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="th-TH")
    yield context.new_page()
    context.close()


def click(page, selector: str) -> None:
    """Click, then wait for the page it leads to: Playwright's click returns once the next
    page is committed, maybe before its body is parsed (a count read then saw no rows)."""
    page.click(selector)
    page.wait_for_load_state()


def sign_in(page, desk: Desk, username: str, password: str = PASSWORD):
    page.goto(desk.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    click(page, "button[type=submit]")


def letter_id(desk: Desk, unit: str, subject: str | None = None, book: str = "general") -> int:
    sql = "SELECT id FROM letters WHERE unit = ? AND book = ?" + (" AND subject = ?" if subject else "")
    [(found,)] = desk.db(sql, unit, book, *([subject] if subject else []))
    return found


def test_sign_in_and_find_a_letter_by_a_thai_substring_of_its_subject(page, desk, shot):
    sign_in(page, desk, "somchai")
    assert page.url.endswith("/register")
    assert page.locator("h1").inner_text().startswith("ทะเบียนหนังสือรับ")
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-saraban_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    rows = page.locator("table.book tbody tr")
    # count() does not wait: a click returns once the next page is committed, maybe not yet parsed
    expect(rows).to_have_count(2)  # both Lat Krabang letters, not Din Daeng's, not the classified one
    # "กรรมการพัฒนา" sits inside a word run: Thai has no spaces to split on
    page.fill("input[name=q]", "กรรมการพัฒนา")
    click(page, ".filters button[type=submit]")
    expect(rows).to_have_count(1)
    assert SUBJECT in rows.first.inner_text()
    assert "ไม่มีลายมือชื่อ" not in rows.first.inner_text()  # unsigned letters carry no badge
    shot(page, "register-search")
    page.fill("input[name=q]", "ไม่มีเรื่องนี้")
    click(page, ".filters button[type=submit]")
    expect(page.locator("main")).to_contain_text("ไม่มีรายการ")
    expect(rows).to_have_count(0)
    click(page, "header button:has-text('English')")  # the switch keeps to this session
    assert page.locator("h1").inner_text().startswith("Receive register")
    assert "Held letters" in page.locator("header nav").inner_text()
    click(page, "header button:has-text('ภาษาไทย')")
    assert page.locator("h1").inner_text().startswith("ทะเบียนหนังสือรับ")
    assert page.input_value("input[name=q]") == "ไม่มีเรื่องนี้"  # the switches keep the search
    page.fill("input[name=q]", "")
    click(page, ".filters button[type=submit]")
    click(page, "header button:has-text('๑๒๓')")  # Thai digits, kept with the account
    year = this_be_year()
    assert f"๑/{arabic_to_thai(str(year))}" in page.locator("table.book").inner_text()
    click(page, "header button:has-text('123')")
    assert f"1/{year}" in page.locator("table.book").inner_text()


def test_open_a_letter_and_its_pdf(page, desk, shot):
    sign_in(page, desk, "somchai")
    click(page, f"text={SUBJECT}")
    assert re.search(r"/letters/\d+$", page.url)
    body = page.locator("main").inner_text()
    year = this_be_year()
    assert "หนังสือเลขรับ" in body and f"/{year}" in body
    assert "ไม่มีลายมือชื่อ" in body and "2565_dds_0407_57.pdf" in body
    assert "ส่งเข้าโฟลเดอร์ของหน่วยงาน: เรียบร้อย" in body  # filed into the unit's folder
    assert "13 มิ.ย. 2565" in body  # ลงวันที่ in the Buddhist era
    shot(page, "letter")
    link = page.locator("a", has_text="2565_dds_0407_57.pdf")
    response = page.context.request.get(desk.url + link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF") and "inline" in response.headers["content-disposition"]
    stamped = page.locator("p.stamped a")
    assert "ประทับตรารับ" in stamped.inner_text()
    copy = page.context.request.get(desk.url + stamped.get_attribute("href"))
    assert copy.status == 200 and copy.body().startswith(b"%PDF") and copy.body() != response.body()
    other = letter_id(desk, "saraban.dindaeng")  # another unit's stamped copy, by URL: not found
    assert page.context.request.get(f"{desk.url}/letters/{other}/stamped").status == 404
    viewer = page.context.new_page()  # the browser's own PDF viewer, as a clerk opens it
    try:
        viewer.goto(desk.url + link.get_attribute("href"))
    except Exception as exc:  # headless builds without the viewer download the file instead
        assert "Download is starting" in str(exc)
    viewer.close()


def test_the_clerk_reads_the_text_of_a_held_mail_before_deciding_on_it(page, desk, shot):
    """A letter typed into the mail is held as "no letter found"; the clerk who decides to
    release it (next test) must read what it says: shown as text, never as markup, without
    the sender's escape sequence or reordering; the same in `quarantine show`."""
    [(held,)] = desk.db("SELECT id FROM quarantine WHERE subject = 'หนังสือไม่มีไฟล์แนบ'")
    sign_in(page, desk, "somchai")
    page.goto(f"{desk.url}/quarantine/{held}")
    main = page.locator("main").inner_text()
    assert "ข้อความในอีเมล" in main and "ไม่มีไฟล์แนบ" in main
    text = page.locator("pre.mailtext").inner_text()
    assert "เรียน ผู้อำนวยการเขตลาดกระบัง" in text
    # The escape character dropped, what followed it kept: "[2J" is text, not a command.
    assert "ขอเชิญประชุมในวันที่ 20 นี้ <script>document.title='pwned'</script>[2Jลงชื่อ ผู้อำนวยการสำนักการระบายน้ำ" in text
    assert "\x1b" not in text and "\u202e" not in text
    assert page.title() != "pwned" and page.locator("main script").count() == 0
    shot(page, "quarantine-mail-text")
    shown = desk.daemon.cli("quarantine", "show", str(held)).stdout
    assert "ข้อความในอีเมล" in shown and "  เรียน ผู้อำนวยการเขตลาดกระบัง" in shown
    assert "\x1b" not in shown and "\u202e" not in shown


def test_release_a_held_letter_and_the_sender_gets_the_acknowledgement(page, desk, shot):
    sign_in(page, desk, "somchai")
    click(page, "header nav >> text=หนังสือที่กักไว้")
    row = page.locator("table.book tbody tr", has_text="หนังสือไม่มีไฟล์แนบ")
    assert "ไม่พบหนังสือในอีเมลนี้" in row.inner_text()  # the reason in words
    row.locator("input.pick").check()
    page.fill("input[name=reason]", "ผอ.เขตสั่งให้รับ หนังสืออยู่ในเนื้อความ")
    shot(page, "quarantine-held")
    click(page, "button[value=release]")
    result = page.locator("ul.results li.ok").inner_text()
    year = this_be_year()
    assert f"รับเข้าทะเบียนแล้ว เลขรับ 3/{year}" in result
    shot(page, "quarantine-released")
    acks = desk.daemon.wait_for(lambda: [
        m for m in desk.sink.messages()
        if m.message["Subject"].startswith("ได้รับหนังสือแล้ว") and f"3/{year}" in m.message["Subject"]],
        what="the acknowledgement of the released letter at the sink")
    assert acks[0].rcpt_tos == ["saraban.dds@bangkok.go.th"]
    detail = json.loads(desk.daemon.cli("register", "show", "saraban.latkrabang", f"3/{year}", "--json").stdout)
    [action] = detail["actions"]
    assert action["action"] == "quarantine_released" and action["who"] == "web:somchai"
    click(page, f"text=3/{year}")
    assert "หนังสือไม่มีไฟล์แนบ" in page.locator("main").inner_text()


def test_another_units_letter_by_url_is_not_found(page, desk, shot):
    lat = letter_id(desk, "saraban.latkrabang", SUBJECT)
    sign_in(page, desk, "dinclerk")
    assert "หนังสือของเขตดินแดง" in page.locator("table.book").inner_text()
    for path in (f"/letters/{lat}", f"/letters/{lat}/files/0", "/register?unit=saraban.latkrabang",
                 f"/letters/{letter_id(desk, 'saraban.latkrabang', book='secret')}", "/secret"):
        response = page.goto(desk.url + path)
        assert response.status == 404, path
        assert "ไม่พบหน้าที่ต้องการ" in page.content() and SUBJECT not in page.content()
    shot(page, "cross-unit-404")
    held = desk.db("SELECT id FROM quarantine WHERE unit = 'saraban.latkrabang'")[0][0]
    assert page.goto(f"{desk.url}/quarantine/{held}").status == 404
    assert "หนังสือไม่มีไฟล์แนบ" not in page.goto(desk.url + "/quarantine?state=released").text()


def test_secret_registrar_opens_a_classified_letter_and_the_audit_trail_shows_it(page, desk, shot):
    secret = letter_id(desk, "saraban.latkrabang", book="secret")
    sign_in(page, desk, "somsri")
    click(page, "header nav >> text=ทะเบียนหนังสือรับลับ")
    listing = page.locator("table.book").inner_text()
    assert "(หนังสือลับ)" in listing and MARKER not in page.content()  # not decrypted for a list
    click(page, "table.book tbody tr a.no, table.book tbody tr td.no a")
    assert page.url.endswith(f"/letters/{secret}") and MARKER not in page.content()
    audit_log = desk.daemon.data_dir / "audit" / "audit.log"
    before = audit_log.read_text().count('"web:somsri"') if audit_log.exists() else 0
    click(page, "section.reveal button")  # without the confirmation the browser will not send it
    assert MARKER not in page.content()
    page.check("input[name=confirm]")
    click(page, "section.reveal button")
    assert MARKER in page.locator("dd.subject").inner_text()
    assert MARKER not in page.url
    shot(page, "secret-revealed")
    entries = [json.loads(line) for line in audit_log.read_text().splitlines()]
    mine = [e for e in entries if e["who"] == "web:somsri"]
    assert len(mine) == before + 1 and mine[-1]["action"] == "view"
    assert MARKER not in audit_log.read_text()
    page.goto(desk.url + "/secret/audit")
    assert "web:somsri" in page.locator("table.book").inner_text()
    assert desk.daemon.cli("audit", "verify").returncode == 0


def test_a_form_without_its_csrf_token_is_refused(page, desk, shot):
    sign_in(page, desk, "somchai")
    lat = letter_id(desk, "saraban.latkrabang", OTHER_SUBJECT)
    page.goto(f"{desk.url}/letters/{lat}")
    page.eval_on_selector("form[action$='/note'] input[name=csrf]", "e => e.value = 'forged'")
    page.fill("textarea[name=note]", "ไม่ควรถูกบันทึก")
    click(page, "form[action$='/note'] button")
    assert "แบบฟอร์มหมดอายุ" in page.content()
    shot(page, "csrf-refused")
    page.goto(f"{desk.url}/letters/{lat}")
    assert "ไม่ควรถูกบันทึก" not in page.content()
    # the same form with its token goes through, and the action is recorded
    page.fill("textarea[name=note]", "ส่งฝ่ายการคลังพิจารณา")
    click(page, "form[action$='/note'] button")
    assert "ส่งฝ่ายการคลังพิจารณา" in page.locator("main").inner_text()
    assert desk.db("SELECT who FROM operator_actions WHERE action = 'letter_note_added'") == [("web:somchai",)]
    # a page of another site posting to the desk has no session cookie (SameSite=Strict)
    assert page.context.request.post(desk.url + f"/letters/{lat}/note", form={"note": "x"},
                                     headers={"cookie": ""}).status == 403


def test_the_account_is_locked_after_five_wrong_passwords(page, desk, shot):
    for attempt in range(5):
        sign_in(page, desk, "victim", "wrong password %d" % attempt)
        assert page.url.endswith("/login")
    sign_in(page, desk, "victim")  # the right password, too late
    assert page.url.endswith("/login")
    # The same sentence as a wrong password: a locked account does not show that the
    # name exists (tests/web/test_desk_red_team.py compares the answers).
    assert page.locator("p.error").inner_text() == "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"
    shot(page, "locked")
    listing = json.loads(desk.daemon.cli("users", "list", "--json").stdout)
    assert next(u for u in listing if u["username"] == "victim")["locked_until"]
    desk.daemon.cli("users", "passwd", "victim", "--password-stdin", check=False)


def test_print_the_book_and_enter_the_emergency_register(page, desk, shot, tmp_path):
    year = this_be_year()
    sign_in(page, desk, "somchai")
    click(page, "header nav >> text=ทะเบียนฉุกเฉิน")
    page.fill("input[name=emergency_no]", "ลก 0403 / ฉ 001")
    page.fill("input[name=received_at]", f"5 มี.ค. {year} 10.30 น.")
    page.fill("input[name=sender]", "สำนักการคลัง")
    page.fill("input[name=subject]", "ขอส่งรายงานการเงินฉบับกระดาษ")
    scan = tmp_path / "scan1.pdf"
    scan.write_bytes(make_pdf("scanned letter"))
    page.set_input_files("input[name=scans]", str(scan))
    click(page, "button[value=check]")
    assert "ข้อมูลถูกต้อง" in page.locator("ul.results").inner_text()
    page.set_input_files("input[name=scans]", str(scan))  # a file input is never refilled
    click(page, "button[value=import]")
    result = page.locator("ul.results").inner_text()
    assert re.search(rf"ลก 0403 / ฉ 001 → เลขทะเบียนรับ \d+/{year}", result), result
    shot(page, "emergency")
    # a scan that is not a scan is refused with its type, nothing registered
    bad = tmp_path / "virus.pdf"
    bad.write_bytes(b"MZ\x90\x00 not a pdf at all")
    page.fill("input[name=emergency_no]", "ลก 0403 / ฉ 002")
    page.fill("input[name=sender]", "x")
    page.fill("input[name=subject]", "y")
    page.fill("input[name=received_at]", f"5 มี.ค. {year}")
    page.set_input_files("input[name=scans]", str(bad))
    click(page, "button[value=import]")
    # Said in the page's language (Thai here) since session 43; it was English only.
    assert "รับเฉพาะไฟล์สแกน PDF, JPEG, PNG หรือ TIFF" in page.locator(".error").inner_text()
    assert desk.db("SELECT count(*) FROM letters WHERE facts LIKE '%ฉ 002%'") == [(0,)]

    click(page, "header nav >> text=พิมพ์/ส่งออก")
    page.select_option("select[name=format]", "csv")
    with page.expect_download() as download:
        click(page, "form.filters button")
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.startswith("เลขทะเบียนรับ,ที่,ลงวันที่") and SUBJECT in text and "ลก 0403 / ฉ 001" in text
    page.select_option("select[name=format]", "pdf")
    with page.expect_download() as download:
        click(page, "form.filters button")
    assert open(download.value.path(), "rb").read().startswith(b"%PDF")
    shot(page, "export")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    other = page.context.request.post(desk.url + "/export", form={
        "csrf": csrf, "unit": "saraban.dindaeng", "book": "general", "year": str(year), "format": "csv"})
    assert other.status == 404  # another unit's register cannot be exported either


def test_operations_page_for_administrators(page, desk, shot):
    sign_in(page, desk, "admin")
    click(page, "header nav >> text=สถานะระบบ")
    body = page.locator("main").inner_text()
    assert "งานส่งต่อ" in body and "ส่งเข้าโฟลเดอร์ของหน่วยงาน" in body and "ส่งถึงนายทะเบียนลับ" in body
    assert "กุญแจและใบรับรอง" in body and "saraban-gateway test" in body  # the gateway key
    shot(page, "operations")
    sign_in(page, desk, "somchai")
    assert page.goto(desk.url + "/operations").status == 404
