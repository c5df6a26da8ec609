"""The folder copy says when a signing time is only the signer's claim (red team,
session 52).

A PAdES signature without a timestamp carries the time its signer's computer claims
(CMS signingTime): a sender can put any date there, an earlier one to meet a deadline.
The register keeps `signed_at_source: claimed`; the folder copy's X-Saraban-Signature
read "signed 2026-01-02T09:00:00+00:00" as a fact. Now it adds "(signer's own clock)";
a time a trusted timestamp vouches for is shown as before.
"""
from __future__ import annotations

import io
import types

from gateway.signatures.receive_stamp import signature_headers
from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter
from tests.signatures.test_timestamp_only_session52 import timestamp  # noqa: F401 - a fixture


def _signed(pki, timestamper=None) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256")
    pdf_signer = signers.PdfSigner(meta, pki.signer(pki.valid), timestamper=timestamper)
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(make_letter()))).getvalue()


def _line(data: bytes, trust) -> str:
    letter = types.SimpleNamespace(attachments=[types.SimpleNamespace(
        filename="a.pdf", signatures=[s.as_dict() for s in verify_pdf(data, trust).signatures])])
    [(_, line)] = signature_headers(letter)
    return line


def test_a_claimed_time_is_said_to_be_one(pki, trust):
    data = _signed(pki)
    [sig] = [s.as_dict() for s in verify_pdf(data, trust).signatures]
    assert sig["signed_at_source"] == "claimed"
    assert _line(data, trust).endswith(f"; signed {sig['signed_at']} (signer's own clock)")


def test_a_timestamped_time_is_not(pki, trust, timestamp):  # noqa: F811
    data = _signed(pki, timestamp.stamper())
    [sig] = [s.as_dict() for s in verify_pdf(data, trust).signatures]
    assert sig["signed_at_source"] == "timestamp"
    assert _line(data, trust).endswith(f"; signed {sig['signed_at']}")
