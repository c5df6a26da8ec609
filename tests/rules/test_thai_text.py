import pytest

from rules.thai_text import (arabic_to_thai, clean_field, be_to_ce, ce_to_be, expand_year, month_number, repair_sara_am,
                             thai_to_arabic)


@pytest.mark.parametrize("thai, arabic", [
    ("๐๔๐๓", "0403"),
    ("กท ๐๕๐๘/๒๐๕๙", "กท 0508/2059"),
    ("๑๒๓๔๕๖๗๘๙๐", "1234567890"),
    ("ไม่มีเลข", "ไม่มีเลข"),
    ("ดำรงชีพพัฒนาเมือง 1๗๙", "ดำรงชีพพัฒนาเมือง 179"),  # seed 002 mixes both
])
def test_digits_both_ways(thai, arabic):
    assert thai_to_arabic(thai) == arabic
    assert thai_to_arabic(arabic_to_thai(arabic)) == arabic


@pytest.mark.parametrize("name, number", [
    ("มกราคม", 1), ("ม.ค.", 1), ("กุมภาพันธ์", 2), ("ก.พ.", 2), ("มีนาคม", 3), ("มี.ค.", 3),
    ("เมษายน", 4), ("เม.ย.", 4), ("พฤษภาคม", 5), ("พ.ค.", 5), ("มิถุนายน", 6), ("มิ.ย.", 6),
    ("มี.ย.", 6),  # seed 000's typo "๒๖ มี.ย. ๒๕๖๕", between letters of 22 and 29 June
    ("กรกฎาคม", 7), ("ก.ค.", 7), ("สิงหาคม", 8), ("ส.ค.", 8), ("กันยายน", 9), ("ก.ย.", 9),
    ("ตุลาคม", 10), ("ต.ค.", 10), ("พฤศจิกายน", 11), ("พ.ย.", 11), ("ธันวาคม", 12), ("ธ.ค.", 12),
    ("ธ. ค.", 12), ("ธค", 12),
    ("พ.ศ.", None), ("วันที่", None), ("", None),
])
def test_month_names(name, number):
    assert month_number(name) == number


@pytest.mark.parametrize("year, digits, ce", [
    (67, 2, 2024),     # ๖๗ -> 2567 BE -> 2024 CE
    (65, 2, 2022),
    (69, 2, 2026),
    (2566, 4, 2023),
    (2569, 4, 2026),
    (2024, 4, 2024),   # already common era
    (3000, 4, None),
    (123, 3, None),
])
def test_expand_year(year, digits, ce):
    assert expand_year(year, digits) == ce


def test_era_offsets():
    assert be_to_ce(2567) == 2024
    assert ce_to_be(2024) == 2567


@pytest.mark.parametrize("pages, read", [
    # LibreOffice, the glyph of า without Unicode once used in ำ: its code after ำ, and alone
    (["สำ\x03นักง\x03นเขตบ\x03งรัก\nลับม\x03ก", "คณะกรรมก\x03ร"], ["สำนักงานเขตบางรัก\nลับมาก", "คณะกรรมการ"]),
    # the same, another code in another file; a code never seen after ำ is left alone
    (["น้ำ\x1aท่วม ม\x1aก \x05"], ["น้ำท่วม มาก \x05"]),
    # LibreOffice with the glyph mapped: ำ then า
    (["สำานักงาน ผู้อำานวยการ"], ["สำนักงาน ผู้อำนวยการ"]),
    # nothing to repair
    (["ที่ กท 0403/ว 276\tหน้า 1"], ["ที่ กท 0403/ว 276\tหน้า 1"]),
])
def test_the_second_half_of_sara_am_as_extractors_hand_it_back(pages, read):
    assert repair_sara_am(pages) == read


@pytest.mark.parametrize("raw, kept", [
    ("ขอเชิญ\u202eประชุม\u2060ด่วน\x1b", "ขอเชิญประชุมด่วน"),  # an override, a word joiner, ESC
    ("ผู้อำนวยการเขต\u00adลาดกระบัง", "ผู้อำนวยการเขตลาดกระบัง"),  # a soft hyphen
    ("ขอเชิญ\x1b[2Jประชุม\x07", "ขอเชิญ [2Jประชุม"),  # a control character is a space
    ("  ขอเชิญ \t\r\n ประชุม\u2028", "ขอเชิญ ประชุม"),  # one line
    ("\u200b\x00 ", None), ("", None), (None, None),
])
def test_a_register_field_is_one_clean_line(raw, kept):
    assert clean_field(raw) == kept
