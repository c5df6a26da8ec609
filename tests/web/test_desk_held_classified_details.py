"""A held classified letter is no longer decided blind (red team of 7 Dec 2026,
docs/console.md "Held letters").

Its entry page showed the unit, the time it was held, the From address, "(ลับ)" and
reasons reading "หนังสือไม่ผ่านการตรวจ (allowed_types) รายละเอียดเก็บเข้ารหัสไว้สำหรับ
นายทะเบียนลับ": the registrar asked to release or reject it saw neither the envelope,
its size, whether the sender was verified, nor what its files are. Now the page shows
the envelope, size and sender verification (kept in plain: not the letter's words),
and the registrar, after confirming, gets each file's type, size, password and
signature, and which check held it on which file, read from the sealed copy under an
audit entry `view_held`; no subject, no file name, nothing written."""
from __future__ import annotations

import html
import json
import re

import pytest

from tests.classified.helpers import files_containing, log_lines_containing
from tests.letters import letter
from tests.web.client import signed_in
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
MARK = "HELDQ9Z"  # in its subject and its file names only: never shown, never in plain


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    from tests.pki import build_pki, make_letter, sign_letter

    tmp = tmp_path_factory.mktemp("held_details")
    signed = sign_letter(make_letter(), build_pki(tmp / "pki"))
    held = letter(subject=f"ลับ แผนป้องกันภัย {MARK}", body=f"ลับ\nเรื่อง แผนป้องกันภัย {MARK}\n",
                  files=[(f"2569_dds_0407_57_{MARK}.pdf", signed), (f"{MARK}.html", f"<p>{MARK}</p>".encode())])
    users = (("hdclerk", "clerk", "saraban.latkrabang"), ("hdreg", "registrar", "saraban.latkrabang"))
    with running_desk(tmp, users, ((held, LAT),)) as desk:
        yield desk


def seen(answer) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


def _entry(desk: Desk) -> tuple[int, int]:
    [(qid, size)] = desk.db("SELECT q.id, m.size FROM quarantine q JOIN messages m ON m.queue_id = q.queue_id "
                            "WHERE q.state = 'held'")
    return qid, size


def test_everyone_who_sees_the_entry_sees_its_envelope_size_and_sender_check(desk: Desk):
    qid, size = _entry(desk)
    for who in ("hdclerk", "hdreg"):
        page = seen(signed_in(desk.url, who).get(f"/quarantine/{qid}"))
        assert "ผู้ส่งตามซองอีเมล (MAIL FROM)" in page and f"{size:,} ไบต์" in page, page[:1500]
        assert "ยืนยันผู้ส่ง" in page and "วันเวลาที่รับ" in page
        assert MARK not in page


def test_the_registrar_sees_what_to_decide_on_and_the_opening_is_audited(desk: Desk):
    qid, _ = _entry(desk)
    registrar = signed_in(desk.url, "hdreg")
    assert 'action="/quarantine/%d/details"' % qid in registrar.get(f"/quarantine/{qid}").text
    unconfirmed = registrar.post(f"/quarantine/{qid}/details", {})
    assert unconfirmed.status == 400 and "ข้าพเจ้ายืนยันว่าต้องดูข้อมูลประกอบการพิจารณา" in seen(unconfirmed)

    answer = registrar.post(f"/quarantine/{qid}/details", {"confirm": "yes"})
    assert answer.status == 200, answer.errors()
    page = seen(answer)
    details = page[page.index("ข้อมูลประกอบการพิจารณา (ไม่แสดงเนื้อหา"):]
    assert "ไฟล์ที่ 1 application/pdf" in details and "มีลายมือชื่ออิเล็กทรอนิกส์ (ยังไม่ได้ตรวจสอบ" in details
    assert "ไฟล์ที่ 2 text/plain (ผู้ส่งระบุว่า application/octet-stream)" in details, details[:2000]
    assert "มีไฟล์ประเภทที่หน่วยงานไม่รับ" in details and "[ไฟล์ที่ 2]" in details, details[:1500]
    assert MARK not in page  # neither its subject nor a file's name
    # The entry is still there to decide on, and the opening is on the trail.
    assert 'value="release"' in answer.text and 'value="reject"' in answer.text
    events = [json.loads(line) for line in (desk.daemon.data_dir / "audit" / "audit.log").read_text().splitlines()]
    assert [(e["action"], e["who"]) for e in events if e.get("letter_id") == f"quarantine {qid}"] == [
        ("view_held", "web:hdreg")]
    assert "เปิดดูข้อมูลประกอบการพิจารณาหนังสือที่กักไว้" in seen(registrar.get("/secret/audit"))

    registrar.post("/lang", {"lang": "en", "back": f"/quarantine/{qid}"})
    english = seen(registrar.post(f"/quarantine/{qid}/details", {"confirm": "yes"}))
    assert "File 1 application/pdf" in english and "carries a digital signature (not verified" in english
    assert "a file of a type the unit does not take" in english

    # Nothing of it was written in plain while it was shown.
    assert files_containing(desk.daemon.data_dir, MARK) == []
    assert log_lines_containing(desk.daemon, MARK) == []


def test_a_clerk_gets_no_details_of_a_classified_letter(desk: Desk):
    qid, _ = _entry(desk)
    clerk = signed_in(desk.url, "hdclerk")
    assert "/details" not in clerk.get(f"/quarantine/{qid}").text
    refused = clerk.post(f"/quarantine/{qid}/details", {"confirm": "yes"})
    assert refused.status == 404 and "ไฟล์ที่ 1" not in seen(refused)
