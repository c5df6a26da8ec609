"""extract_facts over whole mails: cover PDF text, subject, body and headers."""
import datetime as dt

import pytest

from rules.extract import extract_facts, facts_from_text
from tests.rules.builders import COVER_003, att, mail

EXTERNAL = """ที่ มท ๐๘๐๘.๒/ว ๑๒๓๔
กระทรวงมหาดไทย
ถนนอัษฎางค์ กทม. ๑๐๒๐๐
๑ พฤศจิกายน ๒๕๖๗
เรื่อง ขอความร่วมมือสำรวจข้อมูล
ระบบสารบรรณอิเล็กทรอนิกส์
เรียน ผู้ว่าราชการกรุงเทพมหานคร
อ้างถึง ๑. หนังสือกรุงเทพมหานคร ที่ กท ๐๔๐๓/ว ๒๗๖ ลงวันที่ ๒๒ ธันวาคม ๒๕๖๖
        ๒. หนังสือกรุงเทพมหานคร ที่ กท ๐๔๐๓/ว ๓๒ ลงวันที่ ๔ มีนาคม ๒๕๖๗
สิ่งที่ส่งมาด้วย ๑. แบบสำรวจข้อมูล จำนวน ๑ ชุด

๒. คู่มือการกรอกแบบสำรวจ จำนวน ๑ ฉบับ
ด้วยกระทรวงมหาดไทยมีความประสงค์จะสำรวจข้อมูล
"""


def test_external_letter_every_field():
    facts = facts_from_text(EXTERNAL)
    assert facts.reference == "มท 0808.2/ว 1234"
    assert facts.letter_date == dt.date(2024, 11, 1)  # the address's 10200 is not a date
    assert facts.subject == "ขอความร่วมมือสำรวจข้อมูลระบบสารบรรณอิเล็กทรอนิกส์"
    assert facts.addressee == "ผู้ว่าราชการกรุงเทพมหานคร"
    assert facts.references == (
        "หนังสือกรุงเทพมหานคร ที่ กท 0403/ว 276 ลงวันที่ 22 ธันวาคม 2566",
        "หนังสือกรุงเทพมหานคร ที่ กท 0403/ว 32 ลงวันที่ 4 มีนาคม 2567",
    )
    assert facts.enclosures == ("แบบสำรวจข้อมูล จำนวน 1 ชุด", "คู่มือการกรอกแบบสำรวจ จำนวน 1 ฉบับ")
    assert facts.as_dict()["enclosure_count"] == 2
    assert facts.kind == "circular"


def test_single_unnumbered_enclosure():
    text = EXTERNAL.replace("ว ๑๒๓๔", "๑๒๓๔").split("อ้างถึง")[0] + "สิ่งที่ส่งมาด้วย สำเนาคำสั่ง จำนวน ๑ ฉบับ\n\nด้วยกระทรวง...\n"
    facts = facts_from_text(text)
    assert facts.enclosures == ("สำเนาคำสั่ง จำนวน 1 ฉบับ",)
    assert facts.references == ()
    assert facts.kind == "external"  # coded number, เรื่อง and เรียน, no memo heading


@pytest.mark.parametrize("head, kind", [
    ("คำสั่งกรุงเทพมหานคร\nที่ ๑๒๓/๒๕๖๗\nเรื่อง แต่งตั้งคณะทำงาน", "order"),
    ("ประกาศสำนักงานเขตดินแดง\nเรื่อง การรับส่งข้อมูลข่าวสาร", "announcement"),
    ("หนังสือรับรอง\nที่ กท ๐๔๐๓/๑๒\nขอรับรองว่า", "certificate"),
    ("รายงานการประชุมคณะทำงาน\nครั้งที่ ๑/๒๕๖๗", "minutes"),
    ("บันทึกข้อความ\nส่วนราชการ ฝ่ายปกครอง\nที่ กท ๕๓๐๑/๑๗๓๐\nวันที่ ๒๒ มิ.ย. ๒๕๖๕\nเรื่อง ทดสอบ\nเรียน หัวหน้าฝ่าย", "internal_memo"),
    ("หนังสือภายนอก\nที่ กท ๕๓๐๑/๑๗๓๐", "external"),
    ("ที่ กท ๐๔๐๓/ว ๓๒\nเรียน ผู้อำนวยการเขต", "circular"),
    ("สวัสดีครับ", None),
])
def test_kind(head, kind):
    assert facts_from_text(head).kind == kind


