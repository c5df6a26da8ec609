"""Text added below a signed letter's text through a document timestamp's widget (red
team, session 52).

Anyone can have any file timestamped at a public timestamp authority, anonymously. An
update that adds an empty signature field on blank paper of page 1, its appearance
"APPROVED 9,000,000 THB", then a document timestamp into that field: the signer's
signature saw "signatures added" (the field is the timestamp's), the viewer comparison
counts no ink added on blank paper, and the letter was "signed, valid" by its signer,
not flagged, while every reader shows the added line. A timestamp authority vouches for
no text, so such a field now counts, for the signatures before it, as a form field
filled in after signing. A timestamp with no widget (pyHanko's, Acrobat's LTV ones)
stays "signatures added".
"""
from __future__ import annotations

import io
import subprocess

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.signatures.check import finding_for
from gateway.signatures.verify import verify_pdf
from tests.signatures.covering import _write, attach_field
from tests.signatures.test_timestamp_only_session52 import timestamp  # noqa: F401 - a fixture

ADDED = "APPROVED 9,000,000 THB"


def _field_on_blank_paper(signed: bytes, rect=(300, 40, 560, 120)) -> bytes:
    """An empty signature field at the foot of page 1 (blank paper) showing ADDED."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    font = generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                     N("/BaseFont"): N("/Helvetica")})
    appearance = w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"),
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, rect[2] - rect[0], rect[3] - rect[1]))),
         N("/Resources"): generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/F1"): w.add_object(font)})})},
        stream_data=b"0 0 0 rg BT /F1 16 Tf 5 30 Td (" + ADDED.encode() + b") Tj ET"))
    page_ref = w.find_page_for_modification(0)[0]
    attach_field(w, page_ref, generic.DictionaryObject({
        N("/FT"): N("/Sig"), N("/T"): generic.pdf_string("Timestamp9"), N("/Type"): N("/Annot"),
        N("/Subtype"): N("/Widget"), N("/F"): generic.NumberObject(4), N("/P"): page_ref,
        N("/Rect"): generic.ArrayObject(map(generic.NumberObject, rect)),
        N("/AP"): generic.DictionaryObject({N("/N"): appearance})}))
    return _write(w)


def _timestamp_into(data: bytes, stamper, field: str) -> bytes:
    from pyhanko.sign import signers

    w = IncrementalPdfFileWriter(io.BytesIO(data))
    return signers.PdfTimeStamper(stamper, field_name=field).timestamp_pdf(w, "sha256").getvalue()


def test_text_a_timestamp_widget_adds_to_a_signed_letter_flags_it(signed, trust, timestamp, tmp_path):  # noqa: F811
    stamper = timestamp.stamper()
    forged = _timestamp_into(_field_on_blank_paper(signed), stamper, "Timestamp9")
    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    shown = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, check=True).stdout
    assert ADDED in shown.decode()  # what a reader shows below the signed text

    verdict = verify_pdf(forged, trust)
    first, stamp = verdict.signatures
    assert (stamp.kind, stamp.indication, stamp.field) == ("document_timestamp", "TOTAL_PASSED", "Timestamp9")
    assert first.kind == "signature" and first.indication == "TOTAL_PASSED"
    assert first.review is True
    assert first.modifications == "form_fields_changed"
    assert first.changed_fields == ("Timestamp9",)
    assert f'filled in after signing ("{ADDED}")' in first.message
    found = finding_for("2569_dds_0403_80.pdf", [s.as_dict() for s in verdict.signatures])
    assert found.verdict == "fail" and ADDED in found.message_en
    assert "ถูกแก้ไขหลังลงลายมือชื่อ" in found.message_th


def test_a_timestamp_without_a_widget_is_still_a_signature_added(signed, trust, timestamp):  # noqa: F811
    verdict = verify_pdf(timestamp(timestamp(signed)), trust)
    assert [(s.kind, s.indication, s.modifications, s.review) for s in verdict.signatures] == [
        ("signature", "TOTAL_PASSED", "signatures_added", False),
        ("document_timestamp", "TOTAL_PASSED", "signatures_added", False),
        ("document_timestamp", "TOTAL_PASSED", "none", False)]
