"""Thai digits, Thai month names and the Buddhist era (พ.ศ.): the small vocabulary
every date and reference number on a letter is written in.

Pure functions, no I/O. The month table keeps the seed documents' own spellings
(e.g. `มี.ย.` for มิ.ย., 000_91534b91b3d57876.txt) wherever a variant cannot be read
as a different month.
"""
from __future__ import annotations

import functools
import re

THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
ARABIC_DIGITS = "0123456789"
_TO_ARABIC = str.maketrans(THAI_DIGITS, ARABIC_DIGITS)
_TO_THAI = str.maketrans(ARABIC_DIGITS, THAI_DIGITS)

# BE = CE + 543 (พุทธศักราช, Buddhist era).
BE_OFFSET = 543


# str.translate looks every non-ASCII character up in its table, raising and catching a
# LookupError inside for each one the table leaves alone: ~0.18 ms a thousand characters
# of Thai. The regex finds the runs of Thai digits in C and only those are translated.
_THAI_DIGIT_RUN = re.compile("[๐-๙]+")


def _arabic_run(m: re.Match) -> str:
    return m.group().translate(_TO_ARABIC)


def thai_to_arabic(s: str) -> str:
    """Replace Thai digits (๐-๙) by Arabic ones; every other character stays put."""
    return s if s.isascii() else _THAI_DIGIT_RUN.sub(_arabic_run, s)


def arabic_to_thai(s: str) -> str:
    """Replace Arabic digits by Thai ones (for text shown to Thai readers)."""
    return s.translate(_TO_THAI)


# Characters of Unicode category Cf (format: U+200B zero-width space, U+200C/D joiners,
# U+2060 word joiner, U+FEFF, U+00AD soft hyphen, bidi controls): invisible, typed or
# pasted into subjects and references, never part of a field's value.
# The category as of Unicode 14 (Python 3.11's unicodedata), written out: building it
# at import would look at every code point.
_FORMAT_RUN = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]+"
)


def drop_format_chars(s: str) -> str:
    """`s` without its format (Cf) characters: "ที่ กท\u200b 0403" -> "ที่ กท 0403"."""
    return _FORMAT_RUN.sub("", s) if not s.isascii() else s


# C0 and C1 control characters and the Unicode line and paragraph separators: a one-line
# field of the register (เรื่อง, เรียน, the sender's name) holds none. A PDF's text layer
# can read as any character its producer maps a glyph to (ESC, U+202E), and a Subject
# header may carry them too.
_CONTROL_RUN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_field(s: str | None) -> str | None:
    """A one-line field as the register keeps it: format characters (zero-width, soft
    hyphen, word joiner, bidi overrides) dropped, each run of control characters a space,
    spaces squeezed; None when nothing is left. "ขอเชิญ\u202eประชุม\x1b" -> "ขอเชิญประชุม"."""
    if not s:
        return None
    return " ".join(drop_format_chars(_CONTROL_RUN.sub(" ", s)).split()) or None


def clean_lines(text: str) -> str:
    """A text of several lines as a person may safely be shown it (a terminal or a page):
    each line without control characters (ESC starts a terminal's command) or format
    characters (a bidi override shows the text in another order than it is), tabs as
    spaces, trailing spaces and more than one blank line in a row dropped; indentation
    kept, unlike `clean_field`."""
    lines = [_CONTROL_RUN.sub("", drop_format_chars(line.expandtabs(4))).rstrip()
             for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines).strip("\n"))


def has_thai_digits(s: str) -> bool:
    return any(ch in THAI_DIGITS for ch in s)


