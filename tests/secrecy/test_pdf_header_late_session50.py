"""A `.pdf` whose header is past its first 1024 bytes, or missing, is read as poppler's
viewers show it (session 50's red team).

PDFium (Chrome) and Acrobat look for `%PDF-` in the first 1024 bytes and refuse the
file without it; poppler (Evince, Okular, pdftotext: what a clerk on a Linux desktop
opens it with) finds the objects anyway and shows the page. The gateway took such a
file for "not a PDF" and read nothing of it: a ลับมาก letter behind 2,000 stray bytes
was ordinary and certain. Its sender is still told it is not a PDF; its markings now
count."""
from __future__ import annotations

import io
import zipfile

import pypdfium2 as pdfium
import pytest

from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.checks.real_type import RealType
from rules.model import LetterFacts, RuleSettings
from tests.letters import letter
from tests.thai_pdfs import pdftotext, thai_pdf

NAME = "2569_dds_0403_57.pdf"
MARKED = ["ลับมาก", "ที่ กท ๐๔๐๓/๕๗", "เรื่อง ขอเชิญประชุมคณะกรรมการ", "เรียน ผู้อำนวยการเขต"]
PLAIN = MARKED[1:]


def late(pdf: bytes) -> bytes:
    return b"x" * 2000 + pdf  # a mail client's or a scanner's bytes before the header


def headless(pdf: bytes) -> bytes:
    return pdf[pdf.index(b"\n") + 1:]  # the `%PDF-1.x` line gone


@pytest.mark.parametrize("damage", [late, headless])
def test_a_marking_a_lenient_viewer_shows_is_read(damage):
    pdf = damage(thai_pdf(MARKED))
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(pdf)  # what Chrome's reader makes of it
    assert "ลับมาก" in pdftotext(pdf)  # what Evince and Okular show
    found = classify_raw(letter(files=[(NAME, pdf)]))
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("damage", [late, headless])
def test_the_same_inside_an_archive_is_read(damage):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annex/2569_dds_0403_58.pdf", damage(thai_pdf(MARKED)))
    found = classify_raw(letter(files=[("2569_dds_0403_57.zip", buf.getvalue())]))
    assert (found.level, found.certain) == ("secret", True), found


def test_its_sender_is_still_told_it_is_not_a_pdf_and_an_unmarked_one_stays_ordinary():
    pdf = late(thai_pdf(PLAIN))
    found = classify_raw(letter(files=[(NAME, pdf)]))
    assert (found.level, found.certain) == ("none", True), found
    mail = parse_mail(letter(files=[(NAME, pdf)]), "", inspect_pdf)
    failed = [f for f in RealType().check(mail, LetterFacts(), RuleSettings()) if f.verdict == "fail"]
    assert len(failed) == 1
    assert f"{NAME} is not really a PDF" in failed[0].message_en
    assert "ไม่ใช่ไฟล์ PDF จริง" in failed[0].message_th


def test_a_pdf_name_on_bytes_with_no_pdf_object_is_read_as_before():
    text = "ลับมาก\nไม่ใช่ไฟล์ PDF".encode()
    mail = parse_mail(letter(files=[(NAME, text)]), "", inspect_pdf)
    (attachment,) = [a for a in mail.attachments if a.filename == NAME]
    assert attachment.pdf_error == "not a PDF"


def test_a_header_in_the_first_1024_bytes_keeps_the_file_whole():
    """PDFium finds it there: the bytes are read as they are, not cut at the header (a
    signature's byte ranges count from the file's first byte)."""
    from gateway.pipeline.file_texts import pdf_for_lenient_viewers

    pdf = thai_pdf(PLAIN)
    assert pdf_for_lenient_viewers(b"\xef\xbb\xbf" + pdf) == b"\xef\xbb\xbf" + pdf
    assert pdf_for_lenient_viewers(late(pdf)) == pdf
    assert pdf_for_lenient_viewers(headless(pdf)).startswith(b"%PDF-1.7\n")
