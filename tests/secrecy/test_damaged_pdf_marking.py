"""A PDF pypdf cannot open but a viewer can still shows its marking: the classification
reads it as the viewer does (gateway/pipeline/pdf_inspect._read_repaired).

One byte is enough: "startxref" written "startxreg", or a cross-reference table
declaring more entries than pypdf will allocate; or a file cut before its %%EOF. Before, such a letter's PDF text was read as nothing
and a ลับ printed on it, which the clerk's viewer shows, left the letter ordinary."""
from __future__ import annotations

import re

import pytest

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.signatures.producers import GARUDA


def _marked_letter_pdf(marking: str = "ลับ") -> bytes:
    """A one-page Thai letter with its classification printed top and bottom (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_compression(False)  # a plain cross-reference table, to damage by one byte
    pdf.add_font("Garuda", fname=str(GARUDA))
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Garuda", size=16)
    pdf.set_xy(60, 40)
    pdf.cell(475, 20, marking, align="C")
    pdf.set_xy(60, 90)
    pdf.cell(0, 20, "ที่ กท ๐๔๐๓/ว ๒๗๖")
    pdf.set_xy(60, 780)
    pdf.cell(475, 20, marking, align="C")
    return bytes(pdf.output())


def _damaged(pdf: bytes, how: str) -> bytes:
    if how == "startxref keyword":
        return pdf.replace(b"startxref", b"startxreg")
    if how == "cut before %%EOF":
        return pdf[:pdf.rindex(b"%%EOF")]
    if how == "xref size":
        return re.sub(rb"\nxref\n0 \d+", b"\nxref\n0 999999", pdf, count=1)
    raise ValueError(how)


@pytest.mark.parametrize("how", ["startxref keyword", "xref size", "cut before %%EOF"])
def test_a_marking_on_a_pdf_only_a_repairing_reader_opens_is_read(how):
    pdf = _damaged(_marked_letter_pdf(), how)
    info = inspect_pdf(pdf)
    assert info.error is not None  # pypdf refused it: the sender is still told it is damaged
    assert "ลับ" in (info.text or "")
    found = classify_raw(letter(files=[("2569_dds_0403_1.pdf", pdf)]))
    assert found.level == "confidential", found


def test_an_undamaged_marked_letter_reads_the_same():
    found = classify_raw(letter(files=[("2569_dds_0403_1.pdf", _marked_letter_pdf())]))
    assert found.level == "confidential"
    assert inspect_pdf(_marked_letter_pdf()).error is None


def test_a_file_no_reader_opens_stays_as_it_was():
    """Nothing on it can be read by anyone: damaged, not classified by its absent text."""
    info = inspect_pdf(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    assert info.error is not None and info.text is None
    assert classify_raw(letter(files=[("2569_dds_0403_1.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100)])).level == "none"


def test_a_marking_on_a_pdf_behind_stray_bytes_is_read():
    """A variation: the file starts with a line of something else, so libmagic does not
    call it a PDF; viewers find its header within the first 1024 bytes (poppler shows
    the page and its ลับ). Before, it was "not a PDF" and its text was never read."""
    pdf = b"\n\n stray line before the header\n" + _marked_letter_pdf()
    found = classify_raw(letter(files=[("2569_dds_0403_1.pdf", pdf)]))
    assert found.level == "confidential", found
