"""Session 43's red team on the desk: sign-ins from outside that ran every argon2 check
at once (64 MiB each, in the process that also takes SMTP), a sender's "{nb}" printed
as the book's page count, and the language and ๑๒๓ switches after a page answering a
POST landing on "not found, or not yours to see"."""
from __future__ import annotations

import html
import io
import re

import pytest

from tests.classified.helpers import classified_letter
from tests.letters import letter, make_pdf
from tests.web.client import signed_in
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
