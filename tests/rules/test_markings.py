"""Urgency and classification: markings stand alone; ลับ inside a word is not one."""
import pytest

from rules.markings import classify_secrecy_text, secrecy_in_letter, urgency_in_letter, urgency_in_subject


@pytest.mark.parametrize("subject, secrecy", [
    ("ลับ ขอส่งรายงานการสอบสวน", "confidential"),
    ("ลับมาก ที่ กท 0403/ว 276", "secret"),
    ("ลับที่สุด เรื่อง แผนป้องกันภัย", "top_secret"),
    ("[ลับที่สุด] แผนป้องกันภัย", "top_secret"),
    ("(ลับมาก) รายงาน", "secret"),
    ("ด่วนที่สุด ลับ ที่ กท 0403/ว 276", "confidential"),
    ("=?UTF-8?B?4Lil4Lix4Lia4LiX4Li14LmI4Liq4Li44LiUIOC5geC4nOC4mQ==?=", "top_secret"),  # RFC 2047 "ลับที่สุด แผน"
    # ลับ inside other words, or quoted in running text: not a marking
    ("การรักษาความลับของทางราชการ", "none"),
    ("ขอเชิญประชุมที่สำนักงานเขตลับแล", "none"),
    ("ขอส่งคืนหนังสือกลับ", "none"),
    ("สลับวันประชุม", "none"),
    ("ข้อมูลข่าวสารลับชั้นลับที่สุด", "none"),        # seed 004
    ("ข้อมูลข่าวสารลับ “ชั้นลับที่สุด”", "none"),     # seed 003
    ("ชั้น “ลับ” และ “ลับมาก”", "none"),              # seed 002
    ("แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์", "none"),
    ("", "none"),
])
def test_classify_secrecy_text(subject, secrecy):
    assert classify_secrecy_text(subject) == secrecy


@pytest.mark.parametrize("subject, urgency", [
    ("ด่วน ขอเชิญประชุม", "urgent"),
    ("ด่วนมาก ขอเชิญประชุม", "very_urgent"),
    ("ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๗๖", "most_urgent"),
    ("[ด่วนที่สุด] แจ้งแนวทาง", "most_urgent"),
    ("แจ้งเรื่องด่วนของฝ่าย", "none_marked"),
])
def test_urgency_in_subject(subject, urgency):
    assert urgency_in_subject(subject) == ("normal" if urgency == "none_marked" else urgency)


@pytest.mark.parametrize("head, urgency, secrecy", [
    ("ด่วนที่สุด\nบันทึกข้อความ", "most_urgent", "none"),           # seed 003
    ("ด่วนที่สุด บันทึกข้อความ\nฝ่ายการศึกษา", "most_urgent", "none"),  # seed 000
    ("ลับ\nด่วนมาก\nบันทึกข้อความ", "very_urgent", "confidential"),
    ("ลับมาก ด่วน\nบันทึกข้อความ", "urgent", "secret"),
    ("บันทึกข้อความ\n(ลับ)", "normal", "confidential"),
    ("ขอเรียนว่าเป็นเรื่องด่วนที่สุด และเป็นความลับ", "normal", "none"),  # prose
    ("ส่วนราชการ สำนักงานเขตลับแล", "normal", "none"),
])
def test_markings_in_letter_head(head, urgency, secrecy):
    assert urgency_in_letter(head) == urgency
    assert secrecy_in_letter(head) == secrecy
