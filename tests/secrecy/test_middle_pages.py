"""The pages between the first 200 and the last 20 of a long PDF (session 35).

A classification is printed at the top and the bottom of every page, and the first 200
and the last 20 pages are read in full (both readers, what the page draws, OCR). Until
session 35 the pages between them were not read at all: a ลับที่สุด annex on pages
250-260 of a 300-page bundle left the letter ordinary, filed in plain text. They are now
read for their text layer by PDFium, within `MIDDLE_TIME`; what is left after it makes
the letter at least ลับ, uncertain, with the clerk's warning that the file was not read
in time."""
from __future__ import annotations

import pytest

from gateway.pipeline import pdf_inspect
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.checks.unreadable_pdf import UnreadablePdf
from rules.model import NOT_READ_IN_TIME
from tests.hostile.markings_cases import thai_pdf as marked_pdf
from tests.letters import letter


def _classified(pdf: bytes):
    return classify_raw(letter(files=[("2569_dds_0403_57.pdf", pdf)]))


@pytest.fixture(scope="module")
def bundle_300() -> bytes:
    return marked_pdf(top="ลับที่สุด", bottom="ลับที่สุด", pages=300, marked_page=255)


def test_a_marking_only_on_a_middle_page_of_a_long_bundle_is_read(bundle_300):
    found = _classified(bundle_300)
    assert (found.level, found.certain) == ("top_secret", True)
    # Named by the page it is on, not by its place among the pages read.
    assert found.where == "file 1 page 255", found.where


@pytest.mark.parametrize("level, word, page", [("secret", "ลับมาก", 221), ("confidential", "ลับ", 279)])
def test_each_level_on_any_middle_page(level, word, page):
    pdf = marked_pdf(top=word, bottom="", pages=300, marked_page=page)
    found = _classified(pdf)
    assert (found.level, found.certain, found.where) == (level, True, f"file 1 page {page}")


def test_a_long_unmarked_bundle_stays_ordinary_and_every_page_is_listed():
    pdf = marked_pdf(pages=260)
    info = inspect_pdf(pdf)
    assert info.error is None
    assert len(info.viewer_page_texts) == len(info.page_texts) == 260
    assert "หน้า 240" in info.viewer_page_texts[239]  # page 240 by its own number
    assert info.page_texts[239] == ""  # pypdf read the first 200 and the last 20 only
    found = _classified(pdf)
    assert (found.level, found.certain) == ("none", True)


def test_pages_left_after_the_time_make_the_letter_uncertain_with_a_warning(bundle_300, monkeypatch):
    monkeypatch.setattr(pdf_inspect, "MIDDLE_TIME", 0.0)
    info = inspect_pdf(bundle_300)
    assert info.error.startswith(NOT_READ_IN_TIME), info.error
    assert "pages 201 to 280 of 300" in info.error
    unmarked = marked_pdf(pages=300)
    found = _classified(unmarked)
    assert found.classified and not found.certain
    # The clerk is told to open the file, in both languages; the letter went on.
    from gateway.pipeline.parse import parse_mail

    mail = parse_mail(letter(files=[("2569_dds_0403_57.pdf", unmarked)]), "", inspect_pdf)
    warned = [f for f in UnreadablePdf().check(mail, None, None) if f.verdict == "warn"]
    assert warned and "could not be read in time" in warned[0].message_en and "ไม่ทัน" in warned[0].message_th


def test_a_damaged_long_bundle_is_read_in_its_middle_too(bundle_300):
    """pypdf cannot open it (a cut cross-reference table): PDFium's repaired reading is
    the only one, and its middle pages are read as well."""
    cut = bundle_300.replace(b"startxref", b"startxrex")
    assert "startxre" in (inspect_pdf(cut).error or "")
    found = _classified(cut)
    assert found.level == "top_secret" and found.where == "file 1 page 255", found


def test_pages_read_before_the_time_ran_out_keep_their_numbers(monkeypatch):
    """A damaged bundle (PDFium's reading alone) whose middle pages ran out of time: the
    pages read are still named by their own numbers."""
    import time

    pdf = marked_pdf(top="ลับมาก", bottom="", pages=240, marked_page=205).replace(b"startxref", b"startxrex")
    clock = iter(range(1000))
    monkeypatch.setattr(pdf_inspect, "MIDDLE_TIME", 7.0)
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))  # a second a page
    info = inspect_pdf(pdf)
    assert "pages 208 to 220 of 240" in info.error, info.error
    found = _classified(pdf)
    assert found.level == "secret" and found.where == "file 1 page 205", found


def _stamp_annotation_on(base: bytes, page_number: int, mark: bytes, link_only: bool = False,
                         subtype: str = "/Stamp") -> bytes:
    """`base` with a page-sized Stamp annotation on `page_number` (1-based) whose
    appearance is page 1 of `mark` (a Link instead, pointing nowhere, with `link_only`)."""
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, NumberObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(base)))
    rect = ArrayObject([FloatObject(0), FloatObject(0), FloatObject(595.28), FloatObject(841.89)])
    if link_only:
        annot = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
                                  NameObject("/Rect"): rect})
    else:
        shown = PdfReader(io.BytesIO(mark)).pages[0]
        form = StreamObject()
        form.set_data(shown.get_contents().get_data())
        form.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                     NameObject("/BBox"): rect, NameObject("/Resources"): shown["/Resources"].clone(writer)})
        annot = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject(subtype),
                                  NameObject("/Rect"): rect, NameObject("/F"): NumberObject(4),
                                  NameObject("/AP"): DictionaryObject({NameObject("/N"): writer._add_object(form)})})
    writer.pages[page_number - 1][NameObject("/Annots")] = ArrayObject([writer._add_object(annot)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_stamp_annotation_on_a_middle_page_is_read():
    """Session 35's second red team: the middle pages' text layer alone was read, and a
    ลับที่สุด stamp annotation on page 250 of 300 left the letter ordinary, certain. A
    middle page that draws annotations is now read as the first 200 are."""
    base = marked_pdf(pages=225)
    marked = _stamp_annotation_on(base, 203, marked_pdf(top="ลับที่สุด", bottom="ลับที่สุด"))
    found = _classified(marked)
    assert (found.level, found.certain, found.where) == ("top_secret", True, "file 1 page 203"), found
    linked = _stamp_annotation_on(base, 203, b"", link_only=True)  # a link draws nothing
    assert inspect_pdf(linked).other_texts == ()
    assert (_classified(linked).level, _classified(linked).certain) == ("none", True)


def test_a_text_box_annotation_on_a_middle_page_is_read_too():
    """A variation: Acrobat's add-text tool (a FreeText whose appearance shows ลับมาก),
    not a stamp, on a page between the first 200 and the last 20."""
    base = marked_pdf(pages=225)
    marked = _stamp_annotation_on(base, 210, marked_pdf(top="ลับมาก", bottom="ลับมาก"), subtype="/FreeText")
    found = _classified(marked)
    assert (found.level, found.certain, found.where) == ("secret", True, "file 1 page 210"), found
