"""A signing time its signer's computer claims that cannot be true (sig red team,
session 53).

Without a timestamp, a PAdES signature's time is the CMS signingTime the signer's
software writes: any date. A letter signed with a certificate issued a month ago and
dated 2015 (backdated to meet a deadline), or dated next year, was "TOTAL_PASSED, signed
2015-12-25 (signer's own clock)" in the register and the folder copy, no review: pyHanko
validates at the current time. Acrobat, which by default validates at the time the
signature claims, calls the signer's certificate not yet valid and the signature
invalid. Now such a time makes the signature INDETERMINATE (NOT_YET_VALID, EXPIRED or
GENERIC) with a sentence saying the time is false; a clock off by hours is not flagged.
"""
from __future__ import annotations

import datetime as dt
import io
import types
from unittest import mock

import pytest

from gateway.signatures.check import finding_for
from gateway.signatures.receive_stamp import signature_headers
from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter


def _signed_at(pki, claimed: dt.datetime) -> bytes:
    """make_letter signed by pki.valid (valid since 30 days ago), its computer's clock at `claimed`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.signers.pdf_signer import PdfSigningSession

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()
    session_init = PdfSigningSession.__init__

    def at_claimed_time(self, *args, system_time=None, **kwargs):
        session_init(self, *args, system_time=claimed, **kwargs)

    with mock.patch.object(PdfSigningSession, "__init__", at_claimed_time):
        meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256")
        signer = signers.PdfSigner(meta, pki.signer(pki.valid))
        return signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(make_letter()))).getvalue()


def _line(sig) -> str:
    letter = types.SimpleNamespace(attachments=[types.SimpleNamespace(filename="a.pdf", signatures=[sig.as_dict()])])
    [(_, line)] = signature_headers(letter)
    return line


NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.mark.parametrize("claimed, sub, sentence", [
    (dt.datetime(2015, 12, 25, 9, 0, tzinfo=dt.timezone.utc), "NOT_YET_VALID",
     "the signing time its signer's computer claims, 2015-12-25, is before the signer's certificate was valid"),
    (NOW + dt.timedelta(days=400), "GENERIC", "is in the future: that time is false"),
    (NOW + dt.timedelta(days=800), "EXPIRED", "is after the signer's certificate expired"),
])
def test_a_time_the_certificate_cannot_have_signed_at_is_not_passed(pki, trust, claimed, sub, sentence):
    (sig,) = verify_pdf(_signed_at(pki, claimed), trust).signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("INDETERMINATE", sub, True)
    assert sig.signed_at_source == "claimed" and sig.signed_at.date() == claimed.date()
    assert sentence in sig.message and "เวลาลงนามที่เครื่องของผู้ลงนามระบุ" in sig.message
    line = _line(sig)
    assert f"; INDETERMINATE/{sub}; " in line and "(signer's own clock)" in line
    found = finding_for("2569_dds_0403_80.pdf", [sig.as_dict()])
    assert found.verdict == "fail" and "could not be confirmed" in found.message_en


@pytest.mark.parametrize("hours", [-20, 20])
def test_a_clock_off_by_hours_is_not_flagged(pki, trust, hours):
    (sig,) = verify_pdf(_signed_at(pki, NOW + dt.timedelta(hours=hours)), trust).signatures
    assert (sig.indication, sig.review) == ("TOTAL_PASSED", False)


def _p7m_signed_at(pki, claimed: dt.datetime) -> bytes:
    """letter.pdf.p7m (CMS signed-data carrying the PDF, as Thai signing tools save it)
    by pki.valid, its signingTime `claimed`."""
    import asyncio

    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    from gateway.signatures.asn1_names import ensure_asn1_names

    ensure_asn1_names()
    signed = asyncio.run(pki.signer(pki.valid).async_sign_general_data(
        make_letter(), "sha256", detached=False, signed_attr_settings=PdfCMSSignedAttributes(signing_time=claimed)))
    return signed.dump()


def test_a_signed_file_is_held_to_the_same_times(pki, trust):
    from gateway.signatures.smime import verify_signed_file

    [sig] = verify_signed_file(_p7m_signed_at(pki, dt.datetime(2015, 12, 25, 9, 0, tzinfo=dt.timezone.utc)),
                               trust, "letter.pdf")
    assert (sig["kind"], sig["indication"], sig["sub_indication"], sig["review"]) == (
        "smime", "INDETERMINATE", "NOT_YET_VALID", True)
    assert "is before the signer's certificate was valid" in sig["message"]
    [sig] = verify_signed_file(_p7m_signed_at(pki, NOW - dt.timedelta(hours=3)), trust, "letter.pdf")
    assert (sig["indication"], sig["review"]) == ("TOTAL_PASSED", False)
