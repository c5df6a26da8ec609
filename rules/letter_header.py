"""Reading the header block of a Thai official letter from its text.

Both forms of หนังสือราชการ put the same fields in the same order at the top:
    [markings: ด่วนที่สุด, ลับ]   [heading: บันทึกข้อความ, คำสั่ง..., ประกาศ...]
    ส่วนราชการ ...                 (memo only)
    ที่ กท ๐๔๐๓/ว ๒๗๖               the reference: the anchor of everything below
    วันที่ ๒๒ ธันวาคม ๒๕๖๖          (external letters: the date alone on its line)
    เรื่อง ...
    เรียน ...
    อ้างถึง ...                      (optional)
    สิ่งที่ส่งมาด้วย ...               (optional; a numbered list when several)
    <body paragraphs>
So we find the first line that starts with ที่ and a readable reference, read the
fields after it in that order until the body starts, and treat everything above it
as the head (where markings and the kind of letter are written). Receive stamps that
sit above the reference (seed 003: "วันที่ ๒๕ ธ.ค. ๒๕๖๖" of the stamp) are therefore
never mistaken for the letter date. Scanned stacks (seed 002) are read by their top
letter, which is what the clerk registers.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rules.dates import parse_thai_date
from rules.reference import Reference, find_reference_on_line, reference_at_start
from rules.thai_text import (
    MONTH_PATTERN,
    drop_format_chars,
    extracted_lines,
    normalise_extracted,
    normalise_extracted_line,
    stray_codes,
    thai_to_arabic,
)

# Lines after the reference that still belong to the header (external letters put
# the sender's address between ที่ and the date).
_HEADER_WINDOW = 14
# A long เรื่อง wraps: up to this many lines below the one that starts it.
_SUBJECT_CONTINUATIONS = 3
# Without a reference we read only this many non-empty lines from the top.
_NO_REFERENCE_WINDOW = 20

_KEYWORDS = {
    "subject": r"เรื่อง",
    "addressee": r"(?:กราบเรียน|เรียน)",
    "references": r"อ้างถึง",
    "enclosures": r"สิ่งที่ส่งมาด้วย",
    "date": r"(?:ลงวันที่|วันที่|ลว\.)",
}
_KEYWORD_START = re.compile(
    r"^(?P<key>เรื่อง|กราบเรียน|เรียน|อ้างถึง|สิ่งที่ส่งมาด้วย|ส่วนราชการ|ที่|วันที่)(?:\s*[:：]\s*|\s+|$)"
)
# Openings of the first body paragraph: a continuation line starting so is prose.
_BODY_OPENERS = re.compile(
    r"^(?:ด้วย|ตามที่|ตาม|สืบเนื่อง|เนื่อง|อนุสนธิ|จึง|ขอ|ทั้งนี้|ในการนี้|บัดนี้|เพื่อ|โดย|หาก|ดังนั้น|แนบ|อ้างถึง|สิ่งที่ส่งมาด้วย)"
)
# เรียน: the addressee is a title and, mostly, the office it heads, on one line; a
# second line continues it only while the first is not yet a whole addressee
# ("ผู้อำนวยการสถานศึกษาโรงเรียน" / "ในสังกัดสำนักงานเขตหนองจอก", seed 002). The body
# below often opens with the sending agency's name ("สำนักการระบายน้ำ กรุงเทพมหานคร
# ได้กำหนด...", "กรุงเทพมหานครได้...") or a sentence ("แนบหนังสือมาพร้อมนี้"): after
# a whole addressee ("ผู้อำนวยการเขตลาดกระบัง", "...ของกรุงเทพมหานคร") nothing more is
# read, and a continuation that reads as a sentence is never taken.
_UNIT_WORDS = r"(?:สำนักงาน|สำนัก|เขต|กอง|ฝ่าย|กรม|กระทรวง|จังหวัด|อำเภอ|โรงเรียน|สถานศึกษา|ส่วน|กลุ่มงาน|งาน|ศูนย์|หน่วยงาน|หน่วย)"
_WHOLE_ADDRESSEE = re.compile(
    rf"(?:กรุงเทพมหานคร|{_UNIT_WORDS}(?!{_UNIT_WORDS}*$)[\u0e01-\u0e4e]{{2,}}|ทุก(?:ท่าน|หน่วยงาน|ฝ่าย|ส่วนราชการ))$"
)
_ADDRESSEE_LINE_MAX = 60
_SENTENCE = re.compile(r"ได้|แนบ|พร้อมนี้|ดังกล่าว|กำหนด|ประสงค์|ดำเนินการ|เรียบร้อย|\d")
_NUMBERED_ITEM = re.compile(r"^(?:[-•]\s*)?\(?\d{1,2}[.)]\s*")
_DATE_ONLY_LINE = re.compile(rf"^[\s\-–]*\d{{1,2}}\s*{MONTH_PATTERN}\s*(?:พ\.\s?ศ\.\s*)?\d{{2,4}}\s*$")


@dataclass
class HeaderFields:
    reference: Reference | None = None
    letter_date: dt.date | None = None
    subject: str | None = None
    addressee: str | None = None
    references: tuple[str, ...] = ()
    enclosures: tuple[str, ...] = ()
    head: str = ""  # text above the reference: markings, heading


def _is_thai(ch: str) -> bool:
    return "\u0e00" <= ch <= "\u0e7f"


def join_wrapped(lines: list[str]) -> str:
    """Join wrapped lines: Thai to Thai without a space (Thai has no word spaces)."""
    out = ""
    for line in lines:
        line = re.sub(r"\s+", " ", line).strip()
        if not line:
            continue
        if out and not (_is_thai(out[-1]) and _is_thai(line[0])):
            out += " "
        out += line
    return out


def _keyword_value(line: str, keyword: str) -> str | None:
    m = re.match(rf"^{keyword}(?:\s*[:：]\s*|\s+|$)(?P<value>.*)$", line)
    return m["value"].strip() if m else None


def _continuations(lines: Sequence[str], start: int, limit: int) -> list[str]:
    """Wrapped lines after lines[start] that continue the same field."""
    out = []
    for line in lines[start + 1 : start + 1 + limit]:
        if not line.strip() or _KEYWORD_START.match(line) or _BODY_OPENERS.match(line):
            break
        if _DATE_ONLY_LINE.match(line):
            break
        out.append(line)
    return out


def _addressee_continuations(lines: Sequence[str], start: int, value: str) -> list[str]:
    """The line after `เรียน <value>` when it continues the addressee (see
    _WHOLE_ADDRESSEE), else nothing."""
    if not value or _WHOLE_ADDRESSEE.search(re.sub(r"\s+", "", value)):
        return []
    return [
        line for line in _continuations(lines, start, 1)
        if len(line) <= _ADDRESSEE_LINE_MAX and not _SENTENCE.search(line)
    ]


def _items(value: str, following: list[str]) -> tuple[str, ...]:
    """A field that may be a numbered list: "๑. ... ๒. ..." on one or more lines."""
    text_lines = ([value] if value else []) + following
    items: list[list[str]] = []
    for line in text_lines:
        # Several numbered items on one line: split before each "N." that follows a space.
        for piece in re.split(r"\s+(?=\d{1,2}\.\s)", line.strip()):
            if not piece:
                continue
            if _NUMBERED_ITEM.match(piece) or not items:
                items.append([_NUMBERED_ITEM.sub("", piece)])
            else:
                items[-1].append(piece)
    return tuple(s for s in (join_wrapped(i) for i in items) if s and not re.fullmatch(r"[-–.\s]*", s))


def _list_lines(lines: Sequence[str], start: int, limit: int = 12) -> tuple[list[str], int]:
    """Lines after lines[start] that continue a list field, and how many raw lines
    (blank ones included) they span. Numbered items may be blank-separated; an
    unnumbered line continues the field only directly below a taken line."""
    out: list[str] = []
    consumed = 0
    previous_blank = False
    for offset, line in enumerate(lines[start + 1 : start + 1 + limit], start=1):
        if not line.strip():
            previous_blank = True
            continue
        if _KEYWORD_START.match(line) or _BODY_OPENERS.match(line):
            break
        if not _NUMBERED_ITEM.match(line) and previous_blank:
            break
        out.append(line)
        consumed = offset
        previous_blank = False
    return out, consumed


def read_letter_text(text: str) -> HeaderFields:
    """The header fields of the first letter in `text` (a PDF text layer or a body)."""
    return _read_lines([line.strip() for line in thai_to_arabic(text).splitlines()])


# Line breaks other than \n: str.splitlines() breaks at them too, so a line of
# `extracted_lines` would not be one line of the normalised text.
_OTHER_BREAKS = re.compile("[\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def read_extracted_text(text: str) -> HeaderFields:
    """`read_letter_text(normalise_extracted(text))` for a PDF text layer, empty fields
    when that text is empty; each line normalised when first read.

    Normalising costs ~1.5 µs a character (PyThaiNLP's normalize) and the header is read
    from the top: the body of a three-page letter below it is not normalised now. A
    text with other line breaks than \n is normalised whole, as before."""
    raw = extracted_lines(text)
    if len(raw) == 1 or _OTHER_BREAKS.search(text):
        normalised = normalise_extracted(text)
        return read_letter_text(normalised) if normalised else HeaderFields()
    return _read_lines(_ExtractedLines(raw))


class _ExtractedLines(Sequence):
    """The lines read_letter_text reads of normalise_extracted's text (thai_to_arabic,
    stripped), each normalised on first use. A last line that normalises to nothing
    ends the text with \n, which splitlines() drops: so it is not a line."""

    def __init__(self, raw: list[str]):
        self._raw = raw
        self._codes = stray_codes("\n".join(raw))
        self._done: list[str | None] = [None] * len(raw)
        last = normalise_extracted_line(raw[-1], self._codes)
        self._len = len(raw) - (last == "")
        self._done[-1] = thai_to_arabic(last).strip()

    def _line(self, i: int) -> str:
        line = self._done[i]
        if line is None:
            line = self._done[i] = thai_to_arabic(normalise_extracted_line(self._raw[i], self._codes)).strip()
        return line

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._line(i) for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        return self._line(index)


def _read_lines(lines: Sequence[str]) -> HeaderFields:
    fields = HeaderFields()
    anchor = None
    tail = ""
    for i, line in enumerate(lines):
        found = reference_at_start(line)
        if found is not None:
            (fields.reference, tail), anchor = found, i
            break
    if anchor is None:
        nonempty = [i for i, line in enumerate(lines) if line]
        window = nonempty[:_NO_REFERENCE_WINDOW]
        fields.head = "\n".join(lines[i] for i in window)
        start, end = (window[0], window[-1] + 1) if window else (0, 0)
    else:
        # A marking typed at the right of the reference line ("ที่ กท ... ด่วนที่สุด")
        # is read with the head; a date there is not a marking and is left out.
        tail = re.split(_KEYWORDS["date"], tail, maxsplit=1)[0].strip()
        fields.head = "\n".join([*lines[:anchor], tail] if tail else lines[:anchor])
        start, end = anchor, len(lines)
        # The date often shares the reference line: "ที่ กท ... ลว. ๘ มี.ค. ๖๗".
        rest = lines[anchor]
        m = re.search(_KEYWORDS["date"], rest)
        if m:
            fields.letter_date = parse_thai_date(rest[m.end():])
    _read_fields(lines, start, end, fields, anchored=anchor is not None)
    return fields


def _read_fields(lines: Sequence[str], start: int, end: int, fields: HeaderFields, anchored: bool) -> None:
    seen_addressee = False
    header_lines_left = _HEADER_WINDOW
    i = start + 1 if anchored else start
    while i < end:
        line = lines[i]
        if not line:
            i += 1
            continue
        if seen_addressee and not re.match(r"^(?:อ้างถึง|สิ่งที่ส่งมาด้วย)", line):
            break  # the body has started
        if not seen_addressee:
            header_lines_left -= 1
            if header_lines_left < 0 and anchored:
                break
        if anchored and i > start and find_reference_on_line(line) and fields.subject is None:
            break  # a second letter's header: stop reading the first
        if fields.letter_date is None and anchored and fields.subject is None:
            value = _keyword_value(line, r"วันที่")
            if value is not None:
                # seed 001: "วันที่ ๙" / "กันยายน ๒๕๖๕" split over lines.
                tail = " ".join([value] + [l for l in lines[i + 1 : i + 4] if l][:2])
                fields.letter_date = parse_thai_date(tail)
                i += 1
                continue
            if _DATE_ONLY_LINE.match(line):
                fields.letter_date = parse_thai_date(line)
                i += 1
                continue
        value = _keyword_value(line, _KEYWORDS["subject"])
        if value is not None and fields.subject is None and not seen_addressee:
            more = _continuations(lines, i, _SUBJECT_CONTINUATIONS)
            fields.subject = join_wrapped([value] + more) or None
            i += 1 + len(more)
            continue
        value = _keyword_value(line, _KEYWORDS["addressee"])
        if value is not None and fields.addressee is None:
            more = _addressee_continuations(lines, i, value)
            fields.addressee = join_wrapped([value] + more) or None
            seen_addressee = True
            i += 1 + len(more)
            continue
        value = _keyword_value(line, _KEYWORDS["references"])
        if value is not None and not fields.references:
            more, consumed = _list_lines(lines, i)
            fields.references = _items(value, more)
            i += 1 + consumed
            continue
        value = _keyword_value(line, _KEYWORDS["enclosures"])
        if value is not None and not fields.enclosures:
            more, consumed = _list_lines(lines, i)
            fields.enclosures = _items(value, more)
            i += 1 + consumed
            continue
        i += 1


@dataclass
class InlineFields:
    reference: Reference | None = None
    letter_date: dt.date | None = None
    subject: str | None = None


# What a sender may write before the letter's own ที่ in a mail subject: a reply or
# forward prefix, the urgency or classification marking, bracketed or not.
_INLINE_LEAD = re.compile(
    r"^(?:(?:re|fwd?|fw|ตอบกลับ|ส่งต่อ)\s*:\s*"
    r"|[\[(]?\s*(?:ด่วน\s*ที่สุด|ด่วน\s*มาก|ด่วน|ลับ\s*ที่สุด|ลับ\s*มาก|ลับ|ปกปิด)\s*[\])]?\s*)*",
    re.IGNORECASE,
)
# The letter's own date beside its reference, or leading the text: "ลงวันที่", "ลว."
# (and "วันที่" right after the reference). A date after วันที่ elsewhere is the
# subject's wording ("ขอเชิญประชุมคณะกรรมการ วันที่ 15 ธันวาคม 2569").
_DATE_MARK = re.compile(r"^(?:ลงวันที่|ลว\.?|วันที่)\s*[:：]?\s*")
_LEADING_DATE_MARK = re.compile(r"^(?:ลงวันที่|ลว\.?)\s*[:：]?\s*")
_INLINE_REF = re.compile(r"(?:^|(?<=\s))ที่\s*[:：]?\s*(?=\S)")
# "... เรื่อง ขอเชิญประชุม ลงวันที่ 22 ธ.ค. 2566": the date written after the subject.
_TRAILING_DATE = re.compile(
    rf"\s(?:ลงวันที่|ลว\.?)\s*[:：]?\s*(?P<date>\d{{1,2}}\s*{MONTH_PATTERN}\s*(?:พ\.\s?ศ\.\s*)?\d{{2,4}})\s*$"
)


def read_inline(s: str) -> InlineFields:
    """Fields written on one line, as senders put them in a mail subject:
    "ด่วนที่สุด ที่ กท 0403/ว 276 ลงวันที่ 22 ธ.ค. 2566 เรื่อง แจ้งแนวทาง...".

    Only where a sender writes the letter's own: ที่ leading the text (after a marking)
    or followed by its date or by เรื่อง ("ขอส่งหนังสือ ที่ กท 0508/2059 ลงวันที่ 9 ก.ย.
    2565"); the date after ลงวันที่/ลว. beside that reference or leading the text, or
    after the subject ("... เรื่อง ขอเชิญประชุม ลงวันที่ 22 ธ.ค. 2566"). A reference or a
    date inside the subject's wording ("ขอส่งสำเนาหนังสือ กท 0401/123 ให้ทราบ",
    "ขอเชิญประชุม วันที่ 15 ธันวาคม 2569") is the subject's, not the letter's."""
    text = re.sub(r"\s+", " ", thai_to_arabic(drop_format_chars(s))).strip()
    fields = InlineFields()
    # The keyword starts the subject or follows a space: "แจ้งเวียนเรื่อง..." is a
    # subject that merely contains the word.
    m = re.search(r"(?:^|\s)เรื่อง\s*[:：]?\s*(?P<value>.+)$", text)
    before = (text[: m.start()] if m else text).strip()
    if m and m["value"].strip():
        fields.subject = m["value"].strip()
    lead = _INLINE_LEAD.match(before).end()
    head = before[lead:]
    for ref_mark in _INLINE_REF.finditer(head):
        found = reference_at_start(head[ref_mark.start():])
        if found is None:
            continue
        reference, rest = found
        rest = rest.strip()
        date_mark = _DATE_MARK.match(rest)
        leading = ref_mark.start() == 0
        if leading or date_mark or (m and not rest):
            fields.reference = reference
            if date_mark:
                fields.letter_date = parse_thai_date(rest[date_mark.end():])
            break
    if fields.letter_date is None:
        date_mark = _LEADING_DATE_MARK.match(head)
        if date_mark:
            fields.letter_date = parse_thai_date(head[date_mark.end():])
    if fields.subject and fields.reference and fields.letter_date is None:
        trailing = _TRAILING_DATE.search(fields.subject)
        date = parse_thai_date(trailing["date"]) if trailing else None
        if date is not None:
            fields.letter_date = date
            fields.subject = fields.subject[: trailing.start()].strip() or None
    return fields
