"""Dates and times as Thai official documents write them: ๒๒ พ.ย. ๒๕๖๘, ๑๐.๓๐ น.

Buddhist era (พ.ศ. = CE + 543), abbreviated month names, Thai digits by default
(Arabic digits on request: some units prefer them on the stamp).
"""
from __future__ import annotations

import datetime as dt

BE_OFFSET = 543  # พุทธศักราช (Buddhist era) = common era + 543

MONTHS_ABBR = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)
MONTHS_FULL = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)

_TO_THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")

# Bangkok has had no daylight saving time since 1920: a fixed offset is exact.
BANGKOK = dt.timezone(dt.timedelta(hours=7), "ICT")


def thai_digits(text: str) -> str:
    return text.translate(_TO_THAI)


def _digits(text: str, thai: bool) -> str:
    return thai_digits(text) if thai else text


def thai_date(day: dt.date, *, thai: bool = True, full_month: bool = False) -> str:
    """`22 Nov 2025` → `๒๒ พ.ย. ๒๕๖๘`."""
    month = (MONTHS_FULL if full_month else MONTHS_ABBR)[day.month - 1]
    return f"{_digits(str(day.day), thai)} {month} {_digits(str(day.year + BE_OFFSET), thai)}"


def thai_time(moment: dt.time | dt.datetime, *, thai: bool = True) -> str:
    """`10:30` → `๑๐.๓๐ น.` (น. = นาฬิกา, o'clock)."""
    return f"{_digits(f'{moment.hour:02d}.{moment.minute:02d}', thai)} น."


def in_bangkok(moment: dt.datetime) -> dt.datetime:
    """Local Bangkok time of an aware datetime (naive ones are taken as Bangkok time)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=BANGKOK)
    return moment.astimezone(BANGKOK)
