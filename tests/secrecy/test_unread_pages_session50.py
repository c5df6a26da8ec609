"""What a PDF's reading fails on is said, never read as nothing (session 50's red team).

The secrecy reading of a PDF (gateway/pipeline/pdf_inspect.py) reads each page twice
(pypdf, PDFium) and, through PDFium, what a viewer shows beside a page's text: its
lines in place, its annotations and form fields, its scans. Where one page's reading
raised, the page was taken as showing nothing more: no marking, and the letter ordinary
and certain, filed in plain text, although what the clerk's viewer shows of that page
was never looked at. Now it is said not read (SCAN_NOT_READ): the letter is at least
ลับ, uncertain, and the clerk is told to open the file."""
from __future__ import annotations

import shutil

import pytest

from gateway.pipeline import pdf_inspect
from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.checks.unreadable_pdf import UnreadablePdf
from rules.markings import SECRECY_RANK
from rules.model import SCAN_NOT_READ, LetterFacts, RuleSettings
from tests.letters import letter
from tests.secrecy.test_pdf_hidden_markings import annotated, freetext, typed_letter
from tests.thai_pdfs import pdftotext

NAME = "2569_dds_0403_57.pdf"


def reading(pdf: bytes) -> tuple[str, bool]:
    found = classify_raw(letter(files=[(NAME, pdf)]))
    return found.level, found.certain


def at_least_secret_and_uncertain(pdf: bytes) -> bool:
    level, certain = reading(pdf)
    return SECRECY_RANK[level] >= SECRECY_RANK["confidential"] and not certain


def clerks_warning(pdf: bytes):
    mail = parse_mail(letter(files=[(NAME, pdf)]), "", inspect_pdf)
    return [f for f in UnreadablePdf().check(mail, LetterFacts(), RuleSettings()) if f.verdict == "warn"]


def test_a_page_whose_annotations_could_not_be_read_leaves_the_letter_uncertain(monkeypatch):
    """A ลับที่สุด FreeText stamp on page 1: read, the letter is ลับที่สุด. When reading
    what the page shows beside its text raises (PDFium refusing a hostile annotation,
    the reader's memory cap), the stamp is not read: the letter was ordinary and
    certain; it is now at least ลับ, uncertain, with the reason said."""
    pdf = annotated([freetext("ลับที่สุด")], base=typed_letter(12))
    assert reading(pdf) == ("top_secret", True)
    for failure in (RuntimeError("PDFium refused an annotation"), MemoryError()):
        def broken(*_args, failure=failure):
            raise failure

        monkeypatch.setattr(pdf_inspect, "_other_text", broken)
        info = inspect_pdf(pdf)
        assert info.error and info.error.startswith(SCAN_NOT_READ), info.error
        assert "page 1: its annotations, form fields and lines in place could not be read" in info.error
        assert "Error" not in info.error  # words, not Python's class names
        assert at_least_secret_and_uncertain(pdf), failure
        warned = clerks_warning(pdf)
        assert warned and "a person should open this file" in warned[0].message_en \
            and "เจ้าหน้าที่ควรเปิดตรวจไฟล์นี้เอง" in warned[0].message_th


def test_an_ordinary_letter_with_an_annotation_stays_ordinary_and_certain():
    pdf = annotated([freetext("นายสมชาย ใจดี")], base=typed_letter(12))
    assert inspect_pdf(pdf).error is None
    assert reading(pdf) == ("none", True)


def _pages(*pages: bytes, typed: dict[int, str]) -> bytes:
    """The pages of `pages` in one PDF, page n's /Type set to `typed[n]` (0-based)."""
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter()
    for data in pages:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    for n, kind in typed.items():
        writer.pages[n][NameObject("/Type")] = NameObject(kind)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


COVER = ["ที่ กท ๐๔๐๗/๕๗", "สำนักงานเขตลาดกระบัง", "เรื่อง ขอส่งรายชื่อผู้ให้ข้อมูล", "เรียน ผู้อำนวยการเขต"]
ANNEX = ["ลับมาก", "รายชื่อผู้ให้ข้อมูล", "นายสมชาย ใจดี", "ลับมาก"]


@pytest.mark.parametrize("count, kind", [(2, "/Template"), (2, "/Pages"), (3, "/Template")])
def test_a_page_the_viewers_reader_cannot_load_leaves_the_letter_uncertain(count, kind):
    """A cover letter, then a ลับมาก annex whose page object says /Type /Template (or
    /Pages): poppler's viewers (Evince, Okular; pdftotext here) show both pages and the
    ลับมาก; pypdf counts one page fewer and PDFium counts the page but cannot load it.
    Page 2 was read as empty: the letter ordinary and certain, filed in plain text.
    With a third page it is among the pages read in full; with two, between them."""
    from tests.thai_pdfs import thai_pdf

    cover, annex = thai_pdf(COVER), thai_pdf(ANNEX)
    pdf = _pages(*([cover, annex, cover][:count]), typed={1: kind})
    assert reading(_pages(*([cover, annex, cover][:count]), typed={})) == ("secret", True)
    if shutil.which("pdftotext"):
        assert "ลับมาก" in pdftotext(pdf)
    info = inspect_pdf(pdf)
    assert info.error and info.error.startswith(SCAN_NOT_READ), info.error
    assert "page 2: a page the viewer's reader could not load" in info.error
    assert at_least_secret_and_uncertain(pdf)
    warned = clerks_warning(pdf)
    assert warned and "a person should open this file" in warned[0].message_en


