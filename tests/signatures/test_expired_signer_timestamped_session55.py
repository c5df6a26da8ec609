"""A signature whose signer's certificate has expired since, made while it was valid as
its own trusted timestamp proves (PAdES-T; sig red team, session 55).

A signature timestamp exists for this: it proves the signature existed at its time, so
a certificate that expired later does not undo it (ETSI EN 319 102-1 5.6.2.4, past
signature validation; EU DSS passes it). pyHanko validates at the current time only:
a letter signed and timestamped in August by a certificate that expired in November
(an enclosure signed last year, a letter forwarded) was "INDETERMINATE /
OUT_OF_BOUNDS_NO_POE: ... there is no proof the signature existed earlier" in the
register, with the timestamp's August time beside it as `signed_at`, flagged for review
and quarantined where a unit rejects bad signatures. Now the chain is validated again
as of the timestamp's time; a timestamp that does not verify, one made after the
certificate expired, or a certificate revoked before it still leave the signature
unconfirmed.
"""
from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.daemon import Daemon, write_config
from tests.pki import CRL_URL, NOW, Identity, _cert, _key, _name, leaf_identity, make_letter
from tests.signatures.test_pipeline_signatures import entry_for, quarantined, send

REJECTING = "saraban.latkrabang@bangkok.go.th"
SIGNED_AT = NOW - dt.timedelta(days=100)  # the timestamp's time: the certificate was valid then
EXPIRED_ON = NOW - dt.timedelta(days=35)


def _expired_signer(pki, directory: Path, name: str) -> Identity:
    """A person's certificate from the test sub-CA, valid from 800 days ago until 35 days ago."""
    ident = Identity(directory / f"{name}.pem", directory / f"{name}.key")
    if ident.cert_path.exists():
        return ident
    sub = x509.load_pem_x509_certificate(pki.sub_ca.cert_path.read_bytes())
    sub_key = serialization.load_pem_private_key(pki.sub_ca.key_path.read_bytes(), None)
    key = _key()
    cert = _cert(_name("ประยุทธ์ หมดอายุ", "สำนักงานเขตดุสิต กรุงเทพมหานคร", "TEST"), key, sub.subject, sub_key,
                 ca=False, not_before=NOW - dt.timedelta(days=800), not_after=EXPIRED_ON, crl_url=CRL_URL)
    pem = serialization.Encoding.PEM
    ident.cert_path.write_bytes(cert.public_bytes(pem))
    ident.key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return ident


@pytest.fixture(scope="module")
def parts(pki, tmp_path_factory):
    directory = Path(tmp_path_factory.mktemp("expired-ts"))
    tsa = leaf_identity(pki, directory, "tsa", cn="ETDA Time-Stamping Authority (TEST)",
                        eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    return directory, tsa, _expired_signer(pki, directory, "expired"), _expired_signer(pki, directory, "revoked")


def _stamper(pki, tsa: Identity, at: dt.datetime | None, *, wrong_imprint: bool = False):
    from pyhanko.sign.timestamps import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    class Stamper(DummyTimeStamper):
        async def async_timestamp(self, message_digest, md_algorithm):
            # A token over other bytes than this signature: it proves nothing of it.
            return await super().async_timestamp(bytes(len(message_digest)) if wrong_imprint else message_digest,
                                                 md_algorithm)

    return Stamper(tsa_cert=tsa.asn1_cert(), tsa_key=tsa.asn1_key(), fixed_dt=at,
                   certs_to_embed=SimpleCertificateStore.from_certs([pki.sub_ca.asn1_cert()]))


def _signed(pki, who: Identity, stamper) -> bytes:
    """make_letter signed by `who` at SIGNED_AT (its computer's clock and the TSA's agree)."""
    from unittest import mock

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.signers.pdf_signer import PdfSigningSession
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()
    session_init = PdfSigningSession.__init__

    def then(self, *args, system_time=None, **kwargs):
        session_init(self, *args, system_time=SIGNED_AT, **kwargs)

    signer = signers.SimpleSigner(signing_cert=who.asn1_cert(), signing_key=who.asn1_key(),
                                  cert_registry=SimpleCertificateStore.from_certs([pki.sub_ca.asn1_cert()]))
    with mock.patch.object(PdfSigningSession, "__init__", then):
        meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256")
        return signers.PdfSigner(meta, signer, timestamper=stamper).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(make_letter()))).getvalue()


