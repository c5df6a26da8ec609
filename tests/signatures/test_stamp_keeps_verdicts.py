"""Stamping never changes the verdict on a signature that was there before.

Judged three ways, before and after the stamp: the gateway's own verdict, pyHanko's
default validation (its CLI's bottom line: intact, valid, DocMDP/diff policy), and
poppler's `pdfsig`. Where the stamp could not keep them (a DocMDP P=2 certification
forbids a new signature field, a field lock, bytes outside the revisions), the letter is
left untouched and the stamp goes on a receipt.
"""
from __future__ import annotations

import asyncio
import io
import re
import subprocess

import pytest

from gateway.signatures.stamp import stamp_pdf
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.paths import shared_path
from tests.pki import sign_letter



def pdfsig(pdf: bytes, tmp_path) -> list[str]:
    """pdfsig's "Signature Validation" line for each signature, in file order."""
    path = tmp_path / "check.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=120).stdout
    return re.findall(r"Signature Validation: (.+)", out)


def pyhanko_bottom_lines(pdf: bytes, trust: TrustSettings) -> dict[str, tuple]:
    """pyHanko's default validation (default diff policy) of each signature."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    out = {}
    for emb in reader.embedded_signatures:
        try:
            status = asyncio.run(async_validate_pdf_signature(emb, trust.validation_context()))
            out[emb.field_name] = (status.intact, status.valid, status.trusted, status.docmdp_ok, status.bottom_line)
        except Exception:  # pyHanko cannot judge it at all, before as after
            out[emb.field_name] = ("error",)
    return out


def assert_verdicts_kept(original: bytes, result, trust, tmp_path, known=None) -> None:
    if result.mode == "receipt":
        return  # the original is filed untouched: nothing to compare
    known = known or verify_pdf(original, trust)
    before = {s.field: (s.indication, s.sub_indication) for s in known.signatures}
    after = {s.field: (s.indication, s.sub_indication) for s in verify_pdf(result.pdf, trust).signatures}
    assert {f: after.get(f) for f in before} == before
    ph_before, ph_after = pyhanko_bottom_lines(original, trust), pyhanko_bottom_lines(result.pdf, trust)
    assert {f: ph_after.get(f) for f in ph_before} == ph_before
    sig_before, sig_after = pdfsig(original, tmp_path), pdfsig(result.pdf, tmp_path)
    assert sig_after[: len(sig_before)] == sig_before
    assert sig_after[len(sig_before):] == ["Signature is Valid."]  # the gateway's own seal


def test_a_fill_forms_certification_is_not_broken_by_the_stamp(letter, pki, trust, seal, stamp_info, tmp_path):
    certified = sign_letter(letter, pki, certify_fill_forms=True)
    ok = pyhanko_bottom_lines(certified, trust)["Signature1"]
    assert ok[-1] is True  # a valid certification to begin with
    result = stamp_pdf(certified, stamp_info, seal)
    # pyHanko's default policy forbids a new signature field after a P=2 certification:
    # the stamp goes on a receipt and the letter keeps its certification.
    assert result.mode == "receipt"
    assert "would change the verdict on the sender's signature Signature1" in result.reason
    assert verify_pdf(certified, trust).signatures[0].indication == "TOTAL_PASSED"


def test_an_approval_signed_letter_keeps_its_verdict_everywhere(signed, trust, seal, stamp_info, tmp_path):
    result = stamp_pdf(signed, stamp_info, seal)
    assert result.mode == "stamped"
    assert_verdicts_kept(signed, result, trust, tmp_path)


def trial_files():
    from tests.paths import shared_dir

    base = shared_dir()
    folder = base / "corpus" / "pdf" / "signature-trial" if base else None
    if folder is None or not folder.is_dir():
        return ["signature-trial-missing"]
    return sorted(p.name for p in folder.glob("*.pdf") if b"/ByteRange" in p.read_bytes())


RECEIPT_EXPECTED = {
    "pdfinsecurity_isa-3.pdf": "bytes outside its revisions",  # never tuck the attacker's bytes in between
    "dss-2554_certified-no-change-permitted.pdf": "DocMDP P=1",
    "dss-2554_certified-changes-permitted.pdf": "would change the verdict",  # a new field breaks it
}


@pytest.mark.parametrize("name", trial_files())
def test_every_signed_trial_file_keeps_its_verdicts(name, trial_trust, trial_verdicts, seal, stamp_info, tmp_path):
    original = (shared_path("corpus", "pdf", "signature-trial") / name).read_bytes()
    result = stamp_pdf(original, stamp_info, seal)
    assert "Error" not in result.reason and "Traceback" not in result.reason, result.reason
    if name in RECEIPT_EXPECTED:
        assert result.mode == "receipt" and RECEIPT_EXPECTED[name] in result.reason
    assert_verdicts_kept(original, result, trial_trust, tmp_path, trial_verdicts[name])


def test_a_stamped_copy_is_read_back_for_earlier_verdicts_only_when_the_letter_was_signed(letter, signed, seal,
                                                                                         stamp_info):
    """An unsigned letter's stamped copy is not read back to count its signatures
    (`_any_filled` of `_signature_fields`): a blank signature field left for someone else is
    not a signature, stays blank, and the seal is the copy's only signature; a letter
    whose fields cannot be read is checked in full."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field, enumerate_sig_fields

    from gateway.signatures.stamp import FIELD_NAME, _any_filled, _changed_verdicts, _signature_fields

    writer = IncrementalPdfFileWriter(io.BytesIO(letter))
    append_signature_field(writer, SigFieldSpec("ForTheDirector", box=(20, 20, 180, 60)))
    out = io.BytesIO()
    writer.write(out)
    blank_field = out.getvalue()

    def read(pdf: bytes):
        return PdfFileReader(io.BytesIO(pdf), strict=False)

    def _has_filled_signature_field(reader) -> bool:
        return _any_filled(_signature_fields(reader))

    assert not _has_filled_signature_field(read(letter))
    assert not _has_filled_signature_field(read(blank_field))
    assert _has_filled_signature_field(read(signed))

    result = stamp_pdf(blank_field, stamp_info, seal)
    assert result.mode == "stamped"
    filled = {name: value is not None for name, value, _ in enumerate_sig_fields(read(result.pdf))}
    assert filled == {"ForTheDirector": False, FIELD_NAME: True}
    assert _changed_verdicts(blank_field, result.pdf) is None  # what reading it back would have said

    class Unreadable:
        @property
        def root(self):
            raise ValueError("a broken catalog")

    assert _has_filled_signature_field(Unreadable()) is True


