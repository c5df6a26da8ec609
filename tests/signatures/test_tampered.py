"""Letters changed after signing: each change shows up in the verdict a reader sees."""
from __future__ import annotations

from gateway.signatures.verify import verify_pdf
from tests.pki import (
    tamper_add_page,
    tamper_append_unreferenced,
    tamper_change_field,
    tamper_draw_content,
    tamper_flip_byte,
)


def sender(verdict):
    return next(s for s in verdict.signatures if s.field == "Signature1")


def test_flipped_byte_inside_the_signed_range_is_a_hash_failure(signed, trust):
    verdict = verify_pdf(tamper_flip_byte(signed), trust)
    sig = sender(verdict)
    assert (sig.indication, sig.sub_indication) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert verdict.indication == "TOTAL_FAILED" and verdict.review


def test_page_added_after_signing_is_flagged(signed, trust):
    sig = sender(verify_pdf(tamper_add_page(signed), trust))
    assert not sig.covers_whole_file
    assert sig.modifications == "other"
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig.review


def test_content_drawn_after_signing_is_flagged(signed, trust):
    # What pyHanko issue 259 does by accident: a stamp drawn into the page content.
    sig = sender(verify_pdf(tamper_draw_content(signed), trust))
    assert sig.modifications == "other"
    assert sig.indication != "TOTAL_PASSED"
    assert sig.review


def test_a_signed_field_value_replaced_after_signing_is_not_a_pass(signed, trust):
    # The Shadow "replace" attack: what the signed page showed in a field is swapped.
    verdict = verify_pdf(tamper_change_field(signed), trust)
    sig = sender(verdict)
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig.modifications == "form_fields_changed"
    assert sig.changed_fields == ("remark",)
    assert 'form field remark on page 1 showed "ต้นฉบับ" when signed and now shows "แก้ไขแล้ว"' in sig.message
    assert sig.review and verdict.review


def test_a_blank_field_filled_in_after_an_approval_signature_holds_but_is_shown(pki, trust):
    from tests.pki import make_letter, sign_letter

    blank = sign_letter(make_letter(with_form_field=True, field_value=""), pki)
    sig = sender(verify_pdf(tamper_change_field(blank, "รับทราบ"), trust))
    # Form filling is what an approval signature allows: the signature holds...
    assert sig.indication == "TOTAL_PASSED"
    # ...but a human sees that "remark" was filled in, and with what.
    assert sig.modifications == "form_fields_changed"
    assert sig.changed_fields == ("remark",)
    assert sig.message == 'form field remark on page 1 filled in after signing ("รับทราบ")'
    assert "did not allow" not in sig.message
    assert sig.review


def test_changing_a_no_changes_certified_letter_breaks_the_certification(certified, trust):
    sig = sender(verify_pdf(tamper_change_field(certified), trust))
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig.review


def test_objects_appended_outside_any_revision_are_caught_and_never_stamped(signed, trust, pki):
    import datetime as dt

    from gateway.signatures.stamp import SealKey, StampInfo, stamp_pdf

    attacked = tamper_append_unreferenced(signed)
    sig = sender(verify_pdf(attacked, trust))
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig.modifications == "other" and sig.review
    assert "bytes were added to the file outside any revision" in sig.message
    # Stamping would append a revision after the attacker's bytes and hide them between
    # two revisions; the letter gets a receipt and stays as received.
    seal = SealKey.load(pki.seal.key_path, pki.seal.cert_path, [pki.sub_ca.cert_path])
    info = StampInfo("สำนักงานเขตพระนคร", "15/2569", dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc))
    result = stamp_pdf(attacked, info, seal)
    assert result.mode == "receipt" and "bytes outside its revisions" in result.reason
