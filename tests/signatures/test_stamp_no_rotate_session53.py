"""The receive stamp beside an annotation that keeps upright on a turned page (sig red
team, session 53).

An annotation flagged NoRotate (ISO 32000-1 12.5.3, /F 16) on a page of /Rotate 90, 180
or 270 is drawn upright on the screen with its /Rect's upper-left corner fixed, so it
reaches across the page from that corner, not over its /Rect: PDFium and poppler draw
it there. The placement kept clear of the /Rect only, and a /FreeText "NOT APPROVED"
whose /Rect lay left of (or off) the top right corner of the turned page had the
stamp's opaque ground printed over it.
"""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.writer import PdfFileWriter

from gateway.signatures.stamp import stamp_pdf
from tests.signatures.test_stamp_placement import check_placement

# The /Rect of each: the note drawn upright fills display x 542-832, y 10-120 (from the
# top) of the turned A4 page, the top right corner where the stamp goes.
RECTS = {90: (10, 432, 300, 542), 180: (300, -100, 590, 10), 270: (585, 190, 875, 300)}


def _letter_with_upright_note(rotate: int) -> bytes:
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                                 N("/BaseFont"): N("/Helvetica")}))
    resources = generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/F1"): font})})
    content = w.add_object(generic.StreamObject(
        stream_data=b"BT /F1 14 Tf 1 0 0 1 250 250 Tm (The letter's text) Tj ET"))
    x0, y0, x1, y1 = RECTS[rotate]
    width, height = x1 - x0, y1 - y0
    appearance = w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"), N("/Resources"): resources,
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, width, height)))},
        stream_data=b"0 0 0 rg 0 0 %d %d re f 1 1 1 rg BT /F1 24 Tf 10 45 Td (NOT APPROVED) Tj ET" % (width, height)))
    note = w.add_object(generic.DictionaryObject({
        N("/Type"): N("/Annot"), N("/Subtype"): N("/FreeText"), N("/F"): generic.NumberObject(4 | 16),
        N("/Rect"): generic.ArrayObject(map(generic.NumberObject, RECTS[rotate])),
        N("/DA"): generic.pdf_string("/F1 24 Tf 0 g"), N("/Contents"): generic.pdf_string("NOT APPROVED"),
        N("/AP"): generic.DictionaryObject({N("/N"): appearance})}))
    w.insert_page(generic.DictionaryObject({
        N("/Type"): N("/Page"), N("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
        N("/Rotate"): generic.NumberObject(rotate), N("/Resources"): resources, N("/Contents"): content,
        N("/Annots"): generic.ArrayObject([note])}))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_the_stamp_keeps_clear_of_an_upright_note_on_a_turned_page(tmp_path, seal, stamp_info, rotate):
    letter = _letter_with_upright_note(rotate)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason  # the rest of the page is blank
    # poppler's page before and after: blank paper under the stamp, nothing else changed.
    check_placement(letter, result.pdf, tmp_path, f"upright-note-{rotate}")
