"""Urgency (ด่วน) and classification (ลับ) markings.

A marking stands alone: on a line of its own, at the start of a line, in brackets,
or as a word of its own in a subject line. Thai writes words without spaces, so ลับ
glued to Thai letters is part of another word (ความลับ, กลับ, สลับ, ลับแล) and never a
marking; a marking in quotation marks ("ชั้น “ลับ”") is a mention in running text.
"""
from __future__ import annotations

import re
from email.header import decode_header, make_header

from rules.model import Secrecy, Urgency

SECRECY_RANK: dict[str, int] = {"none": 0, "confidential": 1, "secret": 2, "top_secret": 3}
URGENCY_RANK: dict[str, int] = {"normal": 0, "urgent": 1, "very_urgent": 2, "most_urgent": 3}

_SECRECY_WORDS = {"ลับที่สุด": "top_secret", "ลับมาก": "secret", "ลับ": "confidential"}
_URGENCY_WORDS = {"ด่วนที่สุด": "most_urgent", "ด่วนมาก": "very_urgent", "ด่วน": "urgent"}

_THAI = "ก-๛"
_QUOTES_OPEN = "“\"'‘«"
_QUOTES_CLOSE = "”\"'’»"


def _token(words: dict[str, str]) -> str:
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return (
        rf"(?<![{_THAI}{_QUOTES_OPEN}])"
        rf"(?P<word>{alternatives})"
        rf"(?![{_THAI}{_QUOTES_CLOSE}])"
    )


_SECRECY_TOKEN = re.compile(_token(_SECRECY_WORDS))
_URGENCY_TOKEN = re.compile(_token(_URGENCY_WORDS))
_ANY_MARKING = "|".join(sorted({**_SECRECY_WORDS, **_URGENCY_WORDS}, key=len, reverse=True))
# A line made only of markings ("ลับ ด่วนที่สุด"), possibly bracketed.
_MARKING_LINE = re.compile(rf"^[\s\[\(（【<]*(?:(?:{_ANY_MARKING})[\s\]\)）】>,/]*)+$")
_BRACKETED = re.compile(rf"[\[\(（【<]\s*(?P<inner>(?:(?:{_ANY_MARKING})[\s,/]*)+)\s*[\]\)）】>]")


def _best(values: list[str], rank: dict[str, int], default: str) -> str:
    return max(values, key=lambda v: rank[v], default=default)


def _decode(s: str) -> str:
    """RFC 2047 words decoded, for callers holding a raw Subject header."""
    if "=?" not in s:
        return s
    try:
        return str(make_header(decode_header(s)))
    except (ValueError, LookupError, UnicodeError):
        return s


def _tokens_in(s: str, token: re.Pattern, words: dict[str, str]) -> list[str]:
    return [words[m["word"]] for m in token.finditer(s)]


def secrecy_in_subject(s: str) -> Secrecy:
    """The classification marked in a subject line (standalone words anywhere)."""
    return _best(_tokens_in(_decode(s), _SECRECY_TOKEN, _SECRECY_WORDS), SECRECY_RANK, "none")  # type: ignore[return-value]


def urgency_in_subject(s: str) -> Urgency:
    return _best(_tokens_in(_decode(s), _URGENCY_TOKEN, _URGENCY_WORDS), URGENCY_RANK, "normal")  # type: ignore[return-value]


def classify_secrecy_text(s: str) -> Secrecy:
    """Classification of a bare subject line or header value; `none` if unmarked.

    The SMTP intake calls this on the Subject header at the end of DATA to refuse
    ลับที่สุด (top secret), so it accepts RFC 2047 encoded text too.
    """
    return secrecy_in_subject(s)


def _marked_lines(text: str) -> list[str]:
    """The parts of letter text that are markings, not running prose."""
    parts: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if _MARKING_LINE.match(stripped):
            parts.append(stripped)
            continue
        m = re.match(rf"^(?:(?:{_ANY_MARKING})(?=\s)\s*)+", stripped)
        if m:  # "ด่วนที่สุด บันทึกข้อความ" (seed 000): the marking starts the line
            parts.append(m.group(0))
        parts.extend(b["inner"] for b in _BRACKETED.finditer(stripped))
    return parts


def secrecy_in_letter(head: str) -> Secrecy:
    """Classification marked in the head of a letter (the part above ที่)."""
    found = []
    for part in _marked_lines(head):
        found += _tokens_in(part, _SECRECY_TOKEN, _SECRECY_WORDS)
    return _best(found, SECRECY_RANK, "none")  # type: ignore[return-value]


def urgency_in_letter(head: str) -> Urgency:
    found = []
    for part in _marked_lines(head):
        found += _tokens_in(part, _URGENCY_TOKEN, _URGENCY_WORDS)
    return _best(found, URGENCY_RANK, "normal")  # type: ignore[return-value]


# Header values senders' systems use. Outlook's Sensitivity has no government meaning
# except Company-Confidential; e-CMS codes 002/003/004 are ลับ/ลับมาก/ลับที่สุด.
_HEADER_SECRECY = {
    "confidential": "confidential",
    "company-confidential": "confidential",
    "secret": "secret",
    "top-secret": "top_secret",
    "top_secret": "top_secret",
    "topsecret": "top_secret",
    "top secret": "top_secret",
    "002": "confidential",
    "003": "secret",
    "004": "top_secret",
}
_HEADER_URGENCY = {
    "urgent": "urgent",
    "very-urgent": "very_urgent",
    "very_urgent": "very_urgent",
    "most-urgent": "most_urgent",
    "most_urgent": "most_urgent",
}


def secrecy_in_header(value: str) -> Secrecy:
    key = _decode(value).strip().lower()
    if key in _HEADER_SECRECY:
        return _HEADER_SECRECY[key]  # type: ignore[return-value]
    return secrecy_in_subject(value)


def urgency_in_header(value: str) -> Urgency:
    key = _decode(value).strip().lower()
    if key in _HEADER_URGENCY:
        return _HEADER_URGENCY[key]  # type: ignore[return-value]
    return urgency_in_subject(value)


def highest_secrecy(*values: str) -> Secrecy:
    return _best(list(values), SECRECY_RANK, "none")  # type: ignore[return-value]


def highest_urgency(*values: str) -> Urgency:
    return _best(list(values), URGENCY_RANK, "normal")  # type: ignore[return-value]
