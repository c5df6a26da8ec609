"""Through the REAL daemon over SMTP: what the clerk sees in the register for a letter
whose signed text was covered after signing (red team F2), and for a letter that
already carries this gateway's own receive stamp (F6: a folder copy sent in again).
The verdicts themselves: tests/signatures/test_covered_after_signing.py."""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, write_config
from tests.pki import make_letter, sign_letter
from tests.signatures import covering
from tests.signatures.test_pipeline_signatures import entry_for, files_of, folder_copy, send

REVIEWING = "saraban.pomprap@bangkok.go.th"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("sigcover")
    extra = ("[signatures]\n"
             f'trust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n')
    d = Daemon(write_config(root, extra=extra)).start()
    yield d
    d.stop()


def test_text_painted_over_by_a_later_signature_is_in_the_register_for_review(gateway, pki, tmp_path):
    signed = sign_letter(make_letter(), pki)
    covered = covering.second_signature_over_text(signed, pki, covering.attacker(pki, tmp_path))
    queue_id, mid = send(gateway, [("2569_dds_0403_276.pdf", covered)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)

    assert entry["review"] is True
    sigs = {s["field"]: s for s in entry["attachments"][0]["signatures"]}
    sender = sigs["Signature1"]
    assert (sender["indication"], sender["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sender["review"] is True and sender["modifications"] == "other"
    assert "the signed content of page 1 is covered or changed in the file as a viewer shows it" in sender["message"]
    assert "ข้อความที่ลงลายมือชื่อไว้ในหน้า 1 ถูกปิดทับหรือเปลี่ยนไปหลังลงลายมือชื่อ" in sender["message"]
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert "SIG_CONSTRAINTS_FAILURE" in finding["message_th"] and "ต้องตรวจสอบ" in finding["message_th"]
    assert "page 1 is covered or changed" in finding["message_en"]
    copy = folder_copy(gateway, "pomprap", queue_id)
    assert copy["X-Saraban-Review"] == "yes"


def test_a_letter_already_carrying_our_receive_stamp_is_flagged_for_review(gateway, pki):
    signed = sign_letter(make_letter(), pki)
    queue_id, mid = send(gateway, [("2569_dds_0403_301.pdf", signed)], REVIEWING)
    first = entry_for(gateway, mid, REVIEWING)
    assert first["review"] is False
    stamped = files_of(folder_copy(gateway, "pomprap", queue_id))["2569_dds_0403_301.stamped.pdf"]

    # The folder copy comes back in as a new letter (or a unit forwards what it received).
    _, again = send(gateway, [("2569_dds_0403_301.pdf", stamped)], REVIEWING)
    entry = entry_for(gateway, again, REVIEWING)
    assert entry["review"] is True
    sigs = {s["field"]: s for s in entry["attachments"][0]["signatures"]}
    assert sigs["Signature1"]["indication"] == "TOTAL_PASSED" and not sigs["Signature1"]["review"]
    [ours] = [s for f, s in sigs.items() if f != "Signature1"]
    assert ours["indication"] == "TOTAL_PASSED" and ours["review"] is True  # valid, but a person checks
    number, year = first["receive_no"].split("/")
    thai = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
    shown = f"{number.translate(thai)}/{year.translate(thai)}"
    assert (f"the file already carries this gateway's receive stamp (receive number {shown}): "
            "check that it is not a letter already registered") in ours["message"]
    assert f"ไฟล์นี้มีตรารับหนังสือที่ระบบนี้ประทับไว้แล้ว (เลขรับ {shown})" in ours["message"]
