"""Every file of shared/corpus/pdf/signature-trial/ (41 signed PDFs nobody here wrote:
EU DSS, PDF-Insecurity, pyHanko, Shadow Attacks; see its SOURCES.md) through the
verifier, with the trial's own trust roots.

What a clerk relies on: no file that was tampered with after signing is TOTAL_PASSED,
each of them is flagged for review, and every verdict uses a documented sub-indication.
The untampered originals keep their signatures intact; none of them passes today only
because of its certificate (the Shadow demo signer, itself a trust root, expired on
2026-07-15; DSS's test CAs are not in the bundle), which the test states explicitly.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from gateway.signatures.verdict import SUB_INDICATIONS
from tests.paths import REPO, shared_path

# Files changed after signing, by what SOURCES.md and the file names say was done to them.
TAMPERED = {
    "dss-2236_annotation-and-visible-change.pdf": "visible change after certification",
    "dss-2236_replace.pdf": "Shadow replace: a signed field shows another value",
    "dss_hello_signed_INCSAVE_signed_EDITED.pdf": "bytes edited inside a signed range",
    "dss_modified_after_signature.pdf": "content modified after signing",
    "dss_pades-signed-annot-added.pdf": "annotation added",
    "dss_pades-spoofing-replaced-reason.pdf": "signature dictionary replaced",
    "dss_pdf-byterange-overlap.pdf": "overlapping byte ranges",
    "dss_pdf-removed-pages.pdf": "pages removed",
    "dss_pdf-signed-added-page.pdf": "page added",
    "dss_pdf-signed-out-of-byteRange.pdf": "content outside the byte range",
    "dss_pdf-spoofing-attack.pdf": "spoofed signature",
    "pdfinsecurity_isa-3.pdf": "incremental saving attack (tail pyHanko does not parse)",
    "pdfinsecurity_isaValidPdf.pdf": "incremental saving attack",
    "pdfinsecurity_siwa.pdf": "signature wrapping attack",
    "pyhanko_coverage-anomalies_one-byterange.pdf": "coverage anomaly",
    "pyhanko_coverage-anomalies_signature-gap-too-big.pdf": "coverage anomaly",
    "pyhanko_coverage-anomalies_tail-uncovered.pdf": "coverage anomaly",
    "pyhanko_coverage-anomalies_weird-byterange.pdf": "coverage anomaly",
    "pyhanko_form-update-ap-indirect-sneaky-trailer.pdf": "sneaky form update",
    "pyhanko_form-update-override-appearance-stream-sneaky.pdf": "sneaky appearance override",
    "pyhanko_form-update-override-appearance-stream.pdf": "appearance override",
    "shadow-hide-and-replace-v1_manipulated.pdf": "Shadow hide-and-replace",
    "shadow-hide-and-replace-v2_manipulated.pdf": "Shadow hide-and-replace",
    "shadow-hide-form-via-form_manipulated.pdf": "Shadow hide",
    "shadow-hide-text-via-form_manipulated.pdf": "Shadow hide",
    "shadow-hide-v1_manipulated-a.pdf": "Shadow hide",
    "shadow-hide-v1_manipulated-b.pdf": "Shadow hide",
    "shadow-replace-overlay_manipulated.pdf": "Shadow replace",
    "shadow-replace-overwrite_manipulated.pdf": "Shadow replace",
}
# Signed and left alone (or only signed again / form-filled as the signer allowed).
UNTAMPERED = {
    "dss-2554_certified-changes-permitted.pdf",
    "dss-2554_certified-no-change-permitted.pdf",
    "dss-2554_fieldmdp-include.pdf",
    "dss_pades-signed-filled-form.pdf",
    "dss_pdf-signed-original.pdf",
    "pyhanko_minimal-signed-twice-both-created.pdf",
    "shadow-hide-and-replace-v1_signed.pdf",
    "shadow-hide-form-via-form_signed.pdf",
    "shadow-hide-v1_signed.pdf",
    "shadow-replace-overlay_signed.pdf",
}
UNSIGNED = {"unsigned_original-document.pdf"}
# Why an untampered file is not TOTAL_PASSED with these roots: its certificate, never its bytes.
CERTIFICATE_REASONS = {"OUT_OF_BOUNDS_NO_POE", "CERTIFICATE_CHAIN_GENERAL_FAILURE", "CRYPTO_CONSTRAINTS_FAILURE",
                       "NO_CERTIFICATE_CHAIN_FOUND", "EXPIRED", "TRY_LATER"}


def trial_dir():
    return shared_path("corpus", "pdf", "signature-trial")


@pytest.fixture(scope="module")
def verdicts(trial_verdicts):
    return trial_verdicts


def test_the_lists_cover_the_whole_trial_folder(verdicts):
    assert set(verdicts) == set(TAMPERED) | UNTAMPERED | UNSIGNED
    assert len(verdicts) == 40  # plus SOURCES.md and the two trust-root files: 43 in the folder


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_no_tampered_file_passes_and_each_is_flagged(verdicts, name):
    verdict = verdicts[name]
    assert verdict.indication != "TOTAL_PASSED", (TAMPERED[name], verdict.as_dict())
    assert verdict.review


def test_the_incremental_saving_attack_is_caught_and_explained(verdicts):
    sig = verdicts["pdfinsecurity_isa-3.pdf"].signatures[0]
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig.modifications == "other"  # pyHanko alone reports "signatures_added" here
    assert re.search(r"\d+ bytes were added to the file outside any revision", sig.message)


def test_the_shadow_replace_says_what_the_page_shows_now(verdicts):
    sig = verdicts["dss-2236_replace.pdf"].signatures[0]
    assert sig.changed_fields == ("Text1",)
    assert ('form field Text1 on page 1 showed "World Health Organisation" when signed '
            'and now shows "Attacker"') in sig.message


@pytest.mark.parametrize("name", sorted(UNTAMPERED))
def test_untampered_files_keep_their_signatures_intact(verdicts, name):
    verdict = verdicts[name]
    assert verdict.document == "ok"
    for sig in verdict.signatures:
        assert sig.modifications in ("none", "signatures_added", "form_fields_changed"), sig
        if sig.indication != "TOTAL_PASSED":
            assert sig.sub_indication in CERTIFICATE_REASONS, sig


def test_hybrid_reference_files_get_a_real_verdict(verdicts):
    # pyHanko refuses them in strict mode ("GENERIC"); the lenient reader judges them.
    for name in ("dss-2554_certified-no-change-permitted.pdf", "dss_modified_after_signature.pdf"):
        verdict = verdicts[name]
        assert any("hybrid-reference" in w for w in verdict.warnings)
        assert all(s.sub_indication != "GENERIC" for s in verdict.signatures), name
    assert verdicts["dss_modified_after_signature.pdf"].signatures[0].modifications == "other"


def test_unsigned_file(verdicts):
    assert verdicts["unsigned_original-document.pdf"].indication == "NO_SIGNATURE_FOUND"


def test_every_sub_indication_is_documented_in_thai_and_english(verdicts):
    emitted = {s.sub_indication for v in verdicts.values() for s in v.signatures if s.sub_indication}
    emitted |= {v.sub_indication for v in verdicts.values() if v.sub_indication}
    assert emitted <= set(SUB_INDICATIONS)
    # The table in docs/signatures.md is the code's table, word for word, and complete.
    doc = (REPO / "docs" / "signatures.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|$", doc, flags=re.M))
    assert set(rows) == set(SUB_INDICATIONS)
    for name, (thai, english) in SUB_INDICATIONS.items():
        assert rows[name] == f"{thai} / {english}", name
    # pyHanko can name any member of its AdES enums: all of them are covered.
    from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

    assert {m.name for m in (*AdESFailure, *AdESIndeterminate)} <= set(SUB_INDICATIONS)


def test_the_command_line_verdicts(tmp_path):
    """`saraban-gateway verify --json`, as an operator runs it, on three telling files."""
    base = trial_dir()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[signatures]\ntrust_roots = "{base / "trust-roots.pem"}"\n',
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SARABAN_TRUST_ROOTS"}
    out = {}
    for name in ("pdfinsecurity_isa-3.pdf", "dss-2236_replace.pdf", "shadow-hide-v1_signed.pdf"):
        run = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "verify", "--json",
                              str(base / name)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in run.stdout + run.stderr
        out[name] = (run.returncode, json.loads(run.stdout))
    code, doc = out["pdfinsecurity_isa-3.pdf"]
    assert code == 1 and doc["indication"] == "INDETERMINATE" and doc["review"]
    code, doc = out["dss-2236_replace.pdf"]
    assert code == 1 and doc["indication"] != "TOTAL_PASSED" and doc["signatures"][0]["changed_fields"] == ["Text1"]
    code, doc = out["shadow-hide-v1_signed.pdf"]
    assert code == 1 and doc["signatures"][0]["modifications"] == "none"
    assert doc["signatures"][0]["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"  # its root expired 2026-07-15
