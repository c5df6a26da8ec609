"""Every letter date the seeds show, Buddhist era to common era."""
import datetime as dt

import pytest

from rules.dates import find_thai_dates, parse_thai_date


@pytest.mark.parametrize("written, iso", [
    ("๒๒ ธันวาคม ๒๕๖๖", "2023-12-22"),       # seed 003
    ("๒๕ ธ.ค. ๒๕๖๖", "2023-12-25"),          # seed 003 receive stamp
    ("๘ มี.ค. ๖๗", "2024-03-08"),            # seed 002
    ("1 พ.ย. 69", "2026-11-01"),             # issue 3: Arabic digits, 2-digit year (2569 BE)
    ("๑๓ มิถุนายน ๒๕๖๕", "2022-06-13"),      # seed 000
    ("๑๑ มิ.ย. ๖๕", "2022-06-11"),           # seed 000 receive stamp
    ("๒๒ มิ.ย. ๒๕๖๕", "2022-06-22"),         # seed 000
    ("๒๙ มิ.ย. ๒๕๖๕", "2022-06-29"),         # seed 000
    ("๒๖ มี.ย. ๒๕๖๕", "2022-06-26"),         # seed 000's typo for มิ.ย.
    ("วันที่ - ๒ มี.ค. ๒๕๖๕", "2022-03-02"),  # seed 000, dash before the day
    ("๒ มีนาคม ๒๕๖๔", "2021-03-02"),         # seed 000
    ("วันที่ ๙\n\nกันยายน ๒๕๖๕", "2022-09-09"),  # seed 001, split over lines
    ("๑๓ มีนาคม ๒๕๖๗", "2024-03-13"),        # seed 002
    ("๑๑ มี.ค. ๒๕๖๗", "2024-03-11"),         # seed 002
    ("๔ มีนาคม ๒๕๖๗", "2024-03-04"),         # seed 002
    ("๑๙ กุมภาพันธ์ ๒๕๖๗", "2024-02-19"),    # seed 002
    ("๒๙ กุมภาพันธ์ ๒๕๖๗", "2024-02-29"),    # seed 002: 2024 is a leap year
    ("๓๐ เมษายน ๒๕๖๗", "2024-04-30"),        # seed 002
    ("๑ สิงหาคม ๒๕๖๗", "2024-08-01"),        # seed 002
    ("๑ มกราคม ๒๕๖๗", "2024-01-01"),         # seed 003
    ("๑๐ มกราคม ๒๕๖๖", "2023-01-10"),        # seed 004
    ("14 มกราคม 2569", "2026-01-14"),        # seed 004, Arabic digits
    ("22 ตุลาคม 2567", "2024-10-22"),        # seed 004
    ("๑ ก.ค. พ.ศ. ๒๕๖๗", "2024-07-01"),
    ("๕ ธ. ค. ๖๖", "2023-12-05"),
])
def test_parse_thai_date(written, iso):
    assert parse_thai_date(written) == dt.date.fromisoformat(iso)


@pytest.mark.parametrize("not_a_date", [
    "",
    "ฉบับที่ ๒ พ.ศ. ๒๕๖๐",        # seed 001: พ.ศ. is not a month
    "วันที่...../...../.....",     # seed 004: blank form
    "๓๑ กุมภาพันธ์ ๒๕๖๗",          # no such day: left empty, not guessed
    "๒๙ กุมภาพันธ์ ๒๕๖๖",          # 2023 is not a leap year
    "เวลา ๐๙.๓๙",
    "มิถุนายน-กรกฎาคม ๒๕๖๕",       # seed 000: a month range, no day
    "๓๐ มิถุนายน 3100",
])
def test_not_a_date(not_a_date):
    assert parse_thai_date(not_a_date) is None


def test_find_all_dates_in_order():
    text = "ที่ กท ๐๔๐๓/ว ๒๕ ลงวันที่ ๑๙ กุมภาพันธ์ ๒๕๖๗ และ ที่ กท ๐๔๐๓/ว ๒๘ ลงวันที่ ๒๑ กุมภาพันธ์ ๒๕๖๗"
    assert find_thai_dates(text) == [dt.date(2024, 2, 19), dt.date(2024, 2, 21)]