SENTENCE_EN = ("the signer's certificate expired on {expired}; a trusted timestamp shows the signature was made "
               "on {signed}, while it was valid")
SENTENCE_TH = "ใบรับรองของผู้ลงนามหมดอายุเมื่อ {expired} แต่ตราประทับเวลาที่เชื่อถือได้แสดงว่าลงลายมือชื่อเมื่อ {signed}"


def _sentences() -> tuple[str, str]:
    values = dict(expired=EXPIRED_ON.date().isoformat(), signed=SIGNED_AT.date().isoformat())
    return SENTENCE_EN.format(**values), SENTENCE_TH.format(**values)


def test_a_signature_timestamped_while_its_certificate_was_valid_passes(pki, trust, parts):
    _, tsa, expired, _ = parts
    (sig,) = verify_pdf(_signed(pki, expired, _stamper(pki, tsa, SIGNED_AT)), trust).signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("TOTAL_PASSED", None, False)
    assert sig.signed_at_source == "timestamp" and sig.signed_at.date() == SIGNED_AT.date()
    english, thai = _sentences()
    assert english in sig.message and thai in sig.message


@pytest.mark.parametrize("case", ["no timestamp", "timestamped after expiry", "timestamp of other bytes"])
def test_without_proof_from_before_the_expiry_it_is_still_unconfirmed(pki, trust, parts, case):
    _, tsa, expired, _ = parts
    stamper = {"no timestamp": None,
               "timestamped after expiry": _stamper(pki, tsa, None),
               "timestamp of other bytes": _stamper(pki, tsa, SIGNED_AT, wrong_imprint=True)}[case]
    (sig,) = verify_pdf(_signed(pki, expired, stamper), trust).signatures
    assert sig.indication == "INDETERMINATE" and sig.review is True
    assert "while it was valid" not in sig.message


def test_a_certificate_revoked_before_the_timestamp_is_not_passed(pki, parts, tmp_path):
    _, tsa, _, revoked = parts
    sub = x509.load_pem_x509_certificate(pki.sub_ca.cert_path.read_bytes())
    sub_key = serialization.load_pem_private_key(pki.sub_ca.key_path.read_bytes(), None)
    gone = x509.load_pem_x509_certificate(revoked.cert_path.read_bytes())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(sub.subject)
           .last_update(NOW - dt.timedelta(hours=1)).next_update(NOW + dt.timedelta(days=7))
           .add_extension(x509.CRLNumber(2), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(sub_key.public_key()), critical=False)
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(gone.serial_number)
                                    .revocation_date(SIGNED_AT - dt.timedelta(days=100)).build())
           .sign(sub_key, hashes.SHA256()))
    revocation = tmp_path / "revocation"
    revocation.mkdir()
    shutil.copy(pki.revocation_dir / "nrca-g1.crl", revocation)
    (revocation / "tdid-ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    trust = TrustSettings.load([pki.roots_pem], revocation_dir=revocation, env={})
    (sig,) = verify_pdf(_signed(pki, revoked, _stamper(pki, tsa, SIGNED_AT)), trust).signatures
    assert sig.indication != "TOTAL_PASSED" and sig.review is True
    assert "while it was valid" not in sig.message


def test_the_register_of_a_unit_that_rejects_bad_signatures_keeps_it(pki, parts, tmp_path_factory):
    _, tsa, expired, _ = parts
    root = tmp_path_factory.mktemp("expired-ts-daemon")
    extra = ("[signatures]\n"
             f'trust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n'
             'unit_on_failure = { "saraban.latkrabang" = "reject" }\n')
    gateway = Daemon(write_config(root, extra=extra)).start()
    try:
        queue_id, mid = send(gateway, [("2569_dds_0403_155.pdf", _signed(pki, expired, _stamper(pki, tsa, SIGNED_AT)))],
                             REJECTING)
        gateway.wait_idle()
        assert quarantined(gateway, queue_id) == []  # before: held, "no proof the signature existed earlier"
        entry = entry_for(gateway, mid, REJECTING)
        assert entry["review"] is False
        [sig] = entry["attachments"][0]["signatures"]
        assert (sig["indication"], sig["sub_indication"], sig["signer"]) == ("TOTAL_PASSED", None, "ประยุทธ์ หมดอายุ")
        assert sig["signed_at_source"] == "timestamp" and sig["signed_at"].startswith(SIGNED_AT.date().isoformat())
        english, thai = _sentences()
        assert english in sig["message"] and thai in sig["message"]
    finally:
        gateway.stop()
