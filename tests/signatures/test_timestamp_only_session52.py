"""A document timestamp is not a signature (red team, session 52).

Anyone can have any file timestamped by a timestamp authority (TSA) that chains to a
trusted root: Thai CAs under the National Root CA run public TSAs. Until session 52 a
forged, unsigned letter carrying only such a token (`/Type /DocTimeStamp`, RFC 3161) was
"TOTAL_PASSED, review: false" in the register, "ลายมือชื่ออิเล็กทรอนิกส์ ... ถูกต้อง
(ETDA Time-Stamping Authority)" as its finding, "<file>; TOTAL_PASSED; ETDA
Time-Stamping Authority (TEST) ...; signed <time>" in the folder copy, and "signature:
valid, ETDA Time-Stamping Authority" on the desk: the clerk read the TSA as the signer.
A signed letter that also carries a document timestamp (PAdES-LTA) is unchanged.
"""
from __future__ import annotations

import io
import types
import uuid
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.signatures.check import finding_for
from gateway.signatures.receive_stamp import signature_headers
from gateway.signatures.verify import verify_pdf
from tests.pki import VALID_SIGNER_NAME, leaf_identity, make_letter, sign_letter

TSA_NAME = "ETDA Time-Stamping Authority (TEST)"


@pytest.fixture(scope="module")
def timestamp(pki, tmp_path_factory):
    """Adds a document timestamp by a TSA the test sub-CA issued (timeStamping only)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    tsa = leaf_identity(pki, Path(tmp_path_factory.mktemp("tsa")), "tsa", cn=TSA_NAME,
                        eku=[ExtendedKeyUsageOID.TIME_STAMPING])

    def stamper():
        return DummyTimeStamper(tsa_cert=tsa.asn1_cert(), tsa_key=tsa.asn1_key(),
                                certs_to_embed=SimpleCertificateStore.from_certs([pki.sub_ca.asn1_cert()]))

    def add(data: bytes) -> bytes:
        w = IncrementalPdfFileWriter(io.BytesIO(data))
        return signers.PdfTimeStamper(stamper()).timestamp_pdf(w, "sha256").getvalue()

    add.stamper = stamper  # the TSA itself, for a timestamp into a given field
    return add


@pytest.fixture(scope="module")
def forged(timestamp):
    """A letter nobody signed, timestamped."""
    return timestamp(make_letter())


def _entries(data: bytes, trust) -> list[dict]:
    return [s.as_dict() for s in verify_pdf(data, trust).signatures]


def test_a_letter_with_only_a_timestamp_is_signed_by_no_one(forged, trust):
    [entry] = _entries(forged, trust)
    assert entry["kind"] == "document_timestamp" and entry["signer"] == TSA_NAME
    assert entry["indication"] == "TOTAL_PASSED"  # the token itself is good
    assert entry["review"] is True
    assert "no one signed this file" in entry["message"]
    assert "ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด" in entry["message"]

    found = finding_for("2569_dds_0403_77.pdf", [entry])
    assert found.verdict == "fail"
    assert "ถูกต้อง" not in found.message_th and "valid" not in found.message_en
    assert "ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด" in found.message_th
    assert "signed by no one" in found.message_en and "document timestamp" in found.message_en
    assert TSA_NAME not in found.message_en


def test_a_signed_letter_with_a_timestamp_passes_signed_by_its_signer(signed, trust, timestamp):
    entries = _entries(timestamp(signed), trust)
    assert [(e["kind"], e["indication"], e["review"]) for e in entries] == [
        ("signature", "TOTAL_PASSED", False), ("document_timestamp", "TOTAL_PASSED", False)]
    found = finding_for("2569_dds_0403_78.pdf", entries)
    assert found.verdict == "pass"
    assert found.message_en.endswith(f"(signed by {VALID_SIGNER_NAME})")  # not by the TSA


def test_the_folder_copy_names_a_timestamp_as_one(forged, signed, trust, timestamp):
    letter = types.SimpleNamespace(attachments=[
        types.SimpleNamespace(filename="a.pdf", signatures=_entries(forged, trust)),
        types.SimpleNamespace(filename="b.pdf", signatures=_entries(timestamp(signed), trust))])
    lines = [value for _, value in signature_headers(letter)]
    assert lines[0].startswith(f"a.pdf; TOTAL_PASSED; document timestamp by {TSA_NAME}")
    assert "; at " in lines[0] and "; signed " not in lines[0]
    assert "review" in lines[0] and "no one signed this file" in lines[0]
    assert lines[1].startswith(f"b.pdf; TOTAL_PASSED; {VALID_SIGNER_NAME}")
    assert lines[2].startswith(f"b.pdf; TOTAL_PASSED; document timestamp by {TSA_NAME}")
    assert "review" not in lines[2]


def test_through_the_daemon_the_letter_is_flagged_not_passed(tmp_path_factory, pki, forged):
    from tests.daemon import Daemon, write_config
    from tests.signatures.test_pipeline_signatures import REVIEWING, entry_for, folder_copy, send

    root = tmp_path_factory.mktemp("tsaonly")
    d = Daemon(write_config(root, extra="[signatures]\n" + pki.trust_config)).start()
    try:
        queue_id, mid = send(d, [("2569_dds_0403_79.pdf", forged)], REVIEWING)
        entry = entry_for(d, mid, REVIEWING)
        assert entry["review"] is True
        [sig] = entry["attachments"][0]["signatures"]
        assert (sig["kind"], sig["review"]) == ("document_timestamp", True)
        [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
        assert finding["verdict"] == "warn"
        assert "ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด" in finding["message_th"]
        copy = folder_copy(d, "pomprap", queue_id)
        assert copy["X-Saraban-Review"] == "yes"
        assert f"document timestamp by {TSA_NAME}" in copy["X-Saraban-Signature"]
    finally:
        d.stop()


def test_the_verify_command_does_not_call_it_valid(forged, trust, tmp_path):
    import io as _io

    from gateway.cli.verify import EXIT_REVIEW, verify_command

    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    out = _io.StringIO()
    assert verify_command(path, False, trust, out) == EXIT_REVIEW  # was 0, "all valid"
    assert "ต้องตรวจสอบ / needs review" in out.getvalue()
    assert "no one signed this file" in out.getvalue()


def test_the_desk_calls_it_a_timestamp_not_a_signature(tmp_path_factory, pki, forged):
    import re

    from tests.letters import letter
    from tests.web.client import signed_in
    from tests.web.conftest import running_desk

    subject = "หนังสือประทับเวลาอย่างเดียว 2569"
    sent = letter(subject=subject, files=[("2569_dds_0403_82.pdf", forged)])
    with running_desk(tmp_path_factory.mktemp("tsadesk"), (("somchai", "clerk", "saraban.latkrabang"),),
                      ((sent, "saraban.latkrabang@bangkok.go.th"),), extra="[signatures]\n" + pki.trust_config) as desk:
        [(found,)] = desk.db("SELECT id FROM letters")  # registered under its PDF's เรื่อง
        clerk = signed_in(desk.url, "somchai")
        answer = clerk.get(f"/letters/{found}")
        listed = clerk.get("/register")
    # In the register's list its badge says ควรตรวจสอบ (needs review), not ผ่าน (passed):
    # until session 52 the list read "ผ่าน" for a letter no one had signed.
    assert 'class="sig REVIEW">ควรตรวจสอบ<' in listed.text, listed.text
    assert 'class="sig TOTAL_PASSED"' not in listed.text
    assert 'class="sig TOTAL_PASSED"' not in answer.text
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))
    assert f"ตราประทับเวลา ไม่ใช่ลายมือชื่อ: {TSA_NAME}" in page, page
    assert "ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด" in page  # the finding, on the letter's page
