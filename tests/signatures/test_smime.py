"""S/MIME-signed mail gets the same verdicts as signed PDFs."""
from __future__ import annotations

from gateway.signatures.smime import unwrap_smime, verify_smime
from tests.pki import VALID_SIGNER_NAME, make_smime, tamper_smime


def test_multipart_signed_passes(pki, trust):
    [sig] = verify_smime(make_smime(pki), trust)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_PASSED", None)
    assert sig["signer"] == VALID_SIGNER_NAME
    assert sig["signed_at"] is not None


def test_pkcs7_mime_signed_data_passes_and_unwraps(pki, trust):
    raw = make_smime(pki, detached=False)
    [sig] = verify_smime(raw, trust)
    assert sig["indication"] == "TOTAL_PASSED"
    assert "ขอส่งหนังสือราชการ".encode() in unwrap_smime(raw)


def test_altered_body_is_a_hash_failure(pki, trust):
    for detached in (True, False):
        [sig] = verify_smime(tamper_smime(make_smime(pki, detached=detached)), trust)
        assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE"), detached


def test_lf_only_storage_still_verifies(pki, trust):
    raw = make_smime(pki).replace(b"\r\n", b"\n")
    assert verify_smime(raw, trust)[0]["indication"] == "TOTAL_PASSED"


def test_untrusted_and_revoked_signers(pki, trust):
    [ss] = verify_smime(make_smime(pki, pki.self_signed), trust)
    assert ss["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    [rev] = verify_smime(make_smime(pki, pki.revoked), trust)
    assert (rev["indication"], rev["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE")


def test_unsigned_mail_has_no_verdicts(trust):
    assert verify_smime(b"From: a@b\r\nSubject: x\r\n\r\nhello\r\n", trust) == []


def test_broken_signature_part_is_a_verdict_not_a_crash(trust):
    raw = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"
    )
    [sig] = verify_smime(raw, trust)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "FORMAT_FAILURE")
    assert sig["message"]


def test_an_expired_self_signed_trust_root_does_not_pass_in_mail_either(pki, tmp_path):
    import datetime as dt

    from gateway.signatures.trust import TrustSettings
    from tests.pki import NOW, self_signed_identity

    expired = self_signed_identity(tmp_path, "old", not_before=NOW - dt.timedelta(days=900),
                                   not_after=NOW - dt.timedelta(days=3), cn="สำนักงานเขตเก่า (TEST)")
    [sig] = verify_smime(make_smime(pki, expired), TrustSettings.load([expired.cert_path], env={}))
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    assert "trust root สำนักงานเขตเก่า (TEST) expired on" in sig["message"]
