"""Session 43's red team on the desk: sign-ins from outside that ran every argon2 check
at once (64 MiB each, in the process that also takes SMTP), a sender's "{nb}" printed
as the book's page count, and the language and ๑๒๓ switches after a page answering a
POST landing on "not found, or not yours to see"."""
from __future__ import annotations

import html
import io
import re
import threading
import time

import pytest

from tests.classified.helpers import classified_letter
from tests.letters import letter, make_pdf
from tests.web.client import sign_ins_at_once, signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
NB_SUBJECT = "ขออนุมัติงบประมาณ {nb}00,000 บาท"
USERS = (("somchai", "clerk", "saraban.latkrabang"), ("latreg", "registrar", "saraban.latkrabang"),
         ("admin1", "admin"))
BACK = re.compile(r'name="back" value="([^"]*)"')


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    letters = ((letter(subject=NB_SUBJECT, files=[("2569_dds_0403_57.pdf", make_pdf("nb"))]), LAT),
               (classified_letter()[0], LAT))
    with running_desk(tmp_path_factory.mktemp("desk"), USERS, letters) as desk:
        yield desk


def _rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) // 1024


def test_many_sign_ins_at_once_do_not_run_their_password_checks_at_once(desk):
    """24 wrong sign-ins at the same moment, from three addresses (each within its
    login_attempts_per_minute): until session 43 each ran its 64 MiB argon2 check at
    once, and the daemon's process grew by over a gigabyte. At most two run at once now:
    the process grows by a few checks' worth, every guess is answered (wrong password,
    or the desk busy in the person's language), and a signed-in clerk's register answers."""
    port = int(desk.url.rsplit(":", 1)[1])
    pid = desk.daemon.proc.pid
    clerk = signed_in(desk.url, "somchai")
    assert clerk.get("/register").status == 200
    count = 24
    before = _rss_mib(pid)
    peak, done, pages = [before], threading.Event(), []

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib(pid))
            time.sleep(0.005)

    def clerk_meanwhile() -> None:
        time.sleep(0.05)
        pages.append(clerk.get("/register"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    answers = sign_ins_at_once(port, [f"127.0.0.{2 + i % 3}" for i in range(count)], meanwhile=clerk_meanwhile)
    done.set()
    sampler.join()
    [page] = pages
    assert page.status == 200 and "ทะเบียน" in page.text
    # 64 MiB a check: two at once and the threads around them stay well below five.
    assert peak[0] - before < 5 * 64, f"{before} MiB before, {peak[0]} MiB at the peak"
    assert len(answers) == count
    for status, text, retry_after in answers:
        assert status in (401, 503), status
        if status == 401:
            assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in text
        else:
            assert "ขณะนี้มีผู้พยายามเข้าสู่ระบบพร้อมกันมากเกินไป" in text and retry_after
    assert "Traceback" not in desk.daemon.log_path.read_text()
    # The right password still signs in afterwards.
    assert signed_in(desk.url, "somchai").get("/register").status == 200


def test_a_subject_holding_nb_is_printed_as_written_in_the_register_book(desk):
    import pypdf

    clerk = signed_in(desk.url, "somchai")
    book = clerk.post("/export", {"unit": "saraban.latkrabang", "book": "general", "year": "2569", "format": "pdf"})
    assert book.status == 200 and book.body.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(book.body))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "ขออนุมัติงบประมาณ {nb}00,000 บาท" in text, text
    # The footer's page count is still filled in.
    footers = re.findall(r"หน้า (\S+) / (\S+)", text)
    assert footers and all(total == str(len(reader.pages)) for _, total in footers), footers


def _switches_after(client, answer) -> str:
    """Press English, then ๑๒๓, on `answer`'s top bar; each lands on a page that answers."""
    backs = {html.unescape(b) for b in BACK.findall(answer.text)}
    assert len(backs) == 1
    [back] = backs
    switched = client.post("/lang", {"lang": "en", "back": back})
    assert switched.status == 303
    landed = client.get(switched.header("location"))
    assert landed.status == 200, (back, landed.status, landed.errors())
    digits = client.post("/digits", {"on": "1", "back": back})
    assert client.get(digits.header("location")).status == 200
    client.post("/lang", {"lang": "th", "back": "/register"})
    client.post("/digits", {"on": "0", "back": "/register"})
    return switched.header("location")


def test_the_switches_after_revealing_a_classified_letter_return_to_the_letter(desk):
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE book = 'secret'")
    registrar = signed_in(desk.url, "latreg")
    opened = registrar.post(f"/letters/{letter_id}/reveal", {"confirm": "yes"})
    assert opened.status == 200
    assert _switches_after(registrar, opened) == f"/letters/{letter_id}"
    # A switch from a page drawn before session 43, naming the POST's path, goes to the letter too.
    switched = registrar.post("/lang", {"lang": "en", "back": f"/letters/{letter_id}/reveal"})
    assert switched.header("location") == f"/letters/{letter_id}"
    registrar.post("/lang", {"lang": "th", "back": "/register"})


def test_the_switches_after_retrying_return_to_the_operations_page(desk):
    admin = signed_in(desk.url, "admin1")
    retried = admin.post("/operations/retry", {"all": "dead"})
    assert retried.status == 200
    assert _switches_after(admin, retried) == "/operations"


def test_a_get_of_an_address_for_a_button_is_not_drawn_as_not_found(desk):
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE book = 'secret'")
    registrar = signed_in(desk.url, "latreg")
    answer = registrar.get(f"/letters/{letter_id}/reveal")
    assert answer.status == 405 and "POST" in (answer.header("allow") or "")
    assert "หน้านี้เปิดจากปุ่มในหน้าของระบบ" in answer.text
    assert "ไม่มีรายการนี้ หรือท่านไม่มีสิทธิ์เห็นรายการนี้" not in answer.text
    registrar.post("/lang", {"lang": "en", "back": "/register"})
    try:
        answer = registrar.get("/operations/retry")
        assert answer.status == 405 and "This address answers a button" in answer.text
        assert "not yours to see" not in answer.text
    finally:
        registrar.post("/lang", {"lang": "th", "back": "/register"})
    # A path the desk does not have is still "not found".
    assert "ไม่มีรายการนี้" in registrar.get("/letters/nowhere").text
