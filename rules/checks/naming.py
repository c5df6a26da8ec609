"""naming: file names of external letters per seed 004 appendix ข ๒.๒ — Arabic
digits, `_` instead of spaces and reserved characters such as `/` or `.`, in the
order (1) Buddhist-era year, (2) the agency's roman letter code, (3) the owning
office's number, (4) the number in the send register: `2566_BMA_0403_276.pdf`.
The example a sender is shown is built from their own letter (its year and ที่) and
their address's code, and checked against the configured pattern, so it never shows
a name the rule itself would refuse.
The pattern is RuleSettings.filename_pattern (applied to the name without its
extension); enclosures add a suffix (`2566_BMA_0403_276_1.pdf`).

When the letter's reference is known, the numbers in the name must agree with it:
office groups, then the running number (`กท 0808.2/ว 1234` -> `..._0808_2_1234`).
We compare the digit groups after the agency code in order, so a numeric enclosure
suffix (`_1`) is told apart from the office number even though the default pattern
alone cannot tell them apart. Groups the pattern does not name are not compared.
"""
from __future__ import annotations

import re

from rules.checks import FILE, finding
from rules.files import cover_letter, display_name, documents
from rules.model import Attachment, Finding, LetterFacts, ParsedMail, RuleSettings
from rules.reference import parse_reference
from rules.thai_text import ce_to_be, has_thai_digits, thai_to_arabic
from rules.thai_time import be_year, now_utc

_ORDER_TH = "ปี พ.ศ._รหัสหน่วยงานอักษรโรมัน_เลขประจำส่วนราชการ_เลขที่หนังสือส่ง"
_ORDER_EN = "BE year_agency code in roman letters_office number_send-register number"
_PARTS = ("year", "agency", "office", "number")


def stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if "." in filename else filename


def _agency_code(mail: ParsedMail) -> str:
    """The sender's own roman code: `saraban.dds@...` -> dds (the seed's addresses are
    built from it); BMA, the seed's own example, when the address does not show one."""
    local = (mail.from_address or mail.envelope_sender or "").partition("@")[0].lower()
    m = re.match(r"^saraban\.([a-z][a-z0-9]*)", local)
    return m[1] if m and m[1].isalpha() else "BMA"


def example_name(pattern: re.Pattern, mail: ParsedMail, facts: LetterFacts, extension: str = "pdf") -> str | None:
    """The file name this letter should carry, from its own year, reference and the
    sender's code, if the configured pattern accepts it; None when the pattern is not
    built from those parts (then the pattern itself is quoted)."""
    ref = parse_reference(facts.reference) if facts.reference else None
    # Without the letter's own date, this year in Bangkok (the register's): the mail's
    # Date: is the sender's clock, in any zone and calendar. It gave "2562_..." for a PC
    # set to 2019, the UTC year on New Year's morning, a year of 3117 for a Date: written
    # in the Buddhist era (no example then: the pattern's regex itself was quoted to the
    # sender), and a fixed 2567 for a mail without one.
    year = ce_to_be(facts.letter_date.year) if facts.letter_date else be_year(now_utc())
    office = "_".join(ref.office.split(".")) if ref and ref.office and re.fullmatch(r"[\d.]+", ref.office) else "0403"
    number = ref.number if ref and ref.number and ref.number.isdigit() else "276"
    candidate = f"{year}_{_agency_code(mail)}_{office}_{number}"
    return f"{candidate}.{extension}" if pattern.fullmatch(candidate) else None


def _how_to_name(pattern: re.Pattern, example: str | None) -> tuple[str, str]:
    if example is None:
        return (f"ตามรูปแบบที่หน่วยงานกำหนด ({pattern.pattern})",
                f"as the receiving unit's pattern requires ({pattern.pattern})")
    suffix = stem(example) + "_1." + example.rsplit(".", 1)[-1]
    return (f"{_ORDER_TH} เช่น {example} (สิ่งที่ส่งมาด้วยเติมท้าย เช่น {suffix})",
            f"{_ORDER_EN}, e.g. {example} (enclosures add a suffix: {suffix})")


def _hints(name: str, pattern: re.Pattern) -> tuple[list[str], list[str]]:
    """What is actually wrong with a name the pattern refused, in the sender's terms."""
    th, en = [], []
    s = stem(name)
    if has_thai_digits(name):
        th.append("ใช้เลขไทย ให้ใช้เลขอารบิก")
        en.append("it uses Thai digits; use Arabic digits")
    if " " in s:
        th.append("มีการเว้นวรรค ให้ใช้ _ แทน")
        en.append("it contains spaces; use _ instead")
    if re.search(r"[./\\:*?\"<>|#%&]", s):
        th.append("มีเครื่องหมายสงวน (เช่น . หรือ /) ให้ใช้ _ แทน")
        en.append("it contains reserved characters such as . or /; use _ instead")
    if not all(part in pattern.groupindex for part in _PARTS):
        return th, en  # a pattern of its own: only the character rules are known
    parts = [p for p in re.split(r"[\s_./\\-]+", thai_to_arabic(s)) if p]
    if len(parts) < len(_PARTS):
        th.append(f"มี {len(parts)} ส่วน แต่ต้องมี 4 ส่วน คือ ปี พ.ศ. รหัสหน่วยงาน เลขประจำส่วนราชการ และเลขที่หนังสือส่ง")
        en.append(f"it has {len(parts)} part{'s' if len(parts) != 1 else ''} where 4 are needed: "
                  "year, agency code, office number, send number")
        return th, en
    year, agency = parts[0], parts[1]
    if not re.fullmatch(r"25\d\d", year):
        th.append(f"ส่วนแรก ({year}) ต้องเป็นปี พ.ศ. 4 หลัก")
        en.append(f"the first part ({year}) must be the Buddhist-era year, four digits")
    if re.search(r"[ก-ฮ]", agency):
        th.append(f"รหัสหน่วยงาน ({agency}) ต้องเป็นอักษรโรมัน ไม่ใช่อักษรไทย")
        en.append(f"the agency code ({agency}) must be in roman letters, not Thai")
    elif not agency.isalpha():
        th.append(f"ส่วนที่สอง ({agency}) ต้องเป็นรหัสหน่วยงานอักษรโรมัน")
        en.append(f"the second part ({agency}) must be the agency code in roman letters")
    if not all(p.isdigit() for p in parts[2:4]):
        th.append("เลขประจำส่วนราชการและเลขที่หนังสือส่งต้องเป็นตัวเลข")
        en.append("the office number and the send number must be digits")
    return th, en


