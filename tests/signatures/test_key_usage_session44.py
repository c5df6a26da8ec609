"""One signer, one certificate, one verdict: a signed mail and the signed PDF it carries
are held to the same key usage policy (session 44).

Until session 44 the S/MIME path accepted digitalSignature or nonRepudiation and the
PDF path nonRepudiation only (pyHanko's default for a PDF), so a Thai CA's certificate
with digitalSignature alone (a person's signing certificate often has just that) put
"signed, valid" on the mail and "the certificate chain breaks a constraint" on the
letter in the same register row. A certificate without a keyUsage extension failed
both, although RFC 5280 4.2.1.3 restricts it to nothing (OpenSSL, Acrobat and EU DSS
accept it), and Adobe's extended key usage for signing PDFs (1.2.840.113583.1.1.5)
read as "issued for pdf signing, not for signing documents or mail" in both.

Each case signs a PDF and the mail that carries it with one certificate of the test
PKI, sends the mail to the real daemon, and reads the register (`register list
--json`): the letter's signature and the mail's must say the same thing.
"""
from __future__ import annotations

import uuid

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from tests.pki import leaf_identity, make_letter, sign_letter
from tests.signatures.test_pipeline_signatures import letter_entity
from tests.signatures.test_red_team_session14 import (
    red_team_daemon,
    register_entry,
    signed_mail,
    smime_verdict,
)

PASSED = ("TOTAL_PASSED", None)
NOT_FOR_SIGNING = ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")

# case -> (the certificate's keyUsage / extendedKeyUsage, the verdict of both signatures,
# the start of their message)
CASES = {
    "digitalSignature only": ({"key_usage": ("digital_signature",)}, PASSED, ""),
    "nonRepudiation only": ({"key_usage": ("content_commitment",)}, PASSED, ""),
    "digitalSignature and keyEncipherment": ({"key_usage": ("digital_signature", "key_encipherment")}, PASSED, ""),
    "no keyUsage extension": ({"key_usage": None}, PASSED, ""),
    "keyEncipherment only": ({"key_usage": ("key_encipherment",)}, NOT_FOR_SIGNING,
                             "the signer's certificate is issued for encrypting keys, not for signing documents"
                             " or mail (ใบรับรองของผู้ลงนามไม่ได้ออกให้ใช้ลงลายมือชื่อในเอกสารหรือจดหมาย)"),
    "keyAgreement only": ({"key_usage": ("key_agreement",)}, NOT_FOR_SIGNING,
                          "the signer's certificate is issued for key agreement, not for signing documents"),
    "a sub-CA's keyCertSign and cRLSign": ({"key_usage": ("key_cert_sign", "crl_sign")}, NOT_FOR_SIGNING,
                                           "the signer's certificate is issued for signing certificates and CRLs"
                                           " (a CA's own key), not for signing documents or mail"),
    "EKU serverAuth only": ({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, NOT_FOR_SIGNING,
                            "the signer's certificate is issued for server auth, not for signing documents or mail"),
    "EKU timeStamping only": ({"eku": [ExtendedKeyUsageOID.TIME_STAMPING]}, NOT_FOR_SIGNING,
                              "the signer's certificate is issued for time stamping"),
    "EKU emailProtection only": ({"eku": [ExtendedKeyUsageOID.EMAIL_PROTECTION]}, PASSED, ""),
    "EKU clientAuth only": ({"eku": [ExtendedKeyUsageOID.CLIENT_AUTH]}, PASSED, ""),
    "EKU documentSigning (RFC 9336)": ({"eku": [ObjectIdentifier("1.3.6.1.5.5.7.3.36")]}, PASSED, ""),
    "EKU Adobe Authentic Documents Trust": ({"eku": [ObjectIdentifier("1.2.840.113583.1.1.5")]}, PASSED, ""),
    "EKU Microsoft document signing": ({"eku": [ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")]}, PASSED, ""),
    "digitalSignature only, EKU serverAuth only": (
        {"key_usage": ("digital_signature",), "eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, NOT_FOR_SIGNING,
        "the signer's certificate is issued for server auth"),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    yield from red_team_daemon(tmp_path_factory, pki, "keyuse44")


@pytest.fixture(scope="module")
def sent(gateway, pki, tmp_path_factory):
    """Every case's mail, sent at once (one wait for the daemon): case -> Message-ID."""
    certs = tmp_path_factory.mktemp("keyuse44-certs")
    out = {}
    for n, (case, (usage, _verdict, _message)) in enumerate(CASES.items(), start=1):
        who = leaf_identity(pki, certs, f"case{n}", **usage)
        mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
        pdf = sign_letter(make_letter(), pki, who)
        gateway.send(signed_mail(pki, mid, who=who, inner=letter_entity([(f"2569_dds_0403_{n}.pdf", pdf)])),
                     "saraban.pomprap@bangkok.go.th")
        out[case] = mid
    return out


@pytest.mark.parametrize("case", CASES)
def test_the_mail_and_the_letter_it_carries_get_one_verdict(gateway, sent, case):
    _usage, verdict, message = CASES[case]
    entry = register_entry(gateway, sent[case])
    [pdf] = [s for a in entry["attachments"] if a["filename"].endswith(".pdf") for s in a["signatures"]]
    mail = smime_verdict(entry)
    assert (pdf["indication"], pdf["sub_indication"]) == verdict, pdf["message"]
    assert (mail["indication"], mail["sub_indication"]) == verdict, mail["message"]
    assert pdf["message"].startswith(message) and mail["message"].startswith(message), (pdf["message"], mail["message"])
    assert entry["review"] is (verdict != PASSED)
