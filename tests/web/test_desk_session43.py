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
