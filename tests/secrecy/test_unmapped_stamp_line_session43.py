"""A marking line set in a font without /ToUnicode on a page whose other text reads
(session 43).

A letter typed in one font with its Unicode map, its ลับที่สุด line at the head or the
foot set in another embedded without one: a viewer draws the marking, the text layer
reads "\\x01\\x02\\x03\\x04\\x05\\x06". The page as a whole reads as Thai, so it was no
candidate for OCR (`scanned_pages.text_unreadable` asks for half the page), and the
letter was ordinary and certain: a ลับที่สุด letter accepted and filed in plain text.
A head or foot band holding such a line is now read from its pixels
(`scanned_pages.unreadable_bands`)."""
from __future__ import annotations

import io

import pypdfium2
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from gateway.pipeline import scanned_pages
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.thai_pdfs import FONT

BODY = ["บันทึกข้อความ", "ส่วนราชการ สำนักงานเขตลาดกระบัง โทร ๐ ๒๓๒๖ ๙๐๐๐", "ที่ กท ๕๑๐๑/๑๒๓   วันที่ ๑ ธันวาคม ๒๕๖๙",
        "เรื่อง ขอส่งแผนการปฏิบัติงานประจำปี", "เรียน ผู้อำนวยการสำนักการระบายน้ำ",
        *["ข้อความของหนังสือ ขอให้ดำเนินการตามแผนที่แนบมาพร้อมนี้ " * 2] * 8]


def _typed(stamp: str, where: str = "head", rotate: int = 0) -> bytes:
    """The letter typed in Garuda with its Unicode map, `stamp` in Garuda Bold at the
    page's `where`, that font's /ToUnicode taken out."""
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("body", "", str(FONT))
    pdf.add_font("stamp", "", str(FONT.with_name("Garuda-Bold.ttf")))
    pdf.set_text_shaping(True)
    if stamp and where == "head":
        pdf.set_font("stamp", size=20)
        pdf.cell(0, 10, stamp, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=14)
    for line in BODY:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    if stamp and where == "foot":
        pdf.set_y(-25)
        pdf.set_font("stamp", size=20)
        pdf.cell(0, 10, stamp, align="C")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    for page in writer.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if "Bold" in str(font.get("/BaseFont")):
                font.pop("/ToUnicode", None)
        if rotate:
            page.rotate(rotate)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _reading(pdf: bytes) -> tuple[str, bool]:
    found = classify_raw(letter(files=[("2569_dds_0403_57.pdf", pdf)]))
    return found.level, found.certain


@pytest.mark.parametrize("where", ["head", "foot"])
@pytest.mark.parametrize(("stamp", "level"), [("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"), ("ลับ", "confidential")])
def test_a_marking_line_in_a_font_without_a_unicode_map_is_read_from_its_pixels(where, stamp, level):
    pdf = _typed(stamp, where)
    text = inspect_pdf(pdf).page_texts[0]
    # What the text layer holds: the body in Thai, the marking as control characters.
    assert "ผู้อำนวยการ" in text and stamp not in text
    assert not scanned_pages.text_unreadable(text)
    assert _reading(pdf) == (level, True)


def test_a_turned_page_with_such_a_line_is_read_too():
    assert _reading(_typed("ลับมาก", "head", rotate=90)) == ("secret", True)


def test_the_same_letter_without_a_marking_stays_ordinary():
    assert _reading(_typed("")) == ("none", True)
    # A head line of ordinary words in the unmapped font: its band is read, and OCR
    # finds no marking there.
    assert _reading(_typed("สำนักงานเขตลาดกระบัง")) == ("none", True)


def test_a_line_with_one_mark_unmapped_reads_no_band():
    """Chromium maps the ่ it draws over ี to <0000>: "ลับที\\x00สุด" is undone as damage
    (rules.markings), and costs no OCR."""
    assert not scanned_pages._has_unreadable_line("ลับที\x00สุด   ที่ กท ๐๔๐๗")
    assert not scanned_pages._has_unreadable_line("ผู\uf70bอำนวยการสำนักงานเขต")
    assert scanned_pages._has_unreadable_line("\x01\x02\x03")
    assert scanned_pages._has_unreadable_line("\x01\x02\x03\x04\x05\x06   ที่ กท")


def test_the_band_is_said_unread_when_it_cannot_be_read(monkeypatch):
    """No Tesseract on the machine: the band that holds the unmapped line cannot be read,
    so the letter is at least ลับ, uncertain (fail closed)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    level, certain = _reading(_typed("ลับที่สุด"))
    assert level != "none" and not certain
    document = pypdfium2.PdfDocument(_typed(""))
    try:
        page = document[0]
        assert scanned_pages.unreadable_bands(page, page.get_textpage(), page.get_textpage().get_text_range()) \
            == (False, False)
    finally:
        document.close()
