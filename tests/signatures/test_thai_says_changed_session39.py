"""Session 39's red team: a signed letter whose form field was changed after signing
(1,000 baht made 9,000,000) and whose signer's chain could not also be built (no
intermediate sent, no revocation data: the usual case) got a Thai finding about the
certificate alone; only the English said the file had been changed. The Thai finding
(register, quarantine, the copy's headers, the sender's notice) says it now too."""
from __future__ import annotations

from gateway.signatures.check import entries_for, finding_for
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.pki import make_letter, sign_letter, tamper_add_page, tamper_change_field


def _finding(data: bytes, trust):
    verdict = verify_pdf(data, trust)
    return finding_for("2569_dds_0403_57.pdf", entries_for(verdict, data))


def test_a_changed_field_is_said_in_thai_beside_a_missing_chain(signed):
    untrusted = TrustSettings.load([], env={})  # the sender's root unknown: no chain
    found = _finding(tamper_change_field(signed), untrusted)
    assert "NO_CERTIFICATE_CHAIN_FOUND" in found.message_th, found.message_th
    assert "ถูกแก้ไขหลังลงลายมือชื่อ (มีการแก้ไขข้อความในช่องกรอกข้อมูล)" in found.message_th, found.message_th
    assert "แก้ไขแล้ว" in found.message_en  # the English names the values, as before


def test_a_page_added_is_said_in_thai_whatever_else_fails(signed):
    found = _finding(tamper_add_page(signed), TrustSettings.load([], env={}))
    assert "ถูกแก้ไขหลังลงลายมือชื่อ (มีการแก้ไขเนื้อหาหรือหน้าของเอกสาร)" in found.message_th, found.message_th


def test_a_field_filled_in_on_a_valid_signature_says_what_kind_of_change(pki, trust):
    blank = sign_letter(make_letter(with_form_field=True, field_value=""), pki)
    found = _finding(tamper_change_field(blank, "รับทราบ"), trust)
    assert found.message_th.endswith("ถูกแก้ไขหลังลงลายมือชื่ออิเล็กทรอนิกส์ (มีการแก้ไขข้อความในช่องกรอกข้อมูล) ต้องตรวจสอบ"), \
        found.message_th


def test_an_unchanged_file_with_a_missing_chain_says_nothing_of_a_change(signed):
    found = _finding(signed, TrustSettings.load([], env={}))
    assert "ถูกแก้ไข" not in found.message_th, found.message_th
