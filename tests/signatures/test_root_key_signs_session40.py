"""A trust root's own key signing a letter is held to the key usage a signer's is
(session 39's signature red team).

pyHanko does not apply its key usage policy to a signer whose certificate is itself a
trust root ("we assume the user intended for the trust root to be trusted
unconditionally"): a CA's root key, whose certificate is for signing certificates and
CRLs only (keyCertSign, cRLSign), signed a PDF and an S/MIME mail and both were
TOTAL_PASSED. A CA signs certificates; a letter is signed by a person or a unit's seal
with a certificate issued for that. A root whose certificate is for signing documents
(digitalSignature, nonRepudiation: a unit's own self-signed seal the operator chose to
trust) still passes."""
from __future__ import annotations

import datetime as dt

from gateway.signatures.smime import verify_smime
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.pki import make_smime, self_signed_identity, sign_letter

CA_USAGE = "the signer's certificate is a trust root issued for signing certificates and CRLs"


def test_a_roots_ca_key_signing_a_pdf_is_not_passed(letter, pki, trust):
    [sig] = verify_pdf(sign_letter(letter, pki, pki.root), trust).signatures
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")
    assert sig.message.startswith(CA_USAGE), sig.message
    assert sig.review


def test_a_roots_ca_key_signing_a_mail_is_not_passed(pki, trust):
    [sig] = verify_smime(make_smime(pki, pki.root), trust)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")
    assert sig["message"].startswith(CA_USAGE), sig["message"]


def test_a_trusted_self_signed_signing_certificate_still_passes(letter, pki, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    own = self_signed_identity(tmp_path, "unit-seal", not_before=now - dt.timedelta(days=1),
                               not_after=now + dt.timedelta(days=300), cn="ตราสำนักงานเขต (TEST)")
    trusted = TrustSettings.load([pki.roots_pem, own.cert_path], env={})
    [sig] = verify_pdf(sign_letter(letter, pki, own), trusted).signatures
    assert (sig.indication, sig.sub_indication) == ("TOTAL_PASSED", None), sig.message
    [sig] = verify_smime(make_smime(pki, own), trusted)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_PASSED", None), sig["message"]