def _number_groups(m: re.Match) -> list[str] | None:
    names = m.re.groupindex
    if "office" not in names or "number" not in names:
        return None
    groups = re.split(r"_+", m["office"]) + [m["number"]]
    if "suffix" in names and m["suffix"]:
        groups.append(m["suffix"])
    return groups


def _agrees(groups: list[str], expected: list[str]) -> bool:
    if len(groups) < len(expected):
        return False
    for got, want in zip(groups, expected):
        if not (got.isdigit() and want.isdigit() and int(got) == int(want)):
            return False
    return True


class Naming:
    name = "naming"
    description = "File names follow BEyear_AGENCY_office_number[_suffix] and agree with the reference"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        try:
            pattern = re.compile(settings.filename_pattern)
        except re.error as exc:
            return [finding(
                self.name, "warn",
                f"รูปแบบชื่อไฟล์ในการตั้งค่าไม่ถูกต้อง ({exc}) ผู้ดูแลระบบต้องแก้ไข",
                f"the configured file-name pattern is invalid ({exc}); the administrator must fix it",
            )]
        ref = parse_reference(facts.reference) if facts.reference else None
        expected = (ref.office.split(".") + [ref.number]) if ref and ref.office else None
        cover = cover_letter(mail)
        cover_stem = stem(cover.filename) if cover and cover.filename else None
        how = _how_to_name(pattern, example_name(pattern, mail, facts))
        out = []
        # A forwarded letter's files were named by whoever sent that letter, after its own
        # ที่: held to this letter's, its sender was told to rename them (session 43). They
        # are judged only when one of them is the cover letter (the letter has no PDF).
        for att in documents(mail):
            if att.forwarded and not (cover is not None and cover.forwarded):
                continue
            out += self._check_one(att, att is cover, cover_stem, pattern, expected, facts, how)
        if not out:
            out.append(finding(self.name, "pass", "ชื่อไฟล์ถูกต้องตามหลักเกณฑ์", "file names follow the naming rule"))
        return out

    def _check_one(self, att: Attachment, is_cover: bool, cover_stem: str | None,
                   pattern: re.Pattern, expected: list[str] | None, facts: LetterFacts,
                   how: tuple[str, str]) -> list[Finding]:
        name = display_name(att)
        if not att.filename:
            return [finding(
                self.name, "fail",
                f"ไฟล์ {FILE} ไม่มีชื่อ กรุณาตั้งชื่อไฟล์เป็น {how[0]}",
                f"file {FILE} has no name; name it {how[1]}",
                name,
            )]
        m = pattern.fullmatch(stem(att.filename))
        if m is None:
            th, en = _hints(att.filename, pattern)
            why_th = (" (" + ", ".join(th) + ")") if th else ""
            why_en = (" (" + "; ".join(en) + ")") if en else ""
            return [finding(
                self.name, "fail",
                f"ชื่อไฟล์ {FILE} ไม่เป็นไปตามหลักเกณฑ์{why_th} กรุณาตั้งชื่อเป็น {how[0]}",
                f"the file name {FILE} does not follow the naming rule{why_en}; name it {how[1]}",
                name,
            )]
        out = []
        groups = _number_groups(m)
        if expected and groups is not None and not _agrees(groups, expected):
            out.append(finding(
                self.name, "fail",
                f"เลขในชื่อไฟล์ {FILE} ไม่ตรงกับเลขที่หนังสือ {facts.reference} "
                f"กรุณาใช้ {'_'.join(expected)} ในชื่อไฟล์",
                f"the number in {FILE} does not agree with the letter's reference {facts.reference}; "
                f"use {'_'.join(expected)} in the file name",
                name,
            ))
        if "year" in m.re.groupindex and m["year"] and facts.letter_date:
            be = ce_to_be(facts.letter_date.year)
            if m["year"].isdigit() and int(m["year"]) != be:
                out.append(finding(
                    self.name, "fail",
                    f"ปีในชื่อไฟล์ {FILE} ({m['year']}) ไม่ตรงกับปีของหนังสือ (พ.ศ. {be}) กรุณาแก้ปีในชื่อไฟล์",
                    f"the year in {FILE} ({m['year']}) does not agree with the letter's year ({be} BE); correct it",
                    name,
                ))
        if not is_cover and cover_stem is not None and stem(att.filename) == cover_stem:
            out.append(finding(
                self.name, "fail",
                f"สิ่งที่ส่งมาด้วย {FILE} ใช้ชื่อเดียวกับหนังสือนำ กรุณาเติมท้ายชื่อ เช่น _1 _2",
                f"the enclosure {FILE} has the same name as the cover letter; add a suffix such as _1, _2",
                name,
            ))
        return out
