"""Each seed document's full text through the reader: what a clerk reads from it."""
import datetime as dt

import pytest

from rules.extract import facts_from_text
from tests.paths import seed_text

SEEDS = {
    # seed 000: a scanned stack; the top letter is the circular กท.๐๔๐๗/ว.๕๗
    # under the Lat Krabang receive stamp "เลขที่ ๑๕๗๑ วันที่ ๑๑ มิ.ย. ๖๕".
    "000": dict(
        reference="กท 0407/ว 57",
        letter_date=dt.date(2022, 6, 13),
        subject="การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานครเพื่อใช้ในโครงการพัฒนาระบบสารสนเทศอีเล็กทรอนิกส์ของกรุงเทพมหานคร",
        addressee_starts="ผู้อำนวยการสำนัก หัวหน้าสำนักงาน ก.ก.",
        urgency="most_urgent",
        secrecy="none",
        kind="circular",
    ),
    # seed 001: a memo whose date is broken over two lines ("วันที่ ๙" / "กันยายน ๒๕๖๕").
    "001": dict(
        reference="กท 0508/2059",
        letter_date=dt.date(2022, 9, 9),
        subject="แจ้งแนวทางปฏิบัติการให้บริการระบบจดหมายอิเล็กทรอนิกส์และระบบอินเทอร์เน็ตของกรุงเทพมหานคร",
        addressee_starts="ผู้อำนวยการสำนัก หัวหน้าสำนักงาน ก.ก. เลขาธิการสภากรุงเทพมหานคร",
        urgency="normal",
        secrecy="none",
        kind="internal_memo",
    ),
    # seed 002: the district's forwarding note on top: number and date, no เรื่อง.
    # Its later "ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๕" is prose about another letter.
    "002": dict(
        reference="กท 5407/800",
        letter_date=dt.date(2024, 3, 13),
        subject=None,
        addressee_starts="ผู้อำนวยการสถานศึกษาโรงเรียนในสังกัดสำนักงานเขตหนองจอก",
        urgency="normal",
        secrecy="none",
        kind=None,
    ),
    # seed 003: the receive stamp's "วันที่ ๒๕ ธ.ค. ๒๕๖๖" sits above ที่ and is not the
    # letter date; "ข้อมูลข่าวสารลับ “ชั้นลับที่สุด”" in the body is not a marking.
    "003": dict(
        reference="กท 0403/ว 276",
        letter_date=dt.date(2023, 12, 22),
        subject="แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร",
        addressee_starts="ผู้ว่าราชการกรุงเทพมหานคร รองผู้ว่าราชการกรุงเทพมหานคร",
        urgency="most_urgent",
        secrecy="none",
        kind="circular",
    ),
    # seed 004: a handbook, not a letter; its order template "ที่ / ๒๕๖๕" is blank.
    # Nothing is read, nothing guessed, though it says ลับที่สุด many times.
    "004": dict(
        reference=None,
        letter_date=None,
        subject=None,
        addressee_starts=None,
        urgency="normal",
        secrecy="none",
        kind=None,
    ),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seed_document(seed):
    want = SEEDS[seed]
    facts = facts_from_text(seed_text(seed))
    assert facts.reference == want["reference"]
    assert facts.letter_date == want["letter_date"]
    assert facts.subject == want["subject"]
    if want["addressee_starts"] is None:
        assert facts.addressee is None
    else:
        assert facts.addressee.startswith(want["addressee_starts"])
    assert facts.urgency == want["urgency"]
    assert facts.secrecy == want["secrecy"]
    assert facts.kind == want["kind"]
    assert facts.enclosures == ()


def test_seed_000_last_letter_read_on_its_own():
    """The memo at the end of seed 000: "ที่ กท ๐๕๐๘ /๗๕๐" and "วันที่ - ๒ มี.ค. ๒๕๖๕"."""
    text = seed_text("000")
    start = text.index("ส่วนราชการ สำนักยุทธศาสตร์และประเมินผล (กองควบคุมระบบคอมพิวเตอร์ โทร./โทรสาร")
    facts = facts_from_text("บันทึกข้อความ\n\n" + text[start:])
    assert facts.reference == "กท 0508/750"
    assert facts.letter_date == dt.date(2022, 3, 2)
    assert facts.subject.startswith("การให้บริการระบบจดหมายอิเล็กทรอนิกส์ และการพิสูจน์ตัวตน")
    assert facts.kind == "internal_memo"


def test_seed_002_inner_circular_read_on_its_own():
    text = seed_text("002")
    start = text.index("ส่วนราชการ สำนักงานเลขานุการปลัดกรุงเทพมหานคร")
    facts = facts_from_text(text[start:])
    assert facts.reference == "กท 0403/ว 32"
    assert facts.letter_date == dt.date(2024, 3, 4)
    assert facts.subject == "การติดตามความคืบหน้าการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร"
    assert facts.urgency == "normal"  # "ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๕" in the body is about other letters