def test_order_number_is_read():
    facts = facts_from_text("คำสั่งกรุงเทพมหานคร\nที่ ๑๒๓/๒๕๖๗\nเรื่อง แต่งตั้งคณะทำงาน\n")
    assert facts.reference == "123/2567"
    assert facts.subject == "แต่งตั้งคณะทำงาน"


def test_cover_pdf_is_the_source():
    m = mail(
        att("2566_BMA_0403_276.pdf", pdf_text=COVER_003, disposition="inline", declared="application/octet-stream"),
        subject="ส่งหนังสือ",
        body="เรียน สารบรรณกลาง\nขอส่งหนังสือตามแนบ",
    )
    facts = extract_facts(m)
    assert facts.reference == "กท 0403/ว 276"
    assert facts.letter_date == dt.date(2023, 12, 22)
    assert facts.subject == "แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร"
    assert facts.addressee == "ผู้อำนวยการเขต"
    assert facts.urgency == "most_urgent"
    assert facts.kind == "circular"


def test_subject_line_when_the_pdf_has_no_text():
    m = mail(
        att("scan.pdf", pdf_text=None),
        subject="ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๗๖ ลงวันที่ ๒๒ ธ.ค. ๖๖ เรื่อง แจ้งแนวทางการใช้งานระบบสารบรรณ ประชุมวันที่ ๑๕ ม.ค. ๖๗",
    )
    facts = extract_facts(m)
    assert facts.reference == "กท 0403/ว 276"
    assert facts.letter_date == dt.date(2023, 12, 22)  # not the meeting date inside เรื่อง
    assert facts.subject == "แจ้งแนวทางการใช้งานระบบสารบรรณ ประชุมวันที่ 15 ม.ค. 67"
    assert facts.urgency == "most_urgent"
    assert facts.addressee is None  # not written anywhere: left empty


def test_body_when_subject_and_pdf_say_nothing():
    m = mail(
        att("a.pdf"),
        subject="(no subject)",
        body="เรียน สารบรรณกลาง\n\nขอส่งหนังสือ ที่ กท ๐๕๐๘/๒๐๕๙ ลงวันที่ ๙ กันยายน ๒๕๖๕\n",
    )
    facts = extract_facts(m)
    assert facts.reference == "กท 0508/2059"
    assert facts.letter_date == dt.date(2022, 9, 9)


def test_html_body_is_read_when_there_is_no_text_body():
    m = mail(att("a.pdf"), html="<p>ที่ กท 0403/ว 276</p><p>เรื่อง ทดสอบระบบ</p><p>เรียน ผอ.เขต</p>")
    facts = extract_facts(m)
    assert facts.reference == "กท 0403/ว 276"
    assert facts.subject == "ทดสอบระบบ"


@pytest.mark.parametrize("headers, subject, secrecy", [
    ((("X-Secrecy", "ลับมาก"),), "รายงาน", "secret"),
    ((("X-Secrecy", "004"),), "รายงาน", "top_secret"),
    ((("Sensitivity", "Company-Confidential"),), "รายงาน", "confidential"),
    ((("Sensitivity", "Personal"),), "รายงาน", "none"),
    ((), "ลับ รายงานผลการสอบสวน", "confidential"),
    ((("X-Secrecy", "ลับ"),), "ลับที่สุด รายงาน", "top_secret"),  # the highest wins
])
def test_secrecy_from_headers_and_subject(headers, subject, secrecy):
    assert extract_facts(mail(att("a.pdf"), subject=subject, headers=headers)).secrecy == secrecy


def test_classification_only_inside_the_pdf_is_found():
    cover = "ลับ\n" + COVER_003
    assert extract_facts(mail(att("a.pdf", pdf_text=cover), subject="ส่งหนังสือ")).secrecy == "confidential"


def test_cover_letter_is_the_pdf_that_reads_as_a_letter():
    enclosure = att("2566_BMA_0403_276_1.pdf", pdf_text="ตารางข้อมูลที่อยู่ไปรษณีย์อิเล็กทรอนิกส์")
    cover = att("2566_BMA_0403_276.pdf", pdf_text=COVER_003)
    assert extract_facts(mail(enclosure, cover)).reference == "กท 0403/ว 276"


def test_empty_mail_gives_empty_facts():
    facts = extract_facts(mail())
    assert facts.as_dict() == {
        "reference": None, "letter_date": None, "subject": None, "addressee": None,
        "references": [], "enclosures": [], "enclosure_count": 0,
        "urgency": "normal", "secrecy": "none", "kind": None,
    }
