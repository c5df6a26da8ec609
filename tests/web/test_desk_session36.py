"""The desk's seams left open at session 35, over plain HTTP against the real daemon
(SQLite): a registrar's export form offered the secret book of the units below theirs,
whose secret books their own registrars keep, and answered the pair with "no such
entry or no right"."""
from __future__ import annotations

import html
import re

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("latreg", "registrar", "saraban.latkrabang"), ("audit1", "auditor"))
    letters = ((letter(subject="หนังสือธรรมดา S36PLAIN", files=[("a.pdf", make_pdf("a"))]), LAT),)
    registrars = (("saraban.latkrabang", "lat registrar"), ("saraban.latkrabang.fin", "fin registrar"))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters, registrars) as desk:
        yield desk


def seen(answer) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


def options(answer, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}">(.*?)</select>', answer.text, re.S)[1]
    return [html.unescape(text).strip() for text in re.findall(r"<option[^>]*>(.*?)</option>", select, re.S)]


def test_the_export_form_names_whose_secret_book_a_registrar_keeps(desk):
    registrar = signed_in(desk.url, "latreg")
    form = registrar.get("/export")
    units = re.findall(r'<option value="(saraban\.[^"]+)"', form.text)
    assert "saraban.latkrabang.fin" in units  # the general book of the unit below: theirs to print
    secret = [o for o in options(form, "book") if "ลับ" in o]
    assert len(secret) == 1 and "ลาดกระบัง" in secret[0] and "การคลัง" not in secret[0], secret

    answer = registrar.post("/export", {"unit": "saraban.latkrabang.fin", "book": "secret", "year": "2569",
                                        "format": "csv"})
    assert answer.status == 403
    text = seen(answer)
    assert "นายทะเบียนลับ" in text and "ลาดกระบัง" in text
    assert "ไม่มีรายการนี้" not in text
    assert registrar.post("/export", {"unit": "saraban.latkrabang", "book": "secret", "year": "2569",
                                      "format": "csv"}).status == 200
    # the general book of the unit below still prints
    assert registrar.post("/export", {"unit": "saraban.latkrabang.fin", "year": "2569",
                                      "format": "csv"}).status == 200


def test_an_auditor_sees_every_secret_book_unnamed(desk):
    auditor = signed_in(desk.url, "audit1")
    form = auditor.get("/export")
    secret = [o for o in options(form, "book") if "ลับ" in o]
    assert secret and "(" not in secret[0], secret  # every unit's: nothing to name
