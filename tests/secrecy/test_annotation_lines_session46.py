"""The lines a PDF page's annotations draw between its head and foot are read for a
marking alone (a stamp in the middle of the page). Until session 46 only the first 200
were: 150 FreeText notes of three short lines above a ลับที่สุด stamp left the letter
ordinary, its text filed in the clear. Now 2,000 are read, and past them the page is
not read whole: the letter is at least ลับ, uncertain."""
from __future__ import annotations

import pytest

from gateway.pipeline.pdf_inspect import MAX_OTHER_LINES, inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.markings import SECRECY_RANK
from tests.letters import letter
from tests.secrecy.test_pdf_hidden_markings import H, annotated, freetext, typed_letter

MIDDLE = [200.0, 250.0, 395.0, 290.0]  # a stamp's box below the notes, in the middle of the page


def notes(count: int, lines: int, text: str = "ก") -> list[dict]:
    """`count` FreeText notes of `lines` short lines each, in rows above MIDDLE."""
    return [freetext("\n".join([text] * lines), rect=[40.0 + (i % 10) * 50, H - 200 - (i // 10) * 25,
                                                     85.0 + (i % 10) * 50, H - 180 - (i // 10) * 25])
            for i in range(count)]


@pytest.fixture(scope="module")
def base() -> bytes:
    return typed_letter(40)


def reading(pdf: bytes):
    return classify_raw(letter(files=[("2569_dds_0403_57.pdf", pdf)]))


def test_a_stamp_below_hundreds_of_note_lines_is_read(base):
    pdf = annotated(notes(150, 3) + [freetext("ลับที่สุด", rect=MIDDLE)], base=base)
    found = reading(pdf)
    assert (found.level, found.certain) == ("top_secret", True), found


def test_past_the_lines_read_the_letter_is_at_least_secret_and_uncertain(base):
    lines = MAX_OTHER_LINES // 150 + 1  # 150 notes of 14 lines: 2,100 lines
    pdf = annotated(notes(150, lines) + [freetext("ลับที่สุด", rect=MIDDLE)], base=base)
    info = inspect_pdf(pdf)
    assert info.error and "annotation lines past the first 2,000" in info.error, info.error
    found = reading(pdf)
    assert SECRECY_RANK[found.level] >= SECRECY_RANK["confidential"] and not found.certain, found


def test_many_note_lines_without_a_marking_leave_the_letter_ordinary(base):
    pdf = annotated(notes(150, 3, "นายสมชาย ใจดี"), base=base)
    found = reading(pdf)
    assert (found.level, found.certain) == ("none", True), found
