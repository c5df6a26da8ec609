"""A later signature's opaque widget over a light-coloured mark of the signed letter
(red team, session 52).

The viewer comparison (gateway/signatures/visual_diff.py) counted a signed pixel as ink
only when it was grey 160 or darker. A mark in orange (grey ~173), cyan (~179), light
green or mid grey 0.7 (~179): anyone holding a certificate of a trusted CA co-signed the
letter with a white widget over it and new text, and the signer's signature stayed
TOTAL_PASSED, "signatures added", no review, while every reader showed the mark gone
and the new text in its place (the F2 attack of 2026-11-30, for marks that are not
black). Now a signed pixel darker than the stamp placement's ink level for scans (200)
that the final file shows paper-white counts too. Black text covered so was already
caught; a mark lighter than that (a watermark at grey 0.8 or lighter) is still not.
"""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter, sign_letter
from tests.signatures.covering import _write, attacker, second_signature_over_text

MARK_BOX = (80, 380, 400, 470)  # where the mark is, and the attacker's widget


def _with_mark(letter: bytes, colour: bytes) -> bytes:
    """The letter with a large "DRAFT" in `colour` (a PDF fill colour operator) at
    MARK_BOX, in an update made before signing: the signer signs it."""
    w = IncrementalPdfFileWriter(io.BytesIO(letter))
    page_ref = w.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    font = w.add_object(generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                                  N("/BaseFont"): N("/Helvetica-Bold")}))
    mark = w.add_object(generic.StreamObject(
        stream_data=b"q " + colour + b" BT /F9 72 Tf 100 400 Td (DRAFT) Tj ET Q"))
    page[N("/Contents")] = generic.ArrayObject([page.raw_get("/Contents"), mark])
    resources = page["/Resources"]
    if "/Font" in resources:
        resources["/Font"][N("/F9")] = font
    else:
        resources[N("/Font")] = generic.DictionaryObject({N("/F9"): font})
    w.update_container(page)
    if isinstance(page.raw_get("/Resources"), generic.IndirectObject):
        w.mark_update(page.raw_get("/Resources"))
    return _write(w)


@pytest.mark.parametrize("colour", [b"1 0.65 0 rg", b"0 1 1 rg", b"0.7 g", b"0 g"],
                         ids=["orange", "cyan", "grey 0.7", "black"])
def test_a_light_mark_covered_by_a_later_signature_is_seen(colour, pki, trust, tmp_path):
    signed = sign_letter(_with_mark(make_letter(), colour), pki)
    assert [s.indication for s in verify_pdf(signed, trust).signatures] == ["TOTAL_PASSED"]
    covered = second_signature_over_text(signed, pki, attacker(pki, tmp_path), box=MARK_BOX)
    first, second = verify_pdf(covered, trust).signatures
    assert (second.indication, second.review) == ("TOTAL_PASSED", False)  # the attacker's own is valid
    assert (first.indication, first.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert first.review is True
    assert "the signed content of page 1 is covered or changed" in first.message


def test_a_later_signature_on_blank_paper_is_still_a_signature_added(pki, trust, tmp_path):
    signed = sign_letter(_with_mark(make_letter(), b"1 0.65 0 rg"), pki)
    beside = second_signature_over_text(signed, pki, attacker(pki, tmp_path), box=(80, 60, 400, 150))
    first, second = verify_pdf(beside, trust).signatures
    assert (first.indication, first.modifications, first.review) == ("TOTAL_PASSED", "signatures_added", False)
