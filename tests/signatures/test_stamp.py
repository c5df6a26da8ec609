"""The receive stamp never breaks the sender's signature."""
from __future__ import annotations

import datetime as dt
import hashlib
import io

import pypdf
import pytest

from gateway.signatures.stamp import StampInfo, stamp_pdf
from gateway.signatures.thai_dates import thai_date, thai_digits, thai_time
from gateway.signatures.verify import verify_pdf

RECEIVED = dt.datetime(2025, 11, 22, 3, 30, tzinfo=dt.timezone.utc)  # 10.30 in Bangkok


@pytest.fixture(scope="module")
def info():
    return StampInfo(unit_name="สำนักงานเขตพระนคร", receive_number="123", received_at=RECEIVED)


def stamp_text(pdf: bytes) -> str:
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    for annot in page["/Annots"]:
        annot = annot.get_object()
        if str(annot.get("/T", "")).startswith("SarabanReceiveStamp"):
            rect = [float(v) for v in annot["/Rect"]]
            ap = annot["/AP"]["/N"].get_object()
            return rect, page.extract_xform_text(ap, (0, 90, 180, 270), 200.0)
    raise AssertionError("no receive stamp on page 1")


def test_thai_date_helpers():
    assert thai_digits("2568/123") == "๒๕๖๘/๑๒๓"
    assert thai_date(dt.date(2025, 11, 22)) == "๒๒ พ.ย. ๒๕๖๘"
    assert thai_date(dt.date(2025, 1, 5), thai=False) == "5 ม.ค. 2568"
    assert thai_date(dt.date(2025, 4, 13), full_month=True) == "๑๓ เมษายน ๒๕๖๘"
    assert thai_time(dt.time(9, 5)) == "๐๙.๐๕ น."


def test_stamp_keeps_the_sender_signature_total_passed(signed, trust, seal, info):
    result = stamp_pdf(signed, info, seal)
    assert result.mode == "stamped"
    assert result.pdf.startswith(signed)  # an incremental update: the original bytes untouched
    verdict = verify_pdf(result.pdf, trust)
    by_field = {s.field: s for s in verdict.signatures}
    sender = by_field["Signature1"]
    assert sender.indication == "TOTAL_PASSED"
    assert sender.modifications == "signatures_added"
    assert not sender.review
    gateway = by_field["SarabanReceiveStamp"]
    assert gateway.indication == "TOTAL_PASSED" and gateway.signer == "Saraban Gateway Seal"
    assert not verdict.review


def test_stamp_shows_unit_number_date_and_time_top_right_in_thai_digits(signed, seal, info):
    rect, text = stamp_text(stamp_pdf(signed, info, seal).pdf)
    assert "เลขรับ ๑๒๓" in text
    assert "วันที่ ๒๒ พ.ย. ๒๕๖๘" in text
    assert "เวลา ๑๐.๓๐ น." in text
    x0, y0, x1, y1 = rect
    assert x1 > 595 / 2 and y1 > 842 * 0.8  # top right of the A4 page


def test_arabic_digits_on_request(signed, seal):
    info = StampInfo("สำนักงานเขตพระนคร", "45/2568", RECEIVED, thai_digits=False)
    _, text = stamp_text(stamp_pdf(signed, info, seal).pdf)
    assert "เลขรับ 45/2568" in text and "เวลา 10.30 น." in text


def test_stamping_twice_adds_a_second_field_and_keeps_everything_valid(signed, trust, seal, info):
    twice = stamp_pdf(stamp_pdf(signed, info, seal).pdf, info, seal).pdf
    verdict = verify_pdf(twice, trust)
    assert [s.indication for s in verdict.signatures] == ["TOTAL_PASSED"] * 3
    assert not verdict.review


def test_unsigned_letter_is_stamped_too(letter, trust, seal, info):
    result = stamp_pdf(letter, info, seal)
    assert result.mode == "stamped"
    assert [s.signer for s in verify_pdf(result.pdf, trust).signatures] == ["Saraban Gateway Seal"]


def test_no_changes_certified_letter_gets_a_receipt_and_stays_untouched(certified, trust, seal, info):
    before = bytes(certified)
    result = stamp_pdf(certified, info, seal)
    assert result.mode == "receipt"
    assert "DocMDP P=1" in result.reason
    assert certified == before
    assert result.original_sha256 == hashlib.sha256(certified).hexdigest()
    receipt = pypdf.PdfReader(io.BytesIO(result.pdf))
    assert len(receipt.pages) == 1
    text = receipt.pages[0].extract_text()
    assert result.original_sha256[:32] in text and result.original_sha256[32:] in text
    assert "เลขรับ ๑๒๓" in text
    # The receipt is itself sealed, and the original still certifies cleanly.
    assert [s.indication for s in verify_pdf(result.pdf, trust).signatures] == ["TOTAL_PASSED"]
    original = verify_pdf(certified, trust).signatures[0]
    assert original.indication == "TOTAL_PASSED" and original.certification == "no_changes"


def test_unreadable_pdf_gets_a_receipt(seal, info):
    result = stamp_pdf(b"%PDF-1.7 not really", info, seal)
    assert result.mode == "receipt"
    assert "could not be read" in result.reason


def test_thai_marks_are_shaped_as_thai_even_after_latin_text():
    """The receipt's "SHA-256 ของต้นฉบับ": HarfBuzz, left to guess the script from the
    first letter, shaped the line as Latin and took the high form of the tone mark over
    ต. The stamp's font shapes as Thai: the word's glyphs are those of the word alone."""
    import re

    from pyhanko.pdf_utils.writer import PdfFileWriter

    from gateway.signatures.stamp import DEFAULT_FONT, thai_font

    engine = thai_font(DEFAULT_FONT, 12).create_font_engine(PdfFileWriter())
    word = re.search(rb"<([0-9a-f]+)>", engine.shape("ต้นฉบับ").graphics_ops).group(1)
    line = engine.shape("SHA-256 ของต้นฉบับ").graphics_ops
    assert word in line
