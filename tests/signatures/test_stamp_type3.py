"""The receive stamp beside text in a Type 3 font (red team of session 35).

A Type 3 font's glyphs are drawn by the file itself, and their ink may reach past the
box the glyph's `d1` declares, which is all PDFium's text layer gives the stamp's
placement. PDFium (Chrome, Edge) draws that ink and poppler clips it: the stamp's opaque
ground was put over a black bar Chrome shows, and on a signed letter the sender's
signature was then INDETERMINATE ("the signed content of page 1 is covered") in the
stamped copy, which the stamp promises never to do. A page with Type 3 text now has its
ink read off its render as well."""
from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest

from gateway.signatures.page_space import content_boxes
from gateway.signatures.stamp import stamp_pdf
from gateway.signatures.verify import verify_pdf
from tests.pki import sign_letter
from tests.signatures.test_stamp_placement import stamp_widget

# The glyph's box is 1000 x 1000 units at the origin; it paints a bar 24-36 em to the
# right of it, where the top right corner of the page is.
GLYPH = b"1000 0 0 0 1000 1000 d1\n0 0 0 rg 24000 -1500 m 36000 -1500 l 36000 1000 l 24000 1000 l f\n"


def type3_letter(glyph: bytes = GLYPH) -> bytes:
    content = b"BT /T3 14 Tf 60 780 Td (aaaa) Tj ET\nBT /F1 12 Tf 60 740 Td (Reference: 0403/276) Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /T3 5 0 R /F1 7 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               b"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 1000 1000] /FontMatrix [0.001 0 0 0.001 0 0] "
               b"/CharProcs << /a 6 0 R >> /Encoding << /Type /Encoding /Differences [97 /a] >> "
               b"/FirstChar 97 /LastChar 97 /Widths [1000] /Resources << >> >>",
               b"<< /Length %d >>\nstream\n" % len(glyph) + glyph + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def darkest_beneath(original: bytes, rect) -> int:
    """The darkest pixel of `original` as PDFium draws it, inside `rect` (user space)."""
    page = pdfium.PdfDocument(original)[0]
    scale = 100 / 72
    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
    height = page.get_height()
    x0, y0, x1, y1 = rect
    box = (int(x0 * scale) + 1, int((height - y1) * scale) + 1, int(x1 * scale) - 1, int((height - y0) * scale) - 1)
    return image.crop(box).getextrema()[0]


def test_the_ink_past_a_type3_glyphs_box_is_an_obstacle():
    bar = (60 + 14 * 24, 780 - 14 * 1.5, 60 + 14 * 36, 780 + 14)  # where PDFium draws the bar
    boxes = content_boxes(type3_letter())
    assert any(b[0] <= bar[0] + 8 and b[2] >= bar[2] - 8 and b[1] <= bar[3] and b[3] >= bar[1] for b in boxes), boxes


@pytest.mark.parametrize("signed", [False, True])
def test_the_stamp_keeps_clear_of_it_and_the_senders_signature_holds(seal, stamp_info, pki, trust, signed):
    letter = sign_letter(type3_letter(), pki) if signed else type3_letter()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    _geometry, rect, _others = stamp_widget(result.pdf)
    assert darkest_beneath(letter, rect) >= 230
    if signed:
        first = verify_pdf(result.pdf, trust).signatures[0]
        assert (first.indication, first.review) == ("TOTAL_PASSED", False), first.message


def test_a_page_without_type3_text_is_not_rendered(monkeypatch):
    """The render is for pages that need it: a typed letter pays one walk of its objects."""
    from gateway.signatures import page_space
    from tests.pki import make_letter

    drawn = []
    monkeypatch.setattr(page_space, "_rendered_ink", lambda page: drawn.append(page) or [])
    content_boxes(make_letter())
    assert drawn == []
    content_boxes(type3_letter())
    assert len(drawn) == 1