# Full names, the short spoken forms, the dotted abbreviations, and the undotted
# abbreviations. The abbreviations are written with dots and an optional space after
# each dot; `_abbrev_pattern` turns "ธ.ค." into a regex that also accepts "ธ. ค." and
# "ธ.ค" (the last dot is often lost at a line end).
_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("มกราคม", "มกรา", "ม.ค.", "มค"),
    2: ("กุมภาพันธ์", "กุมภาพันธ", "กุมภา", "ก.พ.", "กพ"),
    3: ("มีนาคม", "มีนา", "มี.ค.", "มีค"),
    4: ("เมษายน", "เมษา", "เม.ย.", "เมย"),
    5: ("พฤษภาคม", "พฤษภา", "พ.ค.", "พค"),
    # มี.ย. is a typo for มิ.ย. in seed 000 ("๒๖ มี.ย. ๒๕๖๕"): no other month reads so.
    6: ("มิถุนายน", "มิถุนา", "มิ.ย.", "มี.ย.", "มิย"),
    7: ("กรกฎาคม", "กรกฏาคม", "กรกฎา", "ก.ค.", "กค"),
    8: ("สิงหาคม", "สิงหา", "ส.ค.", "สค"),
    9: ("กันยายน", "กันยา", "ก.ย.", "กย"),
    10: ("ตุลาคม", "ตุลา", "ต.ค.", "ตค"),
    11: ("พฤศจิกายน", "พฤศจิกา", "พ.ย.", "พย"),
    12: ("ธันวาคม", "ธันวา", "ธ.ค.", "ธค"),
}


def _squash(name: str) -> str:
    return re.sub(r"[\s.]", "", name)


_MONTH_BY_KEY: dict[str, int] = {}
for _number, _names in _MONTHS.items():
    for _name in _names:
        _MONTH_BY_KEY.setdefault(_squash(_name), _number)


def month_number(name: str) -> int | None:
    """1-12 for a Thai month name in any of the forms above, else None."""
    return _MONTH_BY_KEY.get(_squash(name.strip()))


def _name_pattern(name: str) -> str:
    if "." not in name:
        return re.escape(name)
    parts = [re.escape(p) for p in name.split(".") if p]
    # "ธ.ค." -> ธ\.\s?ค\.? : dots required between letters, the final one optional.
    return r"\.\s?".join(parts) + r"\.?"


# Longest first, so that "มีนาคม" wins over "มีนา" and "มิ.ย." over "มิย".
_ALL_NAMES = sorted(
    {name for names in _MONTHS.values() for name in names}, key=len, reverse=True
)
MONTH_PATTERN = "(?:" + "|".join(_name_pattern(n) for n in _ALL_NAMES) + ")"


def be_to_ce(year_be: int) -> int:
    return year_be - BE_OFFSET


def ce_to_be(year_ce: int) -> int:
    return year_ce + BE_OFFSET


def expand_year(year: int, digits: int) -> int | None:
    """The common-era year for a year as written on a Thai letter, or None.

    Two digits are a Buddhist-era year of the 2500s (๖๗ -> 2567 BE -> 2024 CE), the
    way letters and receive stamps abbreviate it. Four digits from 2400 are Buddhist
    era; four digits from 1900 to 2299 are already common era (a letter typed with
    "2024" is rare but not wrong). Anything else is not a year we can read.
    """
    if digits == 2:
        return be_to_ce(2500 + year)
    if digits == 4:
        if 2400 <= year <= 2799:
            return be_to_ce(year)
        if 1900 <= year <= 2299:
            return year
    return None


