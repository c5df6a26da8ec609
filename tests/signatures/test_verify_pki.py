"""Each kind of signer in the Thai-shaped PKI gets the verdict a reader of DSS expects."""
from __future__ import annotations

import json

import pytest

from gateway.signatures.trust import TrustConfigError, TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.pki import VALID_SIGNER_NAME, VALID_SIGNER_ORG, sign_letter


def only_signature(verdict):
    assert len(verdict.signatures) == 1, verdict.as_dict()
    return verdict.signatures[0]


def test_valid_signer_passes_with_thai_name_and_organisation(signed, trust):
    verdict = verify_pdf(signed, trust)
    sig = only_signature(verdict)
    assert (sig.indication, sig.sub_indication) == ("TOTAL_PASSED", None)
    assert sig.signer == VALID_SIGNER_NAME
    assert sig.organisation == VALID_SIGNER_ORG
    assert sig.issuer == "Thai Digital ID CA (TEST)"
    assert sig.covers_whole_file and sig.modifications == "none"
    assert sig.signed_at is not None and sig.signed_at_source == "claimed"
    assert not verdict.review and verdict.indication == "TOTAL_PASSED"


def test_revoked_signer_is_caught_from_the_offline_crl(letter, pki, trust):
    sig = only_signature(verify_pdf(sign_letter(letter, pki, pki.revoked), trust))
    # Revoked before signing and no proof of existence earlier: ETSI says REVOKED_NO_POE.
    assert sig.indication == "INDETERMINATE"
    assert sig.sub_indication == "REVOKED_NO_POE"
    assert sig.review and "revoked" in sig.message


def test_revoked_signer_passes_when_the_crl_is_not_in_the_cache(letter, pki):
    # Soft-fail (the default) cannot know what it was not told: this is why the cache matters.
    no_crls = TrustSettings.load([pki.roots_pem], env={})
    sig = only_signature(verify_pdf(sign_letter(letter, pki, pki.revoked), no_crls))
    assert sig.indication == "TOTAL_PASSED"


def test_hard_fail_without_revocation_data_says_try_later(signed, pki):
    strict = TrustSettings.load([pki.roots_pem], revocation_mode="hard-fail", env={})
    sig = only_signature(verify_pdf(signed, strict))
    assert sig.indication == "INDETERMINATE"
    assert sig.sub_indication == "TRY_LATER"


def test_expired_signer_is_out_of_bounds(letter, pki, trust):
    sig = only_signature(verify_pdf(sign_letter(letter, pki, pki.expired), trust))
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")


def test_self_signed_signer_has_no_chain(letter, pki, trust):
    sig = only_signature(verify_pdf(sign_letter(letter, pki, pki.self_signed), trust))
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert sig.signer == "ผู้ลงนามปลอม"


def test_no_roots_trusts_nobody_not_even_via_the_os_store(signed):
    sig = only_signature(verify_pdf(signed, TrustSettings()))
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")


def test_env_overrides_the_configured_roots(signed, pki):
    wrong = pki.self_signed.cert_path  # a configured bundle that does not hold the Thai root
    overridden = TrustSettings.load([wrong], env={"SARABAN_TRUST_ROOTS": f"{wrong}:{pki.roots_pem}"})
    assert only_signature(verify_pdf(signed, overridden)).indication == "TOTAL_PASSED"
    assert only_signature(verify_pdf(signed, TrustSettings.load([wrong], env={}))).indication == "INDETERMINATE"


def test_bad_trust_configuration_is_a_clear_error(tmp_path):
    with pytest.raises(TrustConfigError, match="cannot read trust root file"):
        TrustSettings.load([tmp_path / "missing.pem"], env={})
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(TrustConfigError, match="holds no certificate"):
        TrustSettings.load([empty], env={})


def test_unsigned_pdf_is_no_signature_found(letter, trust):
    verdict = verify_pdf(letter, trust)
    assert verdict.indication == "NO_SIGNATURE_FOUND"
    assert verdict.as_dict()["signatures"] == []


def test_certified_letter_reports_its_certification(certified, trust):
    sig = only_signature(verify_pdf(certified, trust))
    assert sig.indication == "TOTAL_PASSED"
    assert sig.certification == "no_changes"


def test_as_dict_is_json_with_the_agreed_keys(signed, trust):
    doc = json.loads(json.dumps(verify_pdf(signed, trust).as_dict(), ensure_ascii=False))
    sig = doc["signatures"][0]
    for key in ("indication", "sub_indication", "signer", "organisation", "signed_at",
                "covers_whole_file", "modifications", "review"):
        assert key in sig
    assert sig["signer"] == VALID_SIGNER_NAME
