"""Signed content changed or hidden after signing, as a viewer shows the file
(gateway/signatures/visual_diff.py; docs/signatures.md "Signed content covered after
signing"). The red team's findings F1, F2 and F5 (2026-11-30): the gateway said
TOTAL_PASSED while Chrome showed another reference number, or text painted over the
signed text. Each must be INDETERMINATE / SIG_CONSTRAINTS_FAILURE, flagged for review,
with a sentence naming the page; the genuine changes after signing (a second signature
in free space, a blank field filled in, the gateway's own receive stamp) keep their
verdicts. Builders: tests/signatures/covering.py."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.signatures.verify import verify_pdf
from tests.paths import REPO
from tests.pki import make_letter, sign_letter
from tests.signatures import covering

COVERED_PAGE_1 = "the signed content of page 1 is covered or changed in the file as a viewer shows it"
COVERED_PAGE_1_TH = "ข้อความที่ลงลายมือชื่อไว้ในหน้า 1 ถูกปิดทับหรือเปลี่ยนไปหลังลงลายมือชื่อ"


@pytest.fixture(scope="module")
def plain_signed(pki):
    return sign_letter(make_letter(), pki)


@pytest.fixture(scope="module")
def other_signer(pki, tmp_path_factory):
    return covering.attacker(pki, tmp_path_factory.mktemp("attacker"))


def sender(verdict):
    return next(s for s in verdict.signatures if s.field == "Signature1")


def assert_caught(verdict, *sentences):
    sig = sender(verdict)
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE"), sig
    assert sig.review and verdict.review
    for sentence in sentences:
        assert sentence in sig.message, sig.message
    assert "Error" not in sig.message and "Traceback" not in sig.message


# --------------------------------------------------------------- the red team's cases


def test_f1_forged_page_inside_an_info_update_pdfium_rebuilds(plain_signed, trust):
    forged = covering.forge_inside_info_update(plain_signed, entry_bytes=19)
    verdict = verify_pdf(forged, trust)
    assert_caught(verdict, COVERED_PAGE_1, COVERED_PAGE_1_TH,
                  "1 object(s) were added after signing that no cross-reference section lists",
                  "the cross-reference table written after signing is not usable")
    assert sender(verdict).modifications == "other"  # pyHanko alone: "signatures_added"


def test_f1_root_unlisted_object_even_when_pdfium_reads_the_table(plain_signed, trust):
    # 20-byte entries: PDFium reads the table and shows the signed page, but the forged
    # content stream is still in the file for any reader that rebuilds the table.
    forged = covering.forge_inside_info_update(plain_signed, entry_bytes=20)
    verdict = verify_pdf(forged, trust)
    assert_caught(verdict, "1 object(s) were added after signing that no cross-reference section lists")
    assert COVERED_PAGE_1 not in sender(verdict).message  # PDFium itself shows the signed page


def test_f2_a_later_valid_signature_painted_over_the_text(plain_signed, pki, other_signer, trust):
    covered = covering.second_signature_over_text(plain_signed, pki, other_signer)
    verdict = verify_pdf(covered, trust)
    assert_caught(verdict, COVERED_PAGE_1, COVERED_PAGE_1_TH)
    assert sender(verdict).modifications == "other"
    later = next(s for s in verdict.signatures if s.field == "Signature2")
    assert later.indication == "TOTAL_PASSED" and later.signer == "นายคนอื่น"  # its own signature is fine


def test_f5_an_empty_signature_field_added_over_the_text(plain_signed, trust):
    verdict = verify_pdf(covering.empty_signature_field_over_text(plain_signed), trust)
    assert_caught(verdict, COVERED_PAGE_1, "form field Signature9 on page 1 filled in after signing")
    assert sender(verdict).modifications == "form_fields_changed"


def test_f5_a_blank_field_planted_before_signing_filled_over_the_text(pki, trust):
    signed = sign_letter(covering.planted_blank_field(make_letter()), pki)
    assert sender(verify_pdf(signed, trust)).indication == "TOTAL_PASSED"  # as signed: fine
    verdict = verify_pdf(covering.fill_planted_field_over_text(signed), trust)
    assert_caught(verdict, COVERED_PAGE_1, "form field note on page 1 filled in after signing")


def test_the_command_line_says_it(plain_signed, tmp_path):
    """`saraban-gateway verify --json` on the F1 file, as an operator runs it."""
    from tests.pki import build_pki

    pki = build_pki(tmp_path / "pki")  # the session PKI lives in another temp dir; any will do
    forged = covering.forge_inside_info_update(sign_letter(make_letter(), pki))
    path = tmp_path / "2569_dds_0403_276.pdf"
    path.write_bytes(forged)
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[signatures]\ntrust_roots = "{pki.roots_pem}"\n'
                      f'revocation_dir = "{pki.revocation_dir}"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "verify", "--json", str(path)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert run.returncode == 1
    assert (doc["indication"], doc["sub_indication"], doc["review"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", True)
    [sig] = doc["signatures"]
    assert sig["modifications"] == "other" and COVERED_PAGE_1 in sig["message"]


# ------------------------------------------------------------ what must keep passing


def test_a_second_signature_in_free_space_keeps_the_first_passed(plain_signed, pki, other_signer, trust):
    # The same widget, text on no ground, in the empty lower half of the page.
    added = covering.second_signature_over_text(plain_signed, pki, other_signer, box=(50, 60, 560, 260), opaque=False)
    sig = sender(verify_pdf(added, trust))
    assert (sig.indication, sig.modifications, sig.review, sig.message) == ("TOTAL_PASSED", "signatures_added", False, "")


def test_transparent_text_over_the_text_is_not_a_cover(plain_signed, pki, other_signer, trust):
    # Ink added over ink hides nothing: the signed glyphs are all still there (darker).
    added = covering.second_signature_over_text(plain_signed, pki, other_signer, opaque=False)
    assert sender(verify_pdf(added, trust)).indication == "TOTAL_PASSED"


def test_a_blank_field_filled_in_after_signing_stays_passed_for_review(pki, trust):
    signed = sign_letter(make_letter(with_form_field=True, field_value=""), pki)
    sig = sender(verify_pdf(covering.fill_blank_field(signed, "remark", "รับทราบ"), trust))
    assert (sig.indication, sig.modifications, sig.review) == ("TOTAL_PASSED", "form_fields_changed", True)
    assert sig.message == 'form field remark on page 1 filled in after signing ("รับทราบ")'


def test_the_receive_stamp_is_not_a_cover(plain_signed, seal, stamp_info, trust):
    from gateway.signatures.stamp import stamp_pdf

    stamped = stamp_pdf(plain_signed, stamp_info, seal)
    assert stamped.mode == "stamped"
    sig = sender(verify_pdf(stamped.pdf, trust))
    assert (sig.indication, sig.modifications, sig.review, sig.message) == ("TOTAL_PASSED", "signatures_added", False, "")


# --------------------------------------------------------------------- cost and bounds


def test_files_without_later_bytes_are_never_rendered(plain_signed, pki, trust, monkeypatch):
    """An unsigned file, or one whose signatures cover all of it, pays nothing."""
    from gateway.signatures import visual_diff

    def refuse(*_a, **_k):
        raise AssertionError("rendered a file that needs no comparison")

    monkeypatch.setattr(visual_diff, "FinalFile", refuse)
    monkeypatch.setattr(visual_diff, "compare", refuse)
    assert verify_pdf(plain_signed, trust).indication == "TOTAL_PASSED"
    assert verify_pdf(make_letter(), trust).indication == "NO_SIGNATURE_FOUND"
    padded = plain_signed + b"\n\n  \n"  # blank padding after the signature is no update
    assert verify_pdf(padded, trust).indication == "TOTAL_PASSED"


def test_pages_beyond_the_bound_are_said_not_compared_and_flagged(pki, other_signer, trust, monkeypatch):
    from gateway.signatures import visual_diff

    monkeypatch.setattr(visual_diff, "MAX_PAGES", 2)
    signed = sign_letter(make_letter(pages=4), pki)
    added = covering.second_signature_over_text(signed, pki, other_signer, box=(50, 60, 560, 260), opaque=False)
    sig = sender(verify_pdf(added, trust))
    assert sig.indication == "TOTAL_PASSED" and sig.review  # not failed: not seen
    assert "page 3-4 was not compared with the signed version" in sig.message


def test_a_page_count_that_differs_is_a_change(plain_signed):
    from gateway.signatures import visual_diff

    final = visual_diff.FinalFile(make_letter(pages=2))
    try:
        seen = visual_diff.compare(final, plain_signed)
    finally:
        final.close()
    assert seen.changed and seen.page_counts == (1, 2)
    assert "the file has 2 pages as a viewer shows it, 1 when signed" in seen.sentences()[0]


def test_a_final_file_pdfium_cannot_open_is_a_change(plain_signed):
    from gateway.signatures import visual_diff

    final = visual_diff.FinalFile(b"%PDF-1.7\nnot a pdf")
    try:
        seen = visual_diff.compare(final, plain_signed)
    finally:
        final.close()
    assert seen.changed and seen.unrenderable == (1,)


# ------------------------------------------------------------------ the trial corpus

# Tampered files of the trial whose change a viewer shows on the signed pages (PDFium):
# each was already flagged (by the difference analysis, or its certificate), and now
# also says which page. The others' changes are not visible in PDFium's rendering
# (hide-and-replace v2, hide-form-via-form) or their signature is not intact.
SHOWN_CHANGED = {
    "dss-2236_annotation-and-visible-change.pdf": "page 2 is covered",
    "dss-2236_replace.pdf": "page 1 is covered",
    "dss_modified_after_signature.pdf": "page 1 is covered",
    "dss_pdf-removed-pages.pdf": "the file has 1 pages as a viewer shows it, 3 when signed",
    "dss_pdf-signed-added-page.pdf": "the file has 2 pages as a viewer shows it, 1 when signed",
    "pdfinsecurity_isa-3.pdf": "page 1 is covered",
    "pdfinsecurity_isaValidPdf.pdf": "page 1 is covered",
    "shadow-hide-and-replace-v1_manipulated.pdf": "page 1 is covered",
    "shadow-hide-text-via-form_manipulated.pdf": "page 1 is covered",
    "shadow-replace-overlay_manipulated.pdf": "page 1 is covered",
}


def test_the_trial_files_a_viewer_shows_changed_say_so_and_no_untampered_one_does(trial_verdicts):
    from tests.signatures.test_signature_trial import TAMPERED, UNTAMPERED

    assert set(SHOWN_CHANGED) <= set(TAMPERED)
    words = ("as a viewer shows it", "cross-reference section lists", "cross-reference table", "not compared")
    for name, verdict in trial_verdicts.items():
        said = [s.message for s in verdict.signatures if any(w in s.message for w in words)]
        if name in SHOWN_CHANGED:
            assert any(SHOWN_CHANGED[name] in m for m in said), (name, said)
        else:
            assert not said, (name, said)
        if name in UNTAMPERED:
            assert all(s.modifications in ("none", "signatures_added", "form_fields_changed")
                       for s in verdict.signatures), name


def test_an_object_listed_twice_after_signing_is_caught_and_never_stamped(plain_signed, trust, pki):
    """Session 43's red team: pyHanko's difference analysis and PDFium both take the last
    of two entries for page 1's content and saw the signed page; poppler (Evince,
    Okular) and pypdf take the first and showed the forgery, and the register took the
    forged reference from pypdf. TOTAL_PASSED, stamped, no review."""
    import datetime as dt
    import io

    import pypdf

    from gateway.signatures.stamp import SealKey, StampInfo, stamp_pdf

    forged = covering.forge_listed_twice(plain_signed)
    signed_text = pypdf.PdfReader(io.BytesIO(plain_signed)).pages[0].extract_text()
    assert pypdf.PdfReader(io.BytesIO(forged)).pages[0].extract_text() != signed_text  # what poppler shows too
    verdict = verify_pdf(forged, trust)
    assert_caught(verdict, "after signing, a cross-reference section lists 1 object(s) twice",
                  "ตารางอ้างอิงของไฟล์ระบุออบเจกต์เดียวกันซ้ำสองครั้ง")
    assert sender(verdict).modifications == "other"
    # A free place found on the page one reader shows may be text on the other's.
    seal = SealKey.load(pki.seal.key_path, pki.seal.cert_path, [pki.sub_ca.cert_path])
    info = StampInfo("สำนักงานเขตพระนคร", "15/2569", dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc))
    result = stamp_pdf(forged, info, seal)
    assert result.mode == "receipt" and "lists an object twice" in result.reason


def test_a_table_that_lists_each_object_once_is_not_listed_twice(plain_signed):
    from gateway.signatures.revisions import listed_twice

    assert listed_twice(plain_signed) == []
    assert listed_twice(covering.forge_inside_info_update(plain_signed)) == []
    assert listed_twice(b"xref\n0 2\n0000000000 65535 f \n0000000015 00000 n \n1 1\n0000000099 00000 n \ntrailer") == [1]
    # `startxref` is no table, and a table cut short ends the look without an error.
    assert listed_twice(b"startxref\n3 1\n4 1\n") == []
    assert listed_twice(b"xref\n0 5\n0000000000 65535 f \ntrailer") == []