# Thai fonts made for Windows (Tahoma, Angsana, TH Sarabun as Word embeds it) draw the
# marks that must shift left or down around tall consonants (ป, ฝ, ฟ, ฬ) and the tail-less
# ญ/ฐ as Private Use Area glyphs, and a PDF's text layer hands those code points back.
# The same table is in libthai and Pango's Thai shaper fallback.
# Thai's marks above and below a letter (vowels, tone marks, signs): drawn over the
# letter before them, never a cluster's start.
THAI_MARKS = "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
THAI_PUA = {
    0xF700: "\u0e10", 0xF701: "\u0e34", 0xF702: "\u0e35", 0xF703: "\u0e36", 0xF704: "\u0e37",
    0xF705: "\u0e48", 0xF706: "\u0e49", 0xF707: "\u0e4a", 0xF708: "\u0e4b", 0xF709: "\u0e4c",
    0xF70A: "\u0e48", 0xF70B: "\u0e49", 0xF70C: "\u0e4a", 0xF70D: "\u0e4b", 0xF70E: "\u0e4c",
    0xF70F: "\u0e0d", 0xF710: "\u0e31", 0xF711: "\u0e4d", 0xF712: "\u0e47", 0xF713: "\u0e48",
    0xF714: "\u0e49", 0xF715: "\u0e4a", 0xF716: "\u0e4b", 0xF717: "\u0e4c", 0xF718: "\u0e38",
    0xF719: "\u0e39", 0xF71A: "\u0e3a",
}
# A PDF made with HarfBuzz shaping (fpdf2, some LibreOffice exports) draws SARA AM (ำ)
# as two glyphs and maps only one back to a character; the other reads as a stray
# placeholder ("ผู้อำ5นวยการ", "น้ำ#$ท่วม"): the code of a glyph the font's ToUnicode
# map leaves out, read as the character of that code. The subset numbers glyphs in
# order of use, so the code is one per file and stands after every ำ of the file, inside
# a word and at its end ("การระบายน้ำ$%" before a space or the line's end).
# Nothing is ever written between ำ and the next letter of the same word, so ASCII
# digits or symbols stuck there are the artefact, except a lone hyphen ("ทำ-ไม"). At a
# word's end the run is dropped only up to a code the same text shows as a stray inside
# a word, or one glued after ำ at least twice: "น้ำ 2 ลิตร" (spaced), "ทำ." or "(ประจำ)"
# once, are text.
_STRAY_CLASS = "[0-9!-/:-@\\[-`{-~]"
_STRAY_AFTER_AM = re.compile(r"(?<=\u0e33)" + _STRAY_CLASS + r"{1,3}(?=[\u0e01-\u0e2e\u0e40-\u0e44])")
_RUN_AFTER_AM = re.compile(r"(?<=\u0e33)(?P<run>" + _STRAY_CLASS + r"{1,3})(?P<next>[\u0e01-\u0e2e\u0e40-\u0e44]|(?=\s|$)|)")
# Punctuation that real text puts right after a word: one of these after ำ twice is
# still not evidence of a placeholder.
_WORD_END_PUNCTUATION = set(".,;:!?)]}>\"'-/")


