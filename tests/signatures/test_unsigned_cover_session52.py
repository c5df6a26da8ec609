"""An unsigned cover letter does not borrow an enclosure's signature (red team, session 52).

Agencies publish signed circulars on their web sites. A forged, unsigned cover letter
(หนังสือนำ: ที่, เรื่อง, the order) sent with such a genuinely signed PDF as its enclosure
was registered under the forged cover's ที่ and เรื่อง, stamped on the forged cover, and
shown in the register with the letter's signature badge "valid" (the worst verdict of
its signed files), with no finding and no review: the clerk read the forgery as a signed
letter. Now the letter gets a warning naming the cover letter as unsigned, so it is
flagged for review; a signed cover letter with unsigned enclosures, or a letter with no
signature at all, gets none.
"""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, write_config
from tests.pki import make_letter, sign_letter
from tests.signatures.test_pipeline_signatures import REVIEWING, entry_for, folder_copy, send

COVER = "2569_dds_0403_81.pdf"
ENCLOSURE = "2569_dds_0403_81_1.pdf"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    d = Daemon(write_config(tmp_path_factory.mktemp("cover"), extra="[signatures]\n" + pki.trust_config)).start()
    yield d
    d.stop()


def _cover_findings(entry: dict) -> list[dict]:
    return [f for f in entry["findings"] if f["rule"] == "signature" and f.get("attachment") == COVER]


def test_a_forged_cover_letter_with_a_signed_enclosure_is_flagged(gateway, pki):
    signed = sign_letter(make_letter(), pki)
    queue_id, mid = send(gateway, [(COVER, make_letter(field_value="x")), (ENCLOSURE, signed)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    cover, enclosure = entry["attachments"][:2]
    assert (cover["filename"], cover["signatures"]) == (COVER, [])
    assert enclosure["signatures"][0]["indication"] == "TOTAL_PASSED"
    assert entry["review"] is True
    [finding] = _cover_findings(entry)
    assert finding["verdict"] == "warn"
    assert "หนังสือนำ" in finding["message_th"] and "ไม่มีลายมือชื่ออิเล็กทรอนิกส์" in finding["message_th"]
    assert f"the cover letter {COVER} is not signed" in finding["message_en"]
    assert folder_copy(gateway, "pomprap", queue_id)["X-Saraban-Review"] == "yes"


def test_a_signed_cover_letter_with_an_unsigned_enclosure_is_not(gateway, pki):
    signed = sign_letter(make_letter(), pki)
    _, mid = send(gateway, [(COVER, signed), (ENCLOSURE, make_letter(field_value="x"))], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    assert entry["attachments"][0]["signatures"][0]["indication"] == "TOTAL_PASSED"
    assert entry["review"] is False and not _cover_findings(entry)


def test_a_letter_signed_nowhere_is_not(gateway):
    _, mid = send(gateway, [(COVER, make_letter(field_value="x")), (ENCLOSURE, make_letter(field_value="y"))],
                  REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    assert entry["review"] is False and not _cover_findings(entry)


def test_a_signed_file_s_own_pdf_is_signed_and_a_namesake_beside_it_is_not(gateway, pki):
    from tests.pki import make_p7m

    # letter.pdf.p7m alone: its letter.pdf follows it and is the cover letter, signed.
    _, mid = send(gateway, [("letter.pdf.p7m", make_p7m(pki, make_letter()))], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    assert [a["filename"] for a in entry["attachments"]] == ["letter.pdf.p7m", "letter.pdf"]
    assert entry["review"] is False and not [f for f in entry["findings"] if f["rule"] == "signature"]
    # A forged letter.pdf sent before it: named as the signed file's content, not it.
    _, mid = send(gateway, [("letter.pdf", make_letter(field_value="x")),
                            ("letter.pdf.p7m", make_p7m(pki, make_letter()))], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    assert entry["review"] is True
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert finding["message_en"].startswith("the cover letter letter.pdf is not signed")


def test_the_desk_lists_such_a_letter_as_needing_review_not_as_passed(tmp_path_factory, pki):
    """Its only signature (the enclosure's) verifies: the register's badge said ผ่าน
    (passed) for the forged cover's letter until session 52; it says ควรตรวจสอบ, and the
    list's ผ่าน filter leaves it out."""
    from tests.letters import letter
    from tests.web.client import signed_in
    from tests.web.conftest import running_desk

    sent = letter(subject="หนังสือนำไม่ได้ลงนาม 2569",
                  files=[(COVER, make_letter(field_value="x")), (ENCLOSURE, sign_letter(make_letter(), pki))])
    with running_desk(tmp_path_factory.mktemp("coverdesk"), (("somchai", "clerk", "saraban.latkrabang"),),
                      ((sent, "saraban.latkrabang@bangkok.go.th"),), extra="[signatures]\n" + pki.trust_config) as desk:
        clerk = signed_in(desk.url, "somchai")
        listed = clerk.get("/register")
        passed = clerk.get("/register?verdict=passed")
    assert 'class="sig REVIEW">ควรตรวจสอบ<' in listed.text, listed.text
    assert 'class="sig TOTAL_PASSED"' not in listed.text
    assert "/letters/" not in passed.text  # nothing listed under ผ่าน