@pytest.mark.parametrize("sent_as", ["blank", "signed"])
def test_a_letter_that_already_has_a_field_of_the_stamp_s_name_gets_the_stamp_beside_it(letter, pki, seal,
                                                                                       stamp_info, trust, sent_as):
    """A field named as ours in the letter (stamped by another gateway and forwarded, or a
    sender's imitation, blank or signed): the stamp takes the next free name, the sender's
    field stays as it was, and a signed one keeps its verdict."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field, enumerate_sig_fields

    from gateway.signatures.stamp import FIELD_NAME

    if sent_as == "blank":
        writer = IncrementalPdfFileWriter(io.BytesIO(letter))
        append_signature_field(writer, SigFieldSpec(FIELD_NAME, box=(20, 20, 180, 60)))
        out = io.BytesIO()
        writer.write(out)
        sent = out.getvalue()
    else:
        sent = sign_letter(letter, pki, field_name=FIELD_NAME)
    result = stamp_pdf(sent, stamp_info, seal)
    assert result.mode == "stamped"
    filled = {name: value is not None for name, value, _ in
              enumerate_sig_fields(PdfFileReader(io.BytesIO(result.pdf), strict=False))}
    assert filled == {FIELD_NAME: sent_as == "signed", f"{FIELD_NAME}2": True}
    if sent_as == "signed":
        before, after = verify_pdf(sent, trust), verify_pdf(result.pdf, trust)
        assert before.indication == "TOTAL_PASSED"
        assert [s for s in after.signatures if s.field == FIELD_NAME][0].indication == before.indication
