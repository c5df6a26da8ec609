"""The receive stamp beside text PDFium draws but leaves out of its text layer (sig red
team, session 53).

PDFium's text page, which the placement reads glyph boxes from, drops a text object
that repeats the previous one's text where their boxes overlap (apparently its test for text drawn
twice to look bold): of five lines "URGENT - REPLY BY 10 DEC" turned by 30 degrees
at the top right (a Form XObject's /Matrix), whose upright boxes overlap, it reported
the first only, while PDFium and poppler draw all five, and the
stamp's opaque ground was printed over the other four. Such a page's ink is now read
off its render, as for outlined text.
"""
from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.writer import PdfFileWriter

from gateway.signatures.page_space import content_boxes
from gateway.signatures.stamp import stamp_pdf
from tests.signatures.test_stamp_placement import check_placement

LINE = b"URGENT - REPLY BY 10 DEC"


def _letter_with_slanted_lines(matrix=(0.866, 0.5, -0.5, 0.866, 0, 0)) -> bytes:
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                                 N("/BaseFont"): N("/Helvetica")}))
    resources = generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/F1"): font})})
    lines = b"".join(b"BT /F1 16 Tf 0 %d Td (%s) Tj ET\n" % (y, LINE) for y in range(0, 100, 20))
    form = w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"), N("/Resources"): resources,
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (-100, 0, 210, 100))),
         N("/Matrix"): generic.ArrayObject(map(generic.FloatObject, matrix))},
        stream_data=lines))
    content = w.add_object(generic.StreamObject(
        stream_data=b"BT /F1 14 Tf 60 560 Td (The letter's text, left and below.) Tj ET\n"
                    b"q 1 0 0 1 390 600 cm /Fx Do Q"))
    w.insert_page(generic.DictionaryObject({
        N("/Type"): N("/Page"), N("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
        N("/Resources"): generic.DictionaryObject({N("/Font"): resources["/Font"],
                                                   N("/XObject"): generic.DictionaryObject({N("/Fx"): form})}),
        N("/Contents"): content}))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_slanted_lines_the_text_layer_leaves_out_are_not_stamped_over(tmp_path, seal, stamp_info):
    letter = _letter_with_slanted_lines()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason  # below the lines, blank paper is left
    # poppler's page before and after: blank paper under the stamp, nothing else changed.
    check_placement(letter, result.pdf, tmp_path, "slanted-lines")


def test_the_same_lines_unslanted_cost_no_render(monkeypatch):
    from gateway.signatures import page_space

    rendered = []
    monkeypatch.setattr(page_space, "_rendered_ink", lambda page: rendered.append(page) or [])
    boxes = content_boxes(_letter_with_slanted_lines(matrix=(1, 0, 0, 1, 0, 0)), 0)
    assert not rendered  # every line is in the text layer: read from it, as before
    assert sum(1 for b in boxes if b[0] >= 380) == 5  # the five lines, each a run
