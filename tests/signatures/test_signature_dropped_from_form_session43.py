"""A signature the file still carries but its form no longer lists is reported, never
taken for a letter never signed.

Session 43's red team: a letter with a visible signature by สมชาย ใจดี, then an update
(no key needed) that changes "ว 276" to "ว 762" and empties /AcroForm /Fields. The
signature dictionary (/ByteRange, the CMS) and its widget stay: page 1 still shows the
signature box and poppler's pdfsig still finds it, but pyHanko (and the gateway, which
asked it only for the form's signatures) found none: NO_SIGNATURE_FOUND, no finding, no
review, "ว 762" registered. Now such a signature is INDETERMINATE /
SIG_CONSTRAINTS_FAILURE, for review, with a sentence in English and Thai.
"""
from __future__ import annotations

import io

import pytest

from gateway.signatures.check import entries_for, finding_for
from gateway.signatures.verify import verify_pdf
from tests.pki import GARUDA, VALID_SIGNER_NAME, make_letter, sign_letter
from tests.signatures.test_covered_after_signing_daemon import gateway  # noqa: F401  (the daemon that trusts the test PKI)
from tests.signatures.test_pipeline_signatures import entry_for, folder_copy, send

REVIEWING = "saraban.pomprap@bangkok.go.th"
SENTENCE_EN = "a signature the file carries is no longer listed in its form: it was removed after signing"
SENTENCE_TH = "ไฟล์ยังมีลายมือชื่ออิเล็กทรอนิกส์ที่แบบฟอร์มของไฟล์ไม่ได้ระบุไว้แล้ว"
SIGNED_NUMBER, FORGED_NUMBER = b"0015001a0019", b"001a00190015"  # "276", "762" as the letter's glyph ids


def _visibly_signed(pki) -> bytes:
    """The test letter ("ที่ กท 0403/ว 276") with a visible signature box at the right
    of page 1, as a signer's token software makes it."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES,
                                        md_algorithm="sha256")
    style = TextStampStyle(stamp_text="ลงนามโดย %(signer)s\n%(ts)s",
                           text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(GARUDA))))
    out = signers.PdfSigner(meta, pki.signer(pki.valid), stamp_style=style,
                            new_field_spec=fields.SigFieldSpec("Signature1", box=(330, 480, 560, 560))
                            ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(make_letter())))
    return out.getvalue()


def _changed_and_dropped(signed: bytes, *, widget_too: bool = False) -> bytes:
    """An update anyone can append: page 1's number "ว 276" becomes "ว 762" in a new
    content stream, and /AcroForm /Fields becomes empty. With `widget_too` the signature's
    widget leaves page 1's /Annots as well (only an earlier revision's form lists it)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    data = page["/Contents"].get_object().data
    assert data.count(SIGNED_NUMBER) == 1
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=data.replace(SIGNED_NUMBER, FORGED_NUMBER)))
    if widget_too:
        page["/Annots"] = generic.ArrayObject()
    w.update_container(page)
    form = w.root["/AcroForm"]
    form["/Fields"] = generic.ArrayObject()
    w.update_container(form)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def visibly_signed(pki):
    return _visibly_signed(pki)


def _the_dropped_one(verdict):
    assert verdict.indication == "INDETERMINATE" and verdict.sub_indication == "SIG_CONSTRAINTS_FAILURE", verdict
    assert verdict.review is True
    [sig] = verdict.signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", True)
    assert sig.field == "Signature1" and sig.signer == VALID_SIGNER_NAME and sig.modifications == "other"
    assert SENTENCE_EN in sig.message and SENTENCE_TH in sig.message
    return sig


def test_a_visible_signature_dropped_from_the_form_after_a_change_is_reported(visibly_signed, trust):
    assert verify_pdf(visibly_signed, trust).indication == "TOTAL_PASSED"  # the letter as signed
    changed = _changed_and_dropped(visibly_signed)
    sig = _the_dropped_one(verify_pdf(changed, trust))
    assert "its box is still on page 1" in sig.message and "กรอบลายมือชื่อยังอยู่ในหน้า 1" in sig.message
    # What the clerk reads: a failed signature finding, in Thai too, to be checked.
    found = finding_for("2569_dds_0403_277.pdf", entries_for(verify_pdf(changed, trust), changed))
    assert found is not None and found.verdict == "fail"
    assert "SIG_CONSTRAINTS_FAILURE" in found.message_th and "ต้องตรวจสอบ" in found.message_th
    assert SENTENCE_EN in found.message_en


def test_a_signature_whose_widget_left_the_page_too_is_found_in_the_earlier_form(visibly_signed, trust):
    sig = _the_dropped_one(verify_pdf(_changed_and_dropped(visibly_signed, widget_too=True), trust))
    assert "its box is still on page" not in sig.message


def test_an_invisible_signature_dropped_from_the_form_is_reported(pki, trust):
    _the_dropped_one(verify_pdf(_changed_and_dropped(sign_letter(make_letter(), pki)), trust))


def test_a_letter_never_signed_and_a_signed_one_left_alone_keep_their_verdicts(visibly_signed, trust):
    unsigned = verify_pdf(make_letter(with_form_field=True), trust)
    assert unsigned.indication == "NO_SIGNATURE_FOUND" and not unsigned.signatures and not unsigned.review
    signed = verify_pdf(visibly_signed, trust)
    assert [(s.field, s.indication, s.review) for s in signed.signatures] == [("Signature1", "TOTAL_PASSED", False)]


def test_the_changed_letter_is_in_the_register_for_review_not_as_unsigned(gateway, visibly_signed):
    queue_id, mid = send(gateway, [("2569_dds_0403_277.pdf", _changed_and_dropped(visibly_signed))], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    assert entry["review"] is True
    [sig] = entry["attachments"][0]["signatures"]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig["signer"] == VALID_SIGNER_NAME and sig["review"] is True
    assert SENTENCE_EN in sig["message"] and SENTENCE_TH in sig["message"]
    [found] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert "ต้องตรวจสอบ" in found["message_th"] and SENTENCE_EN in found["message_en"]
    copy = folder_copy(gateway, "pomprap", queue_id)
    assert copy["X-Saraban-Review"] == "yes"
    assert any("INDETERMINATE/SIG_CONSTRAINTS_FAILURE" in h for h in copy.get_all("X-Saraban-Signature") or [])