def test_a_letter_whose_pages_all_load_is_read_as_before():
    from tests.thai_pdfs import thai_pdf

    pdf = _pages(thai_pdf(COVER), thai_pdf(COVER[1:]), typed={})
    assert inspect_pdf(pdf).error is None
    assert reading(pdf) == ("none", True)


def _root_dangling(pdf: bytes) -> bytes:
    """`pdf` with its trailer's /Root naming an object the file does not have: pypdf
    finds the catalog all the same, PDFium refuses the file."""
    import re

    out, count = re.subn(rb"/Root \d+ 0 R", b"/Root 99 0 R", pdf)
    assert count == 1
    return out


def test_a_pdf_only_pypdf_opens_is_not_read_as_a_viewer_reads_it_and_says_so():
    """A scanned ลับมาก letter whose trailer's /Root is dangling: pypdf opens it (one
    page, no text layer), PDFium does not, so no page of it was drawn and no OCR read
    the stamp: the letter was ordinary and certain. It is now at least ลับ, uncertain;
    a typed marking pypdf reads still counts, certain."""
    import pypdfium2 as pdfium

    from tests.thai_pdfs import scanned_pdf, thai_pdf

    scan = scanned_pdf(COVER, "ลับมาก")
    assert reading(scan) == ("secret", True)
    damaged = _root_dangling(scan)
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(damaged)
    info = inspect_pdf(damaged)
    assert info.pages == 1 and info.error == f"{SCAN_NOT_READ}: the viewer's reader could not open it", info
    assert at_least_secret_and_uncertain(damaged)
    warned = clerks_warning(damaged)
    assert warned and "a person should open this file" in warned[0].message_en
    assert reading(_root_dangling(thai_pdf(ANNEX))) == ("secret", True)


@pytest.mark.parametrize("entry", ["null", "number", "dangling"])
def test_a_paperclip_after_a_broken_annotation_entry_is_read(entry):
    """Acrobat's Attach File paperclip holding a ลับมาก PDF, after an entry of the
    page's /Annots that is no annotation (a null, a number, a reference to nothing):
    the first entry raised and the page's other annotations were not looked at for
    files; the letter was ordinary and certain. Poppler lists the file (pdfdetach), and
    each entry is now looked at on its own."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import IndirectObject, NullObject, NumberObject

    from tests.secrecy.test_pdf_embedded_files import with_paperclip
    from tests.thai_pdfs import thai_pdf

    clip = with_paperclip(thai_pdf(COVER), "annex.pdf", thai_pdf(ANNEX))
    assert reading(clip) == ("secret", True)
    writer = PdfWriter(clone_from=io.BytesIO(clip))
    broken = {"null": NullObject(), "number": NumberObject(5), "dangling": IndirectObject(9999, 0, writer)}[entry]
    writer.pages[0]["/Annots"].get_object().insert(0, broken)
    out = io.BytesIO()
    writer.write(out)
    assert reading(out.getvalue()) == ("secret", True)


def _count_short(*pages: bytes) -> bytes:
    """`pages` in one PDF whose page tree's /Count says one page fewer than /Kids holds."""
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, NumberObject

    pdf = _pages(*pages, typed={})
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer._root_object["/Pages"][NameObject("/Count")] = NumberObject(len(writer.pages) - 1)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_page_pypdf_counts_and_pdfium_does_not_leaves_the_letter_uncertain():
    """A cover letter, then a scanned ลับมาก page, /Count 1: pypdf counts both pages (it
    walks /Kids), PDFium one. Page 2 was read by pypdf's text alone, of which a scan has
    none, and no OCR looked at it: the letter ordinary and certain. It is now at least
    ลับ, uncertain; typed, the ลับมาก pypdf reads still counts, certain."""
    import pypdfium2 as pdfium

    from tests.thai_pdfs import scanned_pdf, thai_pdf

    cover = thai_pdf(COVER)
    assert reading(_pages(cover, scanned_pdf(COVER, "ลับมาก"), typed={})) == ("secret", True)
    short = _count_short(cover, scanned_pdf(COVER, "ลับมาก"))
    assert len(pdfium.PdfDocument(short)) == 1 and inspect_pdf(short).pages == 2
    assert "page 2: a page the viewer's reader could not load" in (inspect_pdf(short).error or "")
    assert at_least_secret_and_uncertain(short)
    assert reading(_count_short(cover, thai_pdf(ANNEX))) == ("secret", True)
