"""Session 50's red team of the desk, over plain HTTP against the real daemon (SQLite).

A note or an assignment (การปฏิบัติ) sent twice, by a double click, by the back button
and the button once more, or by two requests in flight at once, was recorded twice
(two rows, two entries in operator_actions); and a clerk whose page was drawn before
another clerk passed the letter to a department replaced that decision without ever
seeing it. Each form now says what the page showed (`seen`)."""
from __future__ import annotations

import html
import re
import threading
import time

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import Answer, Client, signed_in
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"), ("malee", "clerk", "saraban.latkrabang"))
    letters = tuple((letter(subject=f"หนังสือทดสอบการส่งซ้ำ {n}", files=[("a.pdf", make_pdf(f"a{n}"))]), LAT)
                    for n in range(3))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters) as desk:
        yield desk


def letter_ids(desk: Desk) -> list[int]:
    return [row[0] for row in desk.db("SELECT id FROM letters WHERE unit = 'saraban.latkrabang' ORDER BY id")]


def form_fields(page: Answer, action: str) -> dict[str, str]:
    """The hidden fields of the page's form that posts to `action`, as the browser sends them."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page.text, re.S)
    assert form, action
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))}


def count(desk: Desk, sql: str, *params) -> int:
    [(n,)] = desk.db(sql, *params)
    return n


def test_a_note_sent_twice_is_kept_once(desk):
    letter_id = letter_ids(desk)[0]
    clerk = signed_in(desk.url, "somchai")
    fields = form_fields(clerk.get(f"/letters/{letter_id}"), f"/letters/{letter_id}/note")
    sent = [clerk.post(f"/letters/{letter_id}/note", {**fields, "note": "โทรแจ้งผู้ส่งแล้ว"}, csrf=False)
            for _ in range(2)]  # the double click, or back and the button again
    assert [a.status for a in sent] == [303, 303]
    assert count(desk, "SELECT count(*) FROM letter_notes WHERE letter_id = ?", letter_id) == 1
    assert count(desk, "SELECT count(*) FROM operator_actions WHERE action = 'letter_note_added' AND letter_id = ?",
                 letter_id) == 1
    page = clerk.get(f"/letters/{letter_id}?done=noted")
    assert page.text.count("โทรแจ้งผู้ส่งแล้ว") == 1

    # The same words written again on purpose, from the page that shows the first: kept.
    fields = form_fields(page, f"/letters/{letter_id}/note")
    assert clerk.post(f"/letters/{letter_id}/note", {**fields, "note": "โทรแจ้งผู้ส่งแล้ว"}, csrf=False).status == 303
    assert count(desk, "SELECT count(*) FROM letter_notes WHERE letter_id = ?", letter_id) == 2


def test_two_notes_in_flight_at_once_are_kept_once(desk):
    letter_id = letter_ids(desk)[1]
    clerk = signed_in(desk.url, "somchai")
    fields = form_fields(clerk.get(f"/letters/{letter_id}"), f"/letters/{letter_id}/note")
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def send() -> None:
        barrier.wait()
        answers.append(clerk.post(f"/letters/{letter_id}/note", {**fields, "note": "ส่งต่อกองคลัง"},
                                  csrf=False).status)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == [303] * 4
    assert count(desk, "SELECT count(*) FROM letter_notes WHERE letter_id = ?", letter_id) == 1


def test_an_assignment_sent_twice_is_recorded_once(desk):
    letter_id = letter_ids(desk)[2]
    clerk = signed_in(desk.url, "somchai")
    fields = form_fields(clerk.get(f"/letters/{letter_id}"), f"/letters/{letter_id}/assign")
    sent = [clerk.post(f"/letters/{letter_id}/assign", {**fields, "department": "ฝ่ายการคลัง"}, csrf=False)
            for _ in range(2)]
    assert [a.status for a in sent] == [303, 303]
    assert count(desk, "SELECT count(*) FROM letter_assignments WHERE letter_id = ?", letter_id) == 1
    assert count(desk, "SELECT count(*) FROM operator_actions WHERE action = 'letter_assigned' AND letter_id = ?",
                 letter_id) == 1


def test_an_assignment_from_a_page_drawn_before_another_clerks_is_not_saved_over_it(desk):
    letter_id = letter_ids(desk)[0]
    first, second = signed_in(desk.url, "somchai"), signed_in(desk.url, "malee")
    path = f"/letters/{letter_id}"
    first_fields = form_fields(first.get(path), f"{path}/assign")
    second_fields = form_fields(second.get(path), f"{path}/assign")  # malee's page, open meanwhile

    assert first.post(f"{path}/assign", {**first_fields, "department": "ฝ่ายโยธา"}, csrf=False).status == 303
    stale = second.post(f"{path}/assign", {**second_fields, "department": "ฝ่ายรักษาความสะอาด"}, csrf=False)
    assert stale.status == 409
    [said] = stale.errors()
    assert "ฝ่ายโยธา" in said and "web:somchai" in said and "ยังไม่ได้บันทึก" in said, said
    # What malee typed is still in the field, to be saved on purpose.
    assert 'name="department" maxlength="300" required value="ฝ่ายรักษาความสะอาด"' in stale.text
    assert [r[0] for r in desk.db("SELECT department FROM letter_assignments WHERE letter_id = ? ORDER BY id",
                                  letter_id)] == ["ฝ่ายโยธา"]

    # Saved again from the page that now shows somchai's: her decision, recorded.
    fields = form_fields(stale, f"{path}/assign")
    assert second.post(f"{path}/assign", {**fields, "department": "ฝ่ายรักษาความสะอาด"}, csrf=False).status == 303
    assert [r[0] for r in desk.db("SELECT department FROM letter_assignments WHERE letter_id = ? ORDER BY id",
                                  letter_id)] == ["ฝ่ายโยธา", "ฝ่ายรักษาความสะอาด"]
    register = second.get("/register").text
    assert "ฝ่ายรักษาความสะอาด" in register


def test_an_assignment_refused_as_stale_says_so_in_english_too(desk):
    letter_id = letter_ids(desk)[1]
    first, second = signed_in(desk.url, "somchai"), signed_in(desk.url, "malee")
    assert second.post("/lang", {"lang": "en", "back": "/register"}).status == 303
    path = f"/letters/{letter_id}"
    second_fields = form_fields(second.get(path), f"{path}/assign")
    first_fields = form_fields(first.get(path), f"{path}/assign")
    assert first.post(f"{path}/assign", {**first_fields, "department": "กองคลัง"}, csrf=False).status == 303
    stale = second.post(f"{path}/assign", {**second_fields, "department": "กองช่าง"}, csrf=False)
    assert stale.status == 409
    [said] = stale.errors()
    assert said.startswith("While this page was open, the letter was assigned to \"กองคลัง\" by web:somchai"), said


def test_a_form_without_seen_counts_every_assignment_as_new(desk):
    """A form that does not say what its page showed (drawn by a desk before this
    session, or put together by hand) cannot replace an assignment unseen."""
    letter_id = letter_ids(desk)[2]  # assigned to ฝ่ายการคลัง above
    clerk = signed_in(desk.url, "malee")
    answer = clerk.post(f"/letters/{letter_id}/assign", {"department": "กองช่าง"})
    assert answer.status == 409
    assert count(desk, "SELECT count(*) FROM letter_assignments WHERE letter_id = ?", letter_id) == 1


def test_a_password_reset_while_the_old_one_is_checked_opens_no_session(desk):
    """`users passwd` ends the account's sessions; a sign-in with the old password whose
    check was under way at that moment opened a new one just after, for whoever the
    reset was meant to shut out. The old hash is made slow here (argon2 time cost 80,
    seconds to check) so that the reset lands inside the check, as it does for a desk
    busy with sign-ins."""
    from argon2 import PasswordHasher

    from gateway.config.settings import load_settings
    from storage.db import Database
    from storage.users import add_user as store_user
    from tests.cli_fork import run_gateway
    from tests.web.conftest import PASSWORD

    db = Database(load_settings(desk.daemon.config).database_url)
    try:
        with db.session() as session:
            store_user(session, "somsak", "clerk", ["saraban.latkrabang"],
                       PasswordHasher(time_cost=80, memory_cost=65536, parallelism=1).hash(PASSWORD))
    finally:
        db.dispose()
    answers: list[Answer] = []
    thief = Client(desk.url)
    signing_in = threading.Thread(target=lambda: answers.append(thief.sign_in("somsak")))
    signing_in.start()
    deadline = time.monotonic() + 60
    while count(desk, "SELECT failed_logins FROM desk_users WHERE username = 'somsak'") == 0:  # counted: checking
        assert time.monotonic() < deadline
        time.sleep(0.05)
    reset = run_gateway(["--config", str(desk.daemon.config), "users", "passwd", "somsak", "--password-stdin"],
                        input="รหัสใหม่หลังเหตุรั่วไหล 2569\n", timeout=60)
    assert reset.returncode == 0, reset.stderr
    assert signing_in.is_alive(), "the check ended before the reset: make the old hash slower"
    signing_in.join(120)
    [answer] = answers
    assert answer.status == 401, answer.status
    assert answer.errors() == ["ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"]
    assert thief.get("/register").status == 303  # to the sign-in page
    assert count(desk, "SELECT count(*) FROM desk_sessions s JOIN desk_users u ON u.id = s.user_id "
                       "WHERE u.username = 'somsak'") == 0
    assert any(e.get("event") == "web_login_password_changed" for e in desk.daemon.events())
    assert Client(desk.url).sign_in("somsak", "รหัสใหม่หลังเหตุรั่วไหล 2569").status == 303


MISSING_FONT = "/srv/saraban-test/no-such-dir/Garuda.ttf"


@pytest.fixture(scope="module")
def desk_without_font(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"),)
    letters = ((letter(subject="หนังสือสำหรับพิมพ์ทะเบียน", files=[("a.pdf", make_pdf("p"))]), LAT),)
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters,
                      extra=f'[export]\nfont = "{MISSING_FONT}"\n') as desk:
        yield desk


def test_a_printed_book_that_cannot_be_made_says_so_without_the_servers_paths(desk_without_font):
    """The tool's refusal is the command line's sentence for the administrator ("Thai
    font /path not found: install the Debian package ..."): it was the clerk's page, in
    English on the Thai page, with the server's path in it. Now a sentence for the
    clerk in their language; the tool's goes to the log."""
    desk = desk_without_font
    clerk = signed_in(desk.url, "somchai")
    form = {"unit": "saraban.latkrabang", "book": "general", "year": "", "format": "pdf"}
    answer = clerk.post("/export", form)
    assert answer.status == 500, answer.status
    assert MISSING_FONT not in answer.text and "Debian" not in answer.text and "/srv/" not in answer.text
    [said] = answer.errors()
    assert said.startswith("ขณะนี้พิมพ์ทะเบียนเป็น PDF หรือส่งออกทะเบียนไม่ได้"), said
    [event] = [e for e in desk.daemon.events() if e.get("event") == "web_export_failed"]
    assert MISSING_FONT in event["error"] and event["username"] == "somchai"

    assert clerk.post("/lang", {"lang": "en", "back": "/export"}).status == 303
    [said] = clerk.post("/export", form).errors()
    assert said.startswith("The register cannot be printed as a PDF or exported right now"), said

    # The CSV needs no font: still there.
    answer = clerk.post("/export", {**form, "format": "csv"})
    assert answer.status == 200 and "หนังสือสำหรับพิมพ์ทะเบียน" in answer.body.decode("utf-8-sig")