def stray_codes(text: str) -> frozenset[str]:
    """The characters that stand for the unmapped half of ำ in `text` (one PDF's text
    layer): the last of a run glued inside a word, or one glued after ำ at least twice."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for m in _RUN_AFTER_AM.finditer(text):
        run = m["run"]
        if m["next"] and run.rstrip("-"):
            found.add(run.rstrip("-")[-1])
        counts[run[-1]] = counts.get(run[-1], 0) + 1
    found.update(c for c, n in counts.items() if n >= 2 and c not in _WORD_END_PUNCTUATION)
    return frozenset(found)


def _drop_strays(line: str, codes: frozenset[str]) -> str:
    def repair(m: re.Match) -> str:
        run = m["run"]
        cut = max((run.rfind(c) for c in codes), default=-1)
        if cut >= 0:
            return run[cut + 1:] + m["next"]
        if m["next"] and run != "-":
            # Inside a word and no code known: the artefact, but a hyphen before the
            # next letter is the writer's ("ทำ-ไม").
            return ("-" if run.endswith("-") else "") + m["next"]
        return m[0]

    return _RUN_AFTER_AM.sub(repair, line) if "\u0e33" in line else line


# LibreOffice draws ำ (SARA AM) as two glyphs, the second that of า (SARA AA), and its
# text layer hands the second one back too: as "า" ("สำานัก") when the font subset maps
# that glyph, or, when it does not, as its glyph code, a control character, both there
# and wherever า is drawn alone later in the file ("สำ\x03นักง\x03น", "ลับม\x03ก"). ำ is
# never followed by า in Thai, and a control character right after ำ says which code
# stands for า in the whole file.
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f]"
_CONTROL_AFTER_AM = re.compile("\u0e33(" + _CONTROL + ")")


def repair_sara_am(texts: list[str]) -> list[str]:
    """The pages of one PDF with the second half of each ำ dropped, and the code that
    stood for it read as า wherever it stands alone."""
    codes = {code for text in texts for code in _CONTROL_AFTER_AM.findall(text)}
    repaired = []
    for text in texts:
        text = text.replace("\u0e33\u0e32", "\u0e33")
        for code in codes:
            text = text.replace("\u0e33" + code, "\u0e33").replace(code, "\u0e32")
        repaired.append(text)
    return repaired


# HarfBuzz also positions a tone mark on a tall consonant (ป, ฝ, ฟ, ฬ) as a glyph of
# its own, and extractors then see a gap: "ป้ องกัน". Such a space is dropped only when
# the dictionary reads the joined text as one word across it ("ที่ กท" stays apart).
_SPACE_AFTER_TALL_MARK = re.compile(r"[ปฝฟฬ][\u0e31\u0e34-\u0e37\u0e47]?[\u0e48-\u0e4c](?P<gap> )(?=[\u0e01-\u0e4e])")


class _WordsStartingAt:
    """PyThaiNLP's word list in the one shape its newmm tokenizer asks of a dictionary:
    the words that begin at a position of a text (`prefixes`, as its Trie answers).

    Its own Trie holds a Python object for each letter of each of its 62,000 words:
    ~65 MiB, kept by every process that once broke a line of Thai into words (the
    stamping child for a unit's name too long for one line, the DATA-check workers and
    the pipeline for a page whose tone marks were read spaced). The word list it is
    built from is a frozenset PyThaiNLP keeps anyway: each length a word can have is
    looked up there instead. The same words, in the same order (tests/test_thai_text.py)."""

    def __init__(self, words: frozenset[str]):
        self.words = words
        self.lengths = sorted({len(word) for word in words})

    def prefixes(self, text: str, start: int = 0) -> list[str]:
        room = len(text) - start
        return [text[start:start + n] for n in self.lengths if n <= room and text[start:start + n] in self.words]

    def __len__(self) -> int:
        return len(self.words)


@functools.lru_cache(maxsize=1)
def _dictionary() -> _WordsStartingAt:
    from pythainlp.corpus import thai_words

    return _WordsStartingAt(thai_words())


def thai_words_in(text: str) -> list[str]:
    """`text` cut into words (spaces kept as pieces of their own) by PyThaiNLP's newmm
    over its own word list, without its 65 MiB Trie (`_WordsStartingAt`)."""
    from pythainlp.tokenize import word_tokenize

    return word_tokenize(text, engine="newmm", keep_whitespace=True, custom_dict=_dictionary())


def _rejoin_tall_marks(line: str) -> str:
    if not _SPACE_AFTER_TALL_MARK.search(line):
        return line
    words = _dictionary().words
    while True:
        for m in _SPACE_AFTER_TALL_MARK.finditer(line):
            gap = m.start("gap")
            joined = line[:gap] + line[gap + 1:]
            at = 0
            for token in thai_words_in(joined):
                if at < gap < at + len(token):
                    break
                at += len(token)
            else:
                continue
            if token in words:
                line = joined
                break
        else:
            return line


def normalise_extracted(text: str) -> str:
    """Thai text read from a PDF text layer, as the author typed it: PUA glyphs mapped
    back, the stray placeholder of a split ำ dropped, marks in Unicode order (PyThaiNLP's
    normalize: nikhahit + tone + sara aa -> tone + ำ, tone before vowel -> vowel before
    tone). Line structure is kept: the letter's header is read line by line."""
    lines = extracted_lines(text)
    codes = stray_codes(text)
    return "\n".join(normalise_extracted_line(line, codes) for line in lines)


_PUA = re.compile("[\uf700-\uf71a]")


def without_pua(text: str) -> str:
    """`text` with THAI_PUA's glyphs as the marks they show. Searched for first: a
    `translate` looks up each character in the table (0.24 us each, 24 us for a
    100-character Thai line), and most texts have none."""
    return text.translate(THAI_PUA) if _PUA.search(text) else text


def extracted_lines(text: str) -> list[str]:
    """The lines `normalise_extracted` normalises one by one (PUA glyphs mapped)."""
    return without_pua(text).split("\n")


def normalise_extracted_line(line: str, codes: frozenset[str] | None = None) -> str:
    """One of `extracted_lines`, as `normalise_extracted` gives it back; `codes`: the
    text's `stray_codes` (the line's own when not given)."""
    line = _rejoin_tall_marks(_drop_strays(line, stray_codes(line) if codes is None else codes))
    lead = line[: len(line) - len(line.lstrip())]
    return lead + thai_normalize(line) if line.strip() else line


