"""The stamp keeps clear of an annotation whose /Rect holds an indirect number (red
team, session 52).

`[380 700 6 0 R 820]` is a rectangle to PDFium and poppler, which resolve the
reference and draw the annotation; the placement read /Rect's numbers as they stand,
could not make a number of `6 0 R`, and skipped the annotation: the stamp's opaque
ground was printed over the sender's mark at the top right (black beneath the stamp in
both readers). Now each number is resolved first.
"""
from __future__ import annotations

import pytest

from gateway.signatures.stamp import stamp_pdf
from tests.letters import assemble_pdf, stream_object
from tests.signatures.test_stamp_stencil_masks_session43 import _darkest_beneath_stamp


def _marked_page(rect: bytes) -> bytes:
    """A blank A4 page whose only mark is a black square annotation at the top right."""
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> /Annots [5 0 R] >>",
        stream_object(b""),
        b"<< /Type /Annot /Subtype /Square /Rect " + rect + b" /F 4 /AP << /N 7 0 R >> >>",
        b"577",
        stream_object(b"0 0 0 rg 0 0 197 120 re f", b"/Type /XObject /Subtype /Form /BBox [0 0 197 120] "),
        b"[380 700 577 820]",
    ], header=b"%PDF-1.4\n")


@pytest.mark.parametrize("rect", [b"[380 700 577 820]", b"[380 700 6 0 R 820]", b"8 0 R"],
                         ids=["numbers", "an indirect number", "an indirect array"])
def test_the_stamp_is_not_printed_over_an_annotation(rect, seal, stamp_info, tmp_path):
    page = _marked_page(rect)
    stamped = stamp_pdf(page, stamp_info, seal).pdf
    assert stamped is not None
    assert _darkest_beneath_stamp(page, stamped, tmp_path, "marked") == {"poppler": 255, "pdfium": 255}
