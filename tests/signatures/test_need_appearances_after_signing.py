"""A form field's hidden value shown after signing by turning /NeedAppearances on (sig
red team, session 53).

The sender prepares a letter with a text field "amount" whose value is "APPROVED
9,000,000 THB" and whose appearance shows nothing (or "Pending review"): the signer sees
a letter without it and signs. An update anyone can append then sets the form's
/NeedAppearances to true, and nothing else. pyHanko's difference analysis allows that key
after any signature and compares no field (the value did not change), so the signer's
signature was TOTAL_PASSED, "signatures added", not reviewed, while PDFium (Chrome),
poppler (Evince, pdftotext) and Acrobat draw the field again from its value and show
the line below the signed text. Now such a field counts as changed after signing.
"""
from __future__ import annotations

import io
import subprocess

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.signatures.check import finding_for
from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter, sign_letter
from tests.signatures.covering import _write

HIDDEN = "APPROVED 9,000,000 THB"


def _letter_with_amount(shown: bytes, *, value: str = HIDDEN) -> bytes:
    """make_letter's page with a text field "amount" below the text: value `value`,
    appearance showing `shown` in Helvetica."""
    w = IncrementalPdfFileWriter(io.BytesIO(make_letter()))
    font = w.add_object(generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                                 N("/BaseFont"): N("/Helvetica"),
                                                 N("/Encoding"): N("/WinAnsiEncoding")}))
    resources = generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/Helv"): font})})
    text = b"BT /Helv 18 Tf 0 g 2 8 Td (" + shown + b") Tj ET" if shown else b""
    appearance = w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"), N("/Resources"): resources,
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 300, 30)))},
        stream_data=b"/Tx BMC q " + text + b" Q EMC"))
    page_ref = w.find_page_for_modification(0)[0]
    field = w.add_object(generic.DictionaryObject({
        N("/FT"): N("/Tx"), N("/T"): generic.pdf_string("amount"), N("/V"): generic.pdf_string(value),
        N("/DA"): generic.pdf_string("/Helv 18 Tf 0 g"), N("/Type"): N("/Annot"), N("/Subtype"): N("/Widget"),
        N("/F"): generic.NumberObject(4), N("/P"): page_ref,
        N("/Rect"): generic.ArrayObject(map(generic.NumberObject, (60, 450, 360, 480))),
        N("/AP"): generic.DictionaryObject({N("/N"): appearance})}))
    page = page_ref.get_object()
    page[N("/Annots")] = generic.ArrayObject([field])
    w.update_container(page)
    form = {N("/Fields"): generic.ArrayObject([field]), N("/DR"): resources,
            N("/DA"): generic.pdf_string("/Helv 12 Tf 0 g")}
    w.root[N("/AcroForm")] = generic.DictionaryObject(form)
    w.update_root()
    return _write(w)


def _form_update(signed: bytes, **keys) -> bytes:
    """An update that changes only keys of the form dictionary."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    form = w.root["/AcroForm"]
    for key, value in keys.items():
        form[N("/" + key)] = value
    w.update_root()
    return _write(w)


def _first_page_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "shown.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"],
                          capture_output=True, check=True).stdout.decode()


@pytest.fixture(scope="module")
def hidden_signed(pki):
    return sign_letter(_letter_with_amount(b""), pki)


def test_a_hidden_value_shown_after_signing_flags_the_signature(hidden_signed, trust, tmp_path):
    assert HIDDEN not in _first_page_text(hidden_signed, tmp_path)  # what the signer saw
    forged = _form_update(hidden_signed, NeedAppearances=generic.BooleanObject(True))
    assert HIDDEN in _first_page_text(forged, tmp_path)  # what every reader shows now

    (first,) = verify_pdf(forged, trust).signatures
    assert first.review is True
    assert first.modifications == "form_fields_changed"
    assert first.changed_fields == ("amount",)
    assert 'form field amount on page 1 is drawn again from its value' in first.message
    assert f'it shows "{HIDDEN}", where the signed page did not show it as text' in first.message
    found = finding_for("2569_dds_0403_80.pdf", [s.as_dict() for s in (first,)])
    assert found.verdict == "fail" and HIDDEN in found.message_en
    assert "ถูกแก้ไขหลังลงลายมือชื่อ" in found.message_th


def test_a_value_shown_instead_of_the_signed_text_is_not_what_was_signed(pki, trust):
    signed = sign_letter(_letter_with_amount(b"Pending review"), pki)
    forged = _form_update(signed, NeedAppearances=generic.BooleanObject(True))
    (first,) = verify_pdf(forged, trust).signatures
    assert (first.indication, first.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert first.review and first.changed_fields == ("amount",)
    assert f'it shows "{HIDDEN}", where the signed page showed "Pending review"' in first.message


def test_redrawing_what_it_showed_and_later_signatures_are_not_changes(pki, trust, hidden_signed):
    shown_signed = sign_letter(_letter_with_amount(HIDDEN.encode()), pki)
    (first,) = verify_pdf(_form_update(shown_signed, NeedAppearances=generic.BooleanObject(True)), trust).signatures
    assert "amount" not in first.changed_fields and "drawn again" not in first.message
    countersigned = sign_letter(hidden_signed, pki, field_name="Signature2")
    first, second = verify_pdf(countersigned, trust).signatures
    assert (first.indication, first.modifications, first.review) == ("TOTAL_PASSED", "signatures_added", False)


def test_an_appearance_a_drawn_value_hid_when_signed_shown_after(pki, trust, tmp_path, monkeypatch):
    # A signing tool that keeps /NeedAppearances (pyHanko removes it with every
    # signature): the signer saw "amount" drawn from its empty value, blank paper; an
    # update that turns the key off shows the appearance prepared under it.
    from pyhanko.sign.fields import ensure_sig_flags
    from pyhanko.sign.signers import cms_embedder

    monkeypatch.setattr(cms_embedder, "ensure_sig_flags",
                        lambda writer, lock_sig_flags=True: ensure_sig_flags(writer, lock_sig_flags=False))
    letter = _form_update(_letter_with_amount(HIDDEN.encode(), value=""), NeedAppearances=generic.BooleanObject(True))
    signed = sign_letter(letter, pki)
    monkeypatch.undo()
    assert HIDDEN not in _first_page_text(signed, tmp_path)  # what the signer saw
    forged = _form_update(signed, NeedAppearances=generic.BooleanObject(False))
    assert HIDDEN in _first_page_text(forged, tmp_path)

    (first,) = verify_pdf(forged, trust).signatures
    assert first.review is True and first.changed_fields == ("amount",)
    assert 'is no longer drawn from its value by viewers' in first.message
    assert f'it shows "{HIDDEN}", where the signed page showed nothing' in first.message
