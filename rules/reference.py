"""ที่ (the letter's reference number) in one normal form.

A reference is a Thai letter code of the sending agency (กท = Bangkok, มท = Interior),
the owning office's number (0403; a sub-office after a dot: 0808.2), a slash, an
optional ว (circular, หนังสือเวียน) or ฉ (emergency register, ฉุกเฉิน) and the running
number of the send register. Senders write it with Thai or Arabic digits, with or
without dots and spaces: `กท ๐๔๐๓/ว ๒๗๖`, `กท.๐๔๐๗/ว.๕๗`, `กท ๐๕๐๘ /๗๕๐`. The normal
form uses Arabic digits and single spaces: `กท 0403/ว 276`, `กท 0508/750`.

Orders and announcements (คำสั่ง, ประกาศ) are numbered per year instead: `ที่ ๑๒๓/๒๕๖๗`;
those normalise to `123/2567`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rules.thai_text import drop_format_chars, thai_to_arabic

_CODED = re.compile(
    r"(?<![ก-ฮ])"
    r"(?P<code>[ก-ฮ]{1,4})\s*\.?\s*"
    r"(?P<office>\d{1,6}(?:\s*\.\s*\d{1,4})*)"
    r"\s*/\s*"
    r"(?:(?P<prefix>[วฉ])(?![ก-ฮ])\s*\.?\s*)?"
    r"(?P<number>\d{1,7})(?![\d/])"
)
# Orders and announcements: number / Buddhist-era year.
_YEARLY = re.compile(r"(?<![\d/.])(?P<number>\d{1,5})\s*/\s*(?P<year>25\d\d)(?![\d/])")


@dataclass(frozen=True)
class Reference:
    """A reference number taken apart (office '0808.2', number '1234')."""

    text: str  # the normal form
    code: str | None
    office: str | None
    prefix: str | None  # "ว" (circular), "ฉ" (emergency) or None
    number: str

    @property
    def is_circular(self) -> bool:
        return self.prefix == "ว"


def _from_coded(m: re.Match) -> Reference:
    office = re.sub(r"\s+", "", m["office"])
    prefix = m["prefix"]
    tail = f"{prefix} {m['number']}" if prefix else m["number"]
    return Reference(f"{m['code']} {office}/{tail}", m["code"], office, prefix, m["number"])


def find_reference(text: str) -> Reference | None:
    """The first coded reference number anywhere in `text`, or None."""
    m = _CODED.search(thai_to_arabic(drop_format_chars(text)))
    return _from_coded(m) if m else None


def parse_reference(s: str) -> Reference | None:
    """`s` read as one reference number (a leading "ที่" allowed), or None."""
    text = thai_to_arabic(drop_format_chars(s)).strip()
    text = re.sub(r"^ที่\s*[:：]?\s*", "", text).strip()
    m = _CODED.fullmatch(text)
    if m:
        return _from_coded(m)
    m = _YEARLY.fullmatch(text)
    if m:
        return Reference(f"{m['number']}/{m['year']}", None, None, None, m["number"])
    return None


def normalise_reference(s: str) -> str | None:
    """`กท.๐๔๐๗/ว.๕๗` -> `กท 0407/ว 57`; None when `s` is not a reference number."""
    ref = parse_reference(s)
    return ref.text if ref else None


def find_reference_on_line(line: str) -> Reference | None:
    """A reference at the start of `line` (after "ที่"), coded or number/year."""
    found = reference_at_start(line)
    return found[0] if found else None


def reference_at_start(line: str) -> tuple[Reference, str] | None:
    """The reference at the start of `line` (after "ที่") and the rest of the line after
    it ("ด่วนที่สุด" typed at the right of the same line), or None. Format characters
    (U+200B...) are dropped first: "ที่ กท\u200b 0403/ว 276" is the reference it shows."""
    text = thai_to_arabic(drop_format_chars(line)).strip()
    m = re.match(r"ที่\s*[:：]?\s*", text)
    if not m:
        return None
    rest = text[m.end():]
    coded = _CODED.match(rest)
    if coded:
        return _from_coded(coded), rest[coded.end():]
    yearly = _YEARLY.match(rest)
    if yearly:
        return Reference(f"{yearly['number']}/{yearly['year']}", None, None, None, yearly["number"]), rest[yearly.end():]
    return None
