"""A trust root is held to its own validity dates (pyHanko takes an anchor's dates as given).

docs/signatures.md tells operators they may put the gateway's self-signed seal in the
trust roots; once that seal has expired, what it signs must stop verifying as valid."""
from __future__ import annotations

import datetime as dt

from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.pki import NOW, self_signed_identity, sign_letter


def _signed_by_self_signed_root(letter, pki, tmp_path, *, not_before, not_after):
    ident = self_signed_identity(tmp_path, "seal", not_before=not_before, not_after=not_after)
    signed = sign_letter(letter, pki, ident)
    return signed, TrustSettings.load([ident.cert_path], env={})


def test_expired_self_signed_signer_that_is_a_trust_root_does_not_pass(letter, pki, tmp_path, monkeypatch):
    monkeypatch.setattr(type(pki), "signer", _no_chain_signer)
    signed, trust = _signed_by_self_signed_root(letter, pki, tmp_path, not_before=NOW - dt.timedelta(days=800),
                                                not_after=NOW - dt.timedelta(days=2))
    verdict = verify_pdf(signed, trust)
    sig = verdict.signatures[0]
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    assert "trust root Saraban Gateway Seal (TEST) expired on" in sig.message
    assert verdict.review


def test_a_current_self_signed_trust_root_still_passes(letter, pki, tmp_path, monkeypatch):
    monkeypatch.setattr(type(pki), "signer", _no_chain_signer)
    signed, trust = _signed_by_self_signed_root(letter, pki, tmp_path, not_before=NOW - dt.timedelta(days=2),
                                                not_after=NOW + dt.timedelta(days=700))
    sig = verify_pdf(signed, trust).signatures[0]
    assert (sig.indication, sig.sub_indication) == ("TOTAL_PASSED", None)


def _no_chain_signer(self, who, *, chain=True):
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return signers.SimpleSigner(signing_cert=who.asn1_cert(), signing_key=who.asn1_key(),
                                cert_registry=SimpleCertificateStore.from_certs([]))
