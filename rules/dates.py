"""วันที่ (the letter date): Thai day, month name and Buddhist-era year to a date."""
from __future__ import annotations

import datetime as dt
import re

from rules.thai_text import MONTH_PATTERN, expand_year, month_number, thai_to_arabic

# Day, month, optional "พ.ศ.", year. Whitespace between the parts may include line
# breaks: seed 001 breaks "วันที่ ๙" and "กันยายน ๒๕๖๕" over two lines.
_DATE = re.compile(
    r"(?<!\d)(?P<day>\d{1,2})\s*"
    r"(?P<month>" + MONTH_PATTERN + r")"
    r"\s*(?:พ\.\s?ศ\.\s*)?"
    r"(?P<year>\d{4}|\d{2})(?!\d)"
)


def _to_date(m: re.Match) -> dt.date | None:
    month = month_number(m["month"])
    year = expand_year(int(m["year"]), len(m["year"]))
    if month is None or year is None:
        return None
    try:
        return dt.date(year, month, int(m["day"]))
    except ValueError:  # ๓๑ ก.พ.: not a day that exists
        return None


def find_thai_dates(s: str) -> list[dt.date]:
    """Every readable date in `s`, in order."""
    found = []
    for m in _DATE.finditer(thai_to_arabic(s)):
        d = _to_date(m)
        if d is not None:
            found.append(d)
    return found


def parse_thai_date(s: str) -> dt.date | None:
    """The first date written in `s` (`๘ มี.ค. ๖๗` -> 2024-03-08), or None.

    None when there is no day-month-year with a Thai month name, or when the day
    does not exist: a date we cannot read is left empty, never guessed.
    """
    for m in _DATE.finditer(thai_to_arabic(s)):
        return _to_date(m)
    return None
