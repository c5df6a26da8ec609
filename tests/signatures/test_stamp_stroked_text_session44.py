"""The receive stamp keeps off the ink of text drawn with a thick outline (red team, "sig F4").

Text shown in rendering mode 1 (stroke), 2 (fill, then stroke), 5 or 6 (the same, and add
to the clip) paints its glyphs' outlines with the current line width: `2 Tr 60 w` puts
30 pt of ink around every glyph. The placement measures text by the glyph boxes of
PDFium's text layer, which hold none of it, so the stamp's opaque ground went on the
stroke wherever the glyphs stayed just outside the stamp's corner. PDFium's own box of
a text object is no better: it grows by half the line width as written, not as the CTM
scales it (`10 0 0 10 0 0 cm 6 w` is a 60 pt line; the box grows by 3). A page with such
text now has its ink read off its render, as a page with Type 3 text does.

Checked as a person sees it: page 1 before and after stamping, rendered by poppler
(`check_placement`: blank paper under the stamp, nothing else changed) and by PDFium
(`darkest_beneath`), and once in the daemon's folder copy.
"""
from __future__ import annotations

import pytest

from gateway.signatures import page_space
from gateway.signatures.stamp import stamp_pdf
from tests.letters import one_page_pdf, stream_object
from tests.signatures.test_stamp_outlined_text import stamped_folder_copy
from tests.signatures.test_stamp_placement import check_placement, stamp_widget
from tests.signatures.test_stamp_type3 import darkest_beneath

HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
HEADING = b"BT /F1 12 Tf 60 780 Td (Reference: 0403/276) Tj ET\n"
# The glyphs' boxes lie at x 380-434, y 720-728: below and left of the stamp's corner
# (x 397-577, y 740-824 on A4). Their outline, 30 pt each side, reaches y 758.
WORD = b"(ooooooo) Tj"


def letter_with(content: bytes, *objects: bytes, resources: bytes = b"") -> bytes:
    return one_page_pdf(HEADING + content, b"/Font << /F1 5 0 R >> " + resources, (HELVETICA, *objects))


def stroked(mode: int = 2) -> bytes:
    return letter_with(b"0 G 60 w BT /F1 14 Tf %d Tr 380 720 Td %s ET" % (mode, WORD))


def stroked_under_a_scaled_ctm() -> bytes:
    """6 w under a CTM of 10 is 60 pt; the text matrix takes the scale back out, so the
    glyphs are 14 pt and the matrix PDFium reports for the text object is 1."""
    return letter_with(b"q 10 0 0 10 0 0 cm 0 G 6 w BT /F1 14 Tf 1 Tr 0.1 0 0 0.1 38 72 Tm %s ET Q" % WORD)


def stroked_in_a_form() -> bytes:
    """The same, inside a Form XObject placed by a matrix of 10."""
    form = b"0 G 6 w BT /F1 1.4 Tf 2 Tr 38 72 Td %s ET" % WORD
    return letter_with(b"q 10 0 0 10 0 0 cm /Fm0 Do Q",
                       stream_object(form, b"/Type /XObject /Subtype /Form /BBox [0 0 59.5 84.2] "
                                           b"/Resources << /Font << /F1 5 0 R >> >> "),
                       resources=b"/XObject << /Fm0 6 0 R >>")


LETTERS = {
    "2 Tr 60 w": lambda: stroked(2),
    "1 Tr 60 w": lambda: stroked(1),
    "5 Tr (stroke, clip)": lambda: stroked(5),
    "6 Tr (fill, stroke, clip)": lambda: stroked(6),
    "6 w under a CTM of 10": stroked_under_a_scaled_ctm,
    "in a form placed at 10x": stroked_in_a_form,
}


@pytest.mark.parametrize("name", list(LETTERS))
def test_the_stamp_is_not_printed_over_the_outline_of_thick_stroked_text(tmp_path, seal, stamp_info, name):
    letter = LETTERS[name]()
    assert darkest_beneath(letter, (397, 740, 577, 824)) < 100, "the outline does not reach the corner"
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    rect = stamp_widget(result.pdf)[1]
    assert darkest_beneath(letter, rect) >= 230, (name, rect)
    check_placement(letter, result.pdf, tmp_path, name.replace(" ", "_"))


def test_a_top_half_covered_by_outlines_gets_a_receipt(seal, stamp_info):
    """Lines of text whose glyph boxes leave room for the stamp between them (83 pt),
    their outlines (45 pt each side) none: no free place, and the letter gets its
    receipt page as for any page without one."""
    lines = b"".join(b"BT /F1 24 Tf 2 Tr 200 %d Td (%s) Tj ET\n" % (y, b"O" * 19) for y in range(800, 300, -100))
    letter = letter_with(b"0 G 90 w " + lines)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "receipt"
    assert result.reason == "no free space at the top right of page 1 for the stamp"


def test_fill_only_and_invisible_text_is_not_rendered(monkeypatch):
    """The render is for the pages that need it: a letter whose text is filled (mode 0),
    invisible (3, an OCR layer) or a clip alone (7) pays the walk of its objects only.
    Invisible text still counts by its glyph boxes, as it did."""
    calls = []
    real = page_space._rendered_ink
    monkeypatch.setattr(page_space, "_rendered_ink", lambda page: calls.append(1) or real(page))
    for mode in (0, 3, 4, 7):
        page_space.content_boxes(stroked(mode))
    assert calls == []
    page_space.content_boxes(stroked(2))
    assert calls == [1]


def test_the_daemons_folder_copy_keeps_off_the_outline(tmp_path, pki):
    """Through the real daemon: the stamped copy in the unit's folder."""
    pdf = stroked_under_a_scaled_ctm()
    stamped = stamped_folder_copy(tmp_path, pki, pdf, "2569_dds_0403_74.pdf")
    assert darkest_beneath(pdf, stamp_widget(stamped)[1]) >= 230
    check_placement(pdf, stamped, tmp_path, "daemon-stroked")


@pytest.mark.parametrize("content", [
    b"0 G 60 w 400 700 m 550 700 l S",  # 30 pt each side of the line
    b"q 1 0 0 20 0 0 cm 0 G 3 w 400 35 m 550 35 l S Q",  # 3 w stretched to 60 pt upwards only
    b"0 G 20 w 100 M 0 j 300 600 m 450 700 l 300 705 l S",  # a miter join's spike
    b"0 G 60 w 2 J 400 700 m 400 700.1 l S",  # a square cap
])
def test_a_stroked_paths_box_holds_its_stroke(content):
    """Guard (this held before: PDFium's box of a path object is that of its stroke, the
    CTM, joins and caps applied): what PDFium paints of a thick stroked path lies within
    the placement's box of it."""
    import pypdfium2 as pdfium

    letter = one_page_pdf(content)
    image = pdfium.PdfDocument(letter)[0].render(scale=1, grayscale=True).to_pil().convert("L")
    x0, top, x1, bottom = image.point(lambda v: 255 if v < 230 else 0).getbbox()
    ink = (x0, 842 - bottom, x1, 842 - top)
    assert any(b[0] <= ink[0] and b[1] <= ink[1] and ink[2] <= b[2] and ink[3] <= b[3]
               for b in page_space.content_boxes(letter)), ink
