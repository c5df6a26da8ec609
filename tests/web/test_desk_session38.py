"""Session 38's red team of the desk.

* One mailed letter with a 1,300-character subject made the unit's printed register
  book (PDF) of the year fail: a 500 at the desk, a traceback from `register export`,
  for every clerk printing that unit, all year (fpdf: "the row is too high").
* The emergency register's การปฏิบัติ and หมายเหตุ, a letter's department (การปฏิบัติ)
  and its notes were kept as typed: a bidi override or an ESC reversed or coloured the
  register's columns for every other clerk, and a 1,000-character note broke the book."""
from __future__ import annotations

import html
import json
import re

import pytest

from tests.letters import letter, make_pdf
from tests.thai_pdfs import pdftotext
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
LONG = "ขอเชิญประชุมคณะกรรมการพัฒนาเขต" * 42  # 1,302 characters
BIDI = "กองคลัง\u202e\u200bLNK\x07\x1b[31mRED\r\nX"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"),)
    letters = ((letter(subject="LONG38 " + LONG, files=[("a.pdf", make_pdf("a"))]), LAT),
               (letter(subject="ธรรมดา S38", files=[("b.pdf", make_pdf("b"))]), LAT))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters) as desk:
        yield desk


def _book(answer) -> str:
    assert answer.status == 200 and answer.header("content-type") == "application/pdf", answer.status
    return re.sub(r"\s+", "", pdftotext(answer.body, layout=False)).replace("\u0e4d\u0e32", "\u0e33")


def test_a_letter_with_a_very_long_subject_prints_in_the_book_cut_short(desk, tmp_path):
    clerk = signed_in(desk.url, "somchai")
    year = json.loads(desk.daemon.cli("register", "list", "--json").stdout)[0]["receive_no"].split("/")[1]
    form = {"unit": "saraban.latkrabang", "book": "general", "year": year, "format": "pdf"}
    flat = _book(clerk.post("/export", form))
    assert "LONG38ขอเชิญประชุมคณะกรรมการพัฒนาเขต" in flat and "…" in flat
    assert "ธรรมดาS38" in flat  # the other entries are in the book as before
    out = tmp_path / "book.pdf"
    done = desk.daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", year, "-o", str(out),
                           check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-800:]
    assert out.read_bytes().startswith(b"%PDF")
    # The whole subject is still the register's.
    assert desk.db("SELECT length(subject) FROM letters WHERE subject LIKE 'LONG38 %'") == [(7 + len(LONG),)]


def test_a_department_and_a_note_are_kept_without_control_or_bidi_characters(desk):
    clerk = signed_in(desk.url, "somchai")
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = 'ธรรมดา S38'")
    assert clerk.post(f"/letters/{letter_id}/assign", {"department": BIDI}).status == 303
    assert clerk.post(f"/letters/{letter_id}/note", {"note": "บรรทัดแรก\u202e\x1b[2J\r\nบรรทัดสอง"}).status == 303
    page = html.unescape(clerk.get(f"/letters/{letter_id}").text)
    assert "กองคลังLNK [31mRED X" in page and "\u202e" not in page and "\x1b" not in page and "\x07" not in page
    assert "บรรทัดแรก[2J\nบรรทัดสอง" in page  # a note keeps its lines
    register = html.unescape(clerk.get("/register").text)
    assert "\u202e" not in register and "\x1b" not in register


def test_the_emergency_registers_remarks_are_one_clean_line_and_print(desk):
    clerk = signed_in(desk.url, "somchai")
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", "ลก 0403 / ฉ 838"), ("received_at", "2569-03-06 09:15"),
              ("sender", "สำนักการคลัง"), ("subject", "หมายเหตุยาว S38"), ("action", BIDI),
              ("note", "NOTE\u202e\x1b[31m" + "หมายเหตุ" * 125), ("do", "import")]
    answer = clerk.post_multipart("/emergency", fields, [("scans", "s.pdf", make_pdf("scan"))])
    assert answer.status == 200, answer.status
    [(facts,)] = desk.db("SELECT facts FROM letters WHERE subject = 'หมายเหตุยาว S38'")
    facts = json.loads(facts)
    assert facts["action"] == "กองคลังLNK [31mRED X"
    assert facts["note"].startswith("NOTE [31mหมายเหตุ") and len(facts["note"]) <= 500 and facts["note"].endswith("…")
    flat = _book(clerk.post("/export", {"unit": "saraban.latkrabang", "book": "general", "year": "2569",
                                        "format": "pdf"}))
    assert "หมายเหตุยาวS38" in flat


def test_a_trailing_slash_is_not_redirected_to_the_host_the_request_names(desk):
    from tests.web.client import Client

    client = Client(desk.url)
    answer = client.request("GET", "/letters/1/", headers={"Host": "evil.example"})
    assert answer.status == 404 and "evil.example" not in (answer.header("location") or ""), answer.status
