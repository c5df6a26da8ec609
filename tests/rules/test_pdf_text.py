"""The text layer of a Thai PDF, as three kinds of producer write it, is read into the
register as the letter says it; poppler's pdftotext is the second opinion."""
from __future__ import annotations

import re

import pytest

from rules.extract import facts_from_text
from rules.thai_text import normalise_extracted
from tests.thai_pdfs import PRODUCERS, pdftotext, pypdf_text, thai_pdf

LINES = ["ที่ กท 0403/276", "22 ธันวาคม 2567", "เรื่อง ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม",
         "เรียน ผู้อำนวยการเขตลาดกระบัง"]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_the_register_reads_what_the_letter_says_whatever_made_the_pdf(producer):
    data = thai_pdf(LINES, producer)
    raw = pypdf_text(data)
    facts = facts_from_text(raw)
    assert facts.addressee == "ผู้อำนวยการเขตลาดกระบัง"
    assert facts.subject == "ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม"
    assert facts.reference == "กท 0403/276" and facts.letter_date.isoformat() == "2024-12-22"
    # Cross-check: poppler reads the same words (it keeps a gap where a glyph was split).
    assert squeeze(normalise_extracted(pdftotext(data))) == squeeze("".join(LINES))


def test_the_broken_text_layers_are_really_broken_before_normalising():
    shaped = pypdf_text(thai_pdf(LINES, "shaped"))
    word = pypdf_text(thai_pdf(LINES, "word"))
    assert "ผู้อำนวยการ" not in shaped and re.search(r"ผู้อำ[^\u0e00-\u0e7f]+นวยการ", shaped)
    assert "\uf70b" in word and "ผู้อำนวยการ" not in word


@pytest.mark.parametrize("raw, read", [
    ("ผู้อำ5นวยการเขต", "ผู้อำนวยการเขต"),          # the glyph-order digit of issue 14
    ("น้ำ#$ท่วม", "น้ำท่วม"),
    ("น\u0e4d\u0e49\u0e32", "น้ำ"),                  # nikhahit + tone + sara aa
    ("ป\uf70bา", "ป้า"),                             # Word's shifted tone mark
    ("คณะกรรมการป้ องกัน", "คณะกรรมการป้องกัน"),
    ("ที่ กท 0403/276", "ที่ กท 0403/276"),           # a real space after a mark stays
    ("ฟ้า ฝน", "ฟ้า ฝน"),
    ("ลำ 5 ต้น", "ลำ 5 ต้น"),                         # a spaced number is not a stray
])
def test_normalising_keeps_real_text_and_drops_artefacts(raw, read):
    assert normalise_extracted(raw) == read
