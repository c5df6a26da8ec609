"""The stamp keeps clear of what poppler draws of an annotation without an appearance
stream (red team, session 52).

An /Ink annotation with no /AP is drawn by poppler (Evince, Okular, pdftoppm) from its
/InkList, wherever the points are, even outside its /Rect; PDFium draws nothing of it.
The placement read the /Rect only (20 pt at the foot of the page) and printed the
stamp's opaque ground over a stroke poppler shows at the top right. Now, for an
annotation without a normal appearance, the box of the points poppler draws from
(/InkList, /L and its leader lines, /Vertices, /QuadPoints, /CL), grown by the line
width, is kept clear of too.
"""
from __future__ import annotations

import pytest

from gateway.signatures.stamp import stamp_pdf
from tests.letters import assemble_pdf, stream_object
from tests.signatures.test_stamp_stencil_masks_session43 import _darkest_beneath_stamp

STROKE = b"/InkList [[300 780 560 780 560 650 300 650 300 780]]"  # a frame at the top right


def _page(annot: bytes) -> bytes:
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> /Annots [5 0 R] >>",
        stream_object(b""),
        annot,
    ], header=b"%PDF-1.4\n")


@pytest.mark.parametrize("annot", [
    b"<< /Type /Annot /Subtype /Ink /Rect [40 40 60 60] /F 4 /C [0 0 0] /BS << /W 12 >> " + STROKE + b" >>",
    b"<< /Type /Annot /Subtype /Ink /Rect [300 650 560 780] /F 4 /C [0 0 0] /BS << /W 12 >> " + STROKE + b" >>",
], ids=["points outside its /Rect", "points inside its /Rect"])
def test_the_stamp_is_not_printed_over_an_ink_annotation_poppler_draws(annot, seal, stamp_info, tmp_path):
    page = _page(annot)
    stamped = stamp_pdf(page, stamp_info, seal).pdf
    assert stamped is not None
    assert _darkest_beneath_stamp(page, stamped, tmp_path, "ink") == {"poppler": 255, "pdfium": 255}
