"""Time as the register keeps it: Asia/Bangkok wall clock, Buddhist-era years."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
BE_OFFSET = 543  # Buddhist era = common era + 543
# The years a register can have: Buddhist era. A common-era year (2026, what a clerk's
# calendar shows) is none of them.
REGISTER_YEARS = range(2400, 2701)

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTHS_SHORT = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def to_bangkok(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(BANGKOK)


def be_year(moment: dt.datetime) -> int:
    """The register year: the Buddhist-era calendar year in Bangkok at that moment."""
    return to_bangkok(moment).year + BE_OFFSET


def thai_digits(text: str) -> str:
    return text.translate(THAI_DIGITS)


def thai_date(moment: dt.datetime, digits: bool = True) -> str:
    """'๑๑ มิ.ย. ๒๕๖๕' as on a paper receive stamp."""
    local = to_bangkok(moment)
    text = f"{local.day} {THAI_MONTHS_SHORT[local.month - 1]} {local.year + BE_OFFSET}"
    return thai_digits(text) if digits else text


def thai_time(moment: dt.datetime, digits: bool = True) -> str:
    """'๑๘.๓๓' (Thai clock notation uses a dot)."""
    local = to_bangkok(moment)
    text = f"{local.hour:02d}.{local.minute:02d}"
    return thai_digits(text) if digits else text


def thai_datetime(moment: dt.datetime | str, digits: bool = False) -> str:
    """'29 พ.ย. 2569 10:15' (Bangkok time, Buddhist era): how staff read a time of
    receipt in a table, a CSV cell or a page footer. Takes the ISO text of --json too."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    local = to_bangkok(moment)
    text = f"{thai_date(local, digits=False)} {local.hour:02d}:{local.minute:02d}"
    return thai_digits(text) if digits else text