# What typed text may need normalising for: the old-style ำ (nikhahit + sara aa, "คณะทํางาน"
# as older keyboards and fonts write it), marks repeated or out of order (two or more
# combining marks in a row), format characters, runs of spaces.
_NEEDS_NORMALIZE = re.compile(f"[{THAI_MARKS}]{{2,}}|\u0e4d|  |\t|" + _FORMAT_RUN.pattern)


def normalise_typed(text: str) -> str:
    """Thai text a person typed (a mail subject or body), in the form the register
    stores and searches: PyThaiNLP's normalize, line by line as `normalise_extracted`
    (ํา -> ำ, marks in Unicode order, repeated marks and format characters dropped,
    spaces squeezed), with each line's indent and the line structure kept."""
    if not text or text.isascii() or not _NEEDS_NORMALIZE.search(text):
        return text
    out = []
    for line in text.split("\n"):
        lead = line[: len(line) - len(line.lstrip())]
        out.append(lead + thai_normalize(drop_format_chars(line)) if line.strip() else line)
    return "\n".join(out)


def thai_normalize(text: str) -> str:
    """PyThaiNLP's `normalize`, the same text out for every text in (`_thai_normalize`)."""
    return _thai_normalize()(text)


# Texts PyThaiNLP's own documentation normalises, one for each of its steps: the guarded
# normalize below is used only if it gives what PyThaiNLP gives for every one of them.
_PROBES = ("เเปลก", "นานาาา", "ดีีีี", "ก้ำ", "กํ้า", "ก่่่า", "ก ่ ่า", "พ ุ่มดอกไม้", "๊ก", "คำ ่ที่สอง",
           "สวัสดี\u200bครับ", "ภาษา\u200cไทย", "ก    ข \n\n ค", "ฤๅษี ทๅ", "กํ่า", "เ เ")


@functools.cache
def _thai_normalize():
    """PyThaiNLP's normalize with its costliest steps run only where they can change the
    text. Its "remove repeated vowels" is 26 regex substitutions, one per vowel or sign
    (`(X[ ]*)+X` -> X), and then a substitution that calls back into Python for every
    tone mark: ~1.2 ms for a page of Thai (2,000 characters), the largest piece of the
    pipeline's rules. One search for any of those characters repeated, and one for two
    tone marks in a row, find nothing in nearly every text and skip them: ~0.23 ms. The
    other steps are PyThaiNLP's own functions, in its order. Should PyThaiNLP's steps
    differ from what this was written for (its tables, or an answer to one of the
    probes), its normalize is used as it is (tests/test_thai_text.py compares them on
    random and real text)."""
    # Imported when first needed: PyThaiNLP takes ~0.25 s to import.
    import importlib

    from pythainlp.util import (normalize, remove_dangling, remove_dup_spaces, remove_spaces_before_marks,
                                remove_zw, reorder_vowels)

    steps = importlib.import_module("pythainlp.util.normalize")  # the module: the package's name is the function
    pairs = getattr(steps, "_NOREPEAT_PAIRS", None)
    tones, last = getattr(steps, "_RE_TONEMARKS", None), getattr(steps, "_last_char", None)
    if not (pairs and isinstance(tones, re.Pattern) and callable(last)
            and all(pattern == f"({repl}[ ]*)+{repl}" for pattern, repl in pairs)
            and tones.pattern.startswith("[") and tones.pattern.endswith("]+")):
        return normalize
    repeats = [(re.compile(pattern), repl) for pattern, repl in pairs]
    # A vowel or sign, spaces or none, the same again: what every one of those patterns
    # needs to match at all.
    any_repeat = re.compile("([" + re.escape("".join(repl for _, repl in pairs)) + "]) *\\1")
    two_tones = re.compile(tones.pattern[:-1] + "{2}")

    def guarded(text: str) -> str:
        text = reorder_vowels(remove_spaces_before_marks(remove_dup_spaces(remove_zw(text))))
        if any_repeat.search(text):
            for pattern, repl in repeats:
                text = pattern.sub(repl, text)
        if two_tones.search(text):
            text = tones.sub(last, text)
        return remove_dangling(text)

    if any(guarded(probe) != normalize(probe) for probe in _PROBES):
        return normalize
    return guarded
