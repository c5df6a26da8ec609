"""Urgency (ด่วน) and classification (ลับ) markings: the one place that decides how
secret a letter is.

`read_classification(mail)` is the single source of truth. Intake (to refuse ลับที่สุด
at DATA, gateway/secrecy/markings.py), the S/MIME path and fact extraction
(rules/extract.py) all call it; `SECRECY_HEADERS` is the only list of headers that can
carry a classification. A letter is classified if a person reading it would say it is,
whatever the sender's client did, so every text is normalised first (`normalise_thai`):
NFC, invisible format characters (zero-width space, joiners, BOM, bidi marks) removed,
tone marks typed before their vowel put back in the order that renders the same
(PyThaiNLP's `normalize`), and spaces inside a marking (`ลับ ที่สุด`) ignored.

A marking stands alone: a line of its own anywhere in a letter, the start of one of the
first or last lines of a page (where the regulation prints it, top and bottom of each
page), in brackets, or a word of its own in a subject line. ลับ glued to Thai letters
before it is part of another word (ความลับ, กลับ, สลับ) and never a marking; glued after,
only เรื่อง/ด่วน/ที่ may follow it (`ลับเรื่อง ...`), so ลับแล and ลับมีด stay words; the idiom
`ลับ ๆ ล่อ ๆ` (furtively) is not a marking; a marking in quotation marks ("ชั้น “ลับ”")
is a mention in running text.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import functools
import html
import itertools
import quopri
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

from rules.model import (EMBEDDED_NOT_READ, NOT_READ_IN_TIME, SCAN_NOT_READ, ParsedMail, Secrecy, Urgency,
                         reading_goes_on)
from rules.names import codec_of, name_from_bytes
from rules.thai_text import THAI_MARKS, THAI_PUA, thai_normalize

SECRECY_RANK: dict[str, int] = {"none": 0, "confidential": 1, "secret": 2, "top_secret": 3}
URGENCY_RANK: dict[str, int] = {"normal": 0, "urgent": 1, "very_urgent": 2, "most_urgent": 3}

# Every header any client or exchange system is known to put a classification in.
# Subject and Keywords carry Thai text and are read like a subject line; the others
# carry a label (English words, e-CMS codes 001-004, or Thai) and are read as a label.
SECRECY_HEADERS: tuple[str, ...] = (
    "Subject",
    "Keywords",
    "X-Secrecy",
    "X-Saraban-Secrecy",
    "X-Classification",  # e-CMS codes: 001 ปกติ, 002 ลับ, 003 ลับมาก, 004 ลับที่สุด
    "X-Saraban-Classification",
    "Classification",
    "X-Security-Classification",
    "Security-Classification",
    "X-Secret-Level",
    "X-Secrecy-Level",
    "X-Confidentiality",
    "X-Protective-Marking",  # e.g. "VER=2018.1, NS=gov.au, SEC=SECRET"
    "SIO-Label",  # RFC 7444 security labels
    "Sensitivity",  # Outlook: Personal / Private / Company-Confidential
    "X-Sensitivity",
    "msip_labels",  # Microsoft Purview sensitivity labels: "...Name=Confidential;..."
)
_TEXT_HEADERS = {"subject", "keywords"}

_SECRECY_WORDS = {"ลับที่สุด": "top_secret", "ลับมาก": "secret", "ลับ": "confidential"}
_URGENCY_WORDS = {"ด่วนที่สุด": "most_urgent", "ด่วนมาก": "very_urgent", "ด่วน": "urgent"}
# Each urgency in the words the register, its export and the folder copy's Subject print.
URGENCY_TH = {code: word for word, code in _URGENCY_WORDS.items()}
SECRECY_TH = {code: word for word, code in _SECRECY_WORDS.items()}

_THAI = "ก-๛"
_QUOTES_OPEN = "“\"'‘«"
_QUOTES_CLOSE = "”\"'’»"
_HSPACE = r"[ \t\u00a0]*"  # a typist's space between the syllables of one marking
# ... or a hyphen, a dash, an underscore or a middle dot: "ลับ-ที่สุด" reads ลับที่สุด
# (read ลับ until session 33: a letter to be refused was sealed instead).
_SYLLABLE_JOIN = "[ \t\u00a0\\-\u2010-\u2015_\u00b7]*"


# --------------------------------------------------------------------------- normalising

# Unicode's Default_Ignorable_Code_Point characters outside category Cf: drawn as
# nothing, so "ล\u034fับที่สุด" (a combining grapheme joiner) or a variation selector
# after ล shows as ลับที่สุด (DerivedCoreProperties.txt; Python's unicodedata has no
# such property).
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                        "\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")


def _is_invisible(ch: str) -> bool:
    # Cf: zero-width space/joiners, BOM, bidi controls, soft hyphen; none is visible.
    return unicodedata.category(ch) == "Cf" or bool(_IGNORABLE.match(ch))


# Neither ASCII nor the Thai block has a Cf character (Unicode 14), so only the other
# characters of a text are looked up: one C scan and a few category lookups, where a
# Python test of every character cost ~0.4 µs each (1.2 ms for a page of Thai).
_NOT_ASCII_OR_THAI = re.compile("[^\x00-\x7f\u0e00-\u0e7f]")


def _without_invisible(text: str) -> str:
    invisible = {ord(ch): None for ch in set(_NOT_ASCII_OR_THAI.findall(text)) if _is_invisible(ch)}
    return text.translate(invisible) if invisible else text


# A right-to-left override (U+202E) shows what follows it, to its pop (U+202C) or the
# line's end, in reverse: "\u202eกามบัล" is drawn ลับมาก, each base letter keeping its
# marks (UAX #9 rule L3), and was read as กามบัล once the control was dropped.
_OVERRIDE_RTL = re.compile("\u202e([^\u202c\n\r\u2028\u2029]*)")


def _drawn_reversed(m: re.Match) -> str:
    clusters: list[str] = []
    for ch in m.group(1):
        if clusters and unicodedata.category(ch).startswith("M"):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return "".join(reversed(clusters))


# Lao's letters and marks stand where Thai's do, 0x80 further on, and many are drawn
# alike: "ล\u0eb1บมาก" (Lao's MAI KAN for Thai's MAI HAN-AKAT) shows ลับมาก, and ລັບມາກ
# is Lao's own word for it. Each is read as its Thai counterpart (U+0EBB-0EBD and the
# Khmu and HO letters have none). Until session 42 either was read as no marking.
_LAO_AS_THAI = {cp: cp - 0x80 for cp in range(0x0E81, 0x0EE0)
                if unicodedata.name(chr(cp), "") and unicodedata.name(chr(cp - 0x80), "")}
_AS_THAI = {**THAI_PUA, **_LAO_AS_THAI}
_PUA_OR_LAO = re.compile("[\uf700-\uf71a\u0e81-\u0edf]")


def _visible(text: str) -> str:
    """NFC, no invisible characters, the Thai marks Windows fonts draw as Private Use
    Area glyphs as the marks they show (a Word letter's text layer reads "ลับที\uf70aสุด"
    for ลับที่สุด), text under a right-to-left override in the order it is drawn, one
    kind of line break and of space."""
    text = unicodedata.normalize("NFC", text)
    if not text.isascii():
        if "\u202e" in text:
            text = _OVERRIDE_RTL.sub(_drawn_reversed, text)
        text = _without_invisible(text)
        if _PUA_OR_LAO.search(text):  # seldom: a `translate` costs 0.24 us a character
            text = text.translate(_AS_THAI)
        # A thin, em or ideographic space between ลับ and ที่สุด is a space to a reader
        # (category Zs), and a line or paragraph separator a line break.
        if _WIDE_SPACE.search(text):
            text = _WIDE_SPACE.sub(lambda space: _SPACES_WIDE[space[0]], text)
        text = _OTHER_SPACE.sub(" ", text).replace("\u2028", "\n").replace("\u2029", "\n")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# The braille pattern blank (U+2800) is drawn as a space though it is a symbol (So):
# "ลับ\u2800มาก" shows ลับ มาก (until session 36 it read as no marking).
_OTHER_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u2800\u3000]")
# A blank wider than a space is as many spaces as it is wide (a space being about a
# quarter of an em): an em space between a head line's columns (`_cells`: three spaces
# and more) sets them apart as a tab does. Until session 42 each was one space, and
# "ที่ กท ๐๔๐๗\u2003\u2003ลับที่สุด\u2003\u2003สำนัก..." read as one line, no marking.
_SPACES_WIDE = {"\u2000": "  ", "\u2001": "    ", "\u2002": "  ", "\u2003": "    ", "\u2007": "  ",
                "\u2800": "  ", "\u3000": "    "}
_WIDE_SPACE = re.compile(f"[{''.join(_SPACES_WIDE)}]")


def _thai_order(text: str) -> str:
    if "ล" in text or "ด" in text:  # every marking starts with ลับ or ด่วน
        text = thai_normalize(text)
    return text


def normalise_thai(text: str) -> str:
    """Text as a reader sees it: NFC, no invisible characters, Thai marks reordered.

    Lines are kept (a marking is read by line); runs of spaces become one."""
    if not text:
        return ""
    if len(text) > _KEPT_LENGTH:
        return _normalised(text)
    return _normalised_kept(text)


def _normalised(text: str) -> str:
    return _thai_order(_visible(text))


# A letter's subject is read for its secrecy and its urgency, and its header block for
# both again: the same short text normalised six times a letter (PyThaiNLP's normalize,
# ~1.5 µs a character). Short texts' results are kept; a long header value (a hostile
# 1 MB subject) is normalised each time rather than held.
_KEPT_LENGTH = 2048
_normalised_kept = functools.lru_cache(maxsize=512)(_normalised)


# PyThaiNLP's normalize removes spaces and repeated vowels and marks, and reorders
# vowels and marks, but never adds, removes or reorders a consonant (ฤ and ฦ counted as
# ones here) and never makes a ั or a ่ that was not there. So a text without ล..ั..บ
# or ด..่..ว..น (only non-consonants at the dots) cannot hold ลับ or ด่วน once
# normalised, nor any marking: its normalising, ~1.5 µs a character (5 ms for a page
# of Thai), is not spent on it.
_MAY_HOLD_MARKING = re.compile("ล[^ก-ฮ]*\u0e31[^ก-ฮ]*บ|ด[^ก-ฮ]*\u0e48[^ก-ฮ]*ว[^ก-ฮ]*น")


# --------------------------------------------------------------------------- tokens

def _word_pattern(word: str) -> str:
    """ลับที่สุด -> ลับ\\s*ที่\\s*สุด: a space between syllables is still one marking."""
    syllables = {"ลับที่สุด": ("ลับ", "ที่", "สุด"), "ลับมาก": ("ลับ", "มาก"),
                 "ด่วนที่สุด": ("ด่วน", "ที่", "สุด"), "ด่วนมาก": ("ด่วน", "มาก")}
    return _SYLLABLE_JOIN.join(syllables.get(word, (word,)))


# Thai written straight after a marking that still leaves it a marking: the subject
# line "ลับเรื่อง ..." and "ลับด่วนที่สุด". Anything else glued on (ลับแล, ลับมีด) is a word.
_GLUED_AFTER = "เรื่อง|ด่วน|ที่(?=[ \t])|ลับ"


def _token(words: dict[str, str]) -> str:
    alternatives = "|".join(_word_pattern(w) for w in sorted(words, key=len, reverse=True))
    return (
        rf"(?<![{_THAI}{_QUOTES_OPEN}])"
        rf"(?P<word>{alternatives})"
        rf"(?:(?={_GLUED_AFTER})|(?![{_THAI}{_QUOTES_CLOSE}]))"
        rf"(?!{_HSPACE}ๆ)"  # ลับ ๆ ล่อ ๆ: "furtively", not a marking
    )


_SECRECY_TOKEN = re.compile(_token(_SECRECY_WORDS))
_URGENCY_TOKEN = re.compile(_token(_URGENCY_WORDS))
_ANY_MARKING = "|".join(_word_pattern(w) for w in sorted({**_SECRECY_WORDS, **_URGENCY_WORDS},
                                                          key=len, reverse=True))
# A line made only of markings ("ลับ ด่วนที่สุด"), whatever a typist decorates them with:
# brackets of any script, dashes, stars, bullets, quotes, "=ลับที่สุด=", "ลับที่สุด:"
# (any character that is neither a letter, a digit nor Thai), and the word ชั้น (class)
# or ชั้นความลับ before one ("(ชั้นลับที่สุด)"). Its markings are read as words alone.
_DECORATION = r"(?:(?![\u0e00-\u0e7f])[\W_])"
_CLASS_WORD = rf"(?:ชั้น(?:{_HSPACE}ความลับ)?{_DECORATION}*)?"
_MARKING_LINE = re.compile(rf"^{_DECORATION}*(?:{_CLASS_WORD}(?:{_ANY_MARKING}){_DECORATION}*)+$")
_MARKING_WORD = re.compile(_ANY_MARKING)
_CLASS_WORDS = re.compile(f"ชั้น(?:{_HSPACE}ความลับ)?")
_BRACKETED = re.compile(rf"[\[\(（【<{{［「『〔《〈⟨]\s*(?P<inner>(?:(?:{_ANY_MARKING})[\s,/]*)+)\s*"
                        rf"[\]\)）】>}}］」』〕》〉⟩]")
_LINE_START = re.compile(rf"^(?:(?:{_ANY_MARKING})(?=\s|{_GLUED_AFTER})(?!{_HSPACE}ๆ)\s*)+")
# The marking right-aligned on a line of the head or foot: "สำนักงานเขตบางรัก    ด่วนที่สุด"
# (a typed letter's sender block and its urgency; text extraction keeps one space of the
# gap between them). Whitespace before it, nothing after it.
_LINE_END = re.compile(rf"(?<=\s)(?:(?:{_ANY_MARKING})\s*)+$")
_LINE_END_REACH = 200  # characters: the markings a line ends with are fewer
# A marking after its class's label, as e-document systems print both in one head line:
# "ชั้นความลับ: ลับที่สุด   ชั้นความเร็ว: ด่วนที่สุด", and "(ชั้นลับที่สุด)" in a Subject.
# The label starts a word (ชั้น after Thai is prose: "เอกสารชั้นลับ"); the next label may
# follow with no space (a producer that places fields by moving, not by spaces); until session 33
# a label-first head line, where the marking is neither alone, first nor last, read none.
_LABELLED = re.compile(
    rf"(?<![{_THAI}])ชั้น(?:{_HSPACE}ความ{_HSPACE}(?:ลับ|เร็ว))?{_DECORATION}*"  # (white space is decoration)
    rf"(?P<inner>(?:{_ANY_MARKING}))(?:(?={_GLUED_AFTER}|ชั้น)|(?![{_THAI}{_QUOTES_CLOSE}]))(?!{_HSPACE}ๆ)")


# A Subject that opens with its markings in quotes: `"ลับมาก" แผนรักษาความปลอดภัย`,
# “ด่วนที่สุด” ขอเชิญประชุม, after any Re:/Fwd: a reply or a forward puts before them. A
# quoted marking in running text is a mention (`แจ้งการใช้คำว่า "ลับ" ในหนังสือ`), but one
# that opens the Subject is where every clerk reads the letter's marking, and the letter
# was filed ordinary, a ลับที่สุด one accepted (session 39's red team).
_REPLY_PREFIX = r"(?:(?:re|fw|fwd|tr|aw|wg|sv|vs|ตอบ|ตอบกลับ|ส่งต่อ)\s*(?:\[\d+\])?\s*:\s*)*"
_ANY_QUOTE = "\"'“”‘’«»„‟‹›`"
_QUOTED_OPENING = re.compile(
    rf"^\s*{_REPLY_PREFIX}(?:[{_ANY_QUOTE}]\s*(?P<inner>(?:(?:{_ANY_MARKING})[\s,/]*)+)\s*[{_ANY_QUOTE}]\s*)",
    re.IGNORECASE)


def _quoted_opening(text: str, token: re.Pattern, words: dict[str, str]) -> list[str]:
    m = _QUOTED_OPENING.match(text)
    return _tokens_in(m["inner"], token, words) if m else []


def _squash(word: str) -> str:
    return re.sub(_SYLLABLE_JOIN, "", word)


def _tokens_in(s: str, token: re.Pattern, words: dict[str, str]) -> list[str]:
    return [words[_squash(m["word"])] for m in token.finditer(s)]


def _best(values: Iterable[str], rank: dict[str, int], default: str) -> str:
    return max(values, key=lambda v: rank[v], default=default)


# --------------------------------------------------------------------------- header text

# The text of an encoded word: anything but `?` and white space, or ASCII with white space
# in it (a space, a tab, a folded line), which RFC 2047 forbids and Dovecot decodes in a
# base64 word: `=?utf-8?b?4Lil4Lix 4Lia...?=` was ลับมาก in the clerk's folder and no
# marking here (red team of 7 Dec 2026). Thai inside a broken word stays Thai.
# Dovecot also takes white space around or inside the charset and after the encoding
# letter (`=? utf-8?b?`, `=?utf-8 ?b?`, `?b ?`): ASCII after the charset's first token is
# skipped as the RFC 2231 language is (`=?utf-8*th?B?`).
_ENCODED_WORD = re.compile(r"=\?[ \t]*(?P<charset>[^?*\s]+)(?:[*\t ][\t\x20-\x3e\x40-\x7e]*)?"
                           r"\?(?P<enc>[bBqQ])[ \t]*\?"
                           r"(?P<text>[^?\s]*|[\t\x20-\x3e\x40-\x7e]+)\?=")
# The URL-safe base64 alphabet (RFC 4648 5), which Dovecot decodes in a `B` word and
# Python's decoder drops as not base64.
_URL_SAFE = str.maketrans("-_", "+/")
_SPACED = re.compile(r"[ \t]")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")


# WHATWG's labels for Thai that Python does not know: Thunderbird (encoding_rs) decodes
# `=?dos-874?...?=` as Thai, and Python's lookup would not.
_THAI_LABELS = {"tis620": "tis-620", "x-windows-874": "cp874", "windows-874": "cp874", "dos-874": "cp874",
                "iso885911": "iso8859-11", "x-cp874": "cp874", "ibm874": "cp874", "ibm-874": "cp874"}


def _codec(charset: str) -> str:
    """Python's codec for a MIME charset label; "" for one it does not know."""
    name = charset.strip().lower()
    return codec_of(_THAI_LABELS.get(name, name)) or ""


def _decode_run(data: bytes | bytearray, charset: str) -> str:
    # An unknown charset's bytes are read as a raw 8-bit header is: UTF-8 if they are,
    # else Windows-874. Read as UTF-8 alone, `=?x-thai?Q?=C5=D1=BA...?=` was U+FFFDs and
    # its ลับมาก no marking, while a Thai reader's client falls back on Thai. A wrong
    # label (UTF-8 bytes called tis-620, Windows-874 called utf-8) is read the same way:
    # rules/names.py.
    return name_from_bytes(bytes(data), charset or None)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a byte the stdlib kept as a surrogate


def raw_header_text(value: str) -> str:
    """A header that arrived as raw 8-bit bytes (the stdlib keeps them as surrogates):
    UTF-8 if it is, else Thai Windows-874, the only other charset Thai senders use."""
    if value.isascii() or not _ESCAPED_BYTE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp874", "replace")


def decoded_past_padding(text: str) -> bytes | None:
    """Base64 that goes on after its padding, every padded chunk decoded in turn and
    joined (what an encoder of chunks one by one meant, and what a client that decodes
    on shows; Python stops at the first padding); None where a chunk is no base64. A
    split at the padding runs, not a search for "[^=]*=+" chunks: that one rescanned the
    tail after the last padding from every position (20 MB took over ten minutes)."""
    out = []
    for body in re.split(r"=+", re.sub(r"[^A-Za-z0-9+/=]", "", text)):
        if not body:
            continue
        try:
            out.append(base64.b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
    return b"".join(out)


def decode_header_text(value: str | None) -> str:
    """A header value as text: RFC 2047 words decoded, including the RFC 2231 form with
    a language (`=?utf-8*th?B?...?=`), unknown charsets read as UTF-8 else Windows-874, raw 8-bit UTF-8
    or Windows-874 accepted. Never raises."""
    if not value:
        return ""
    value = raw_header_text(str(value))
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1", value)  # RFC 2047 6.2: space between words goes

    def word_bytes(m: re.Match) -> bytes | None:
        text = m["text"]
        if _SPACED.search(text):
            if m["enc"] in "qQ":
                return None  # left as it is, as Dovecot leaves it
            text = _SPACED.sub("", text)
        try:
            if m["enc"] in "bB":
                text = text.translate(_URL_SAFE)
                # A word that goes on after its padding reads on, as its body would
                # (since session 41): Python stopped at the padding.
                if "=" in text.rstrip("="):
                    return decoded_past_padding(text)
                return base64.b64decode(text + "=" * (-len(text) % 4))
            return quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            return None

    # Adjacent words of one charset are decoded as one run of bytes: clients split a
    # long Thai subject into words in the middle of a character's three UTF-8 bytes
    # (RFC 2047 forbids it, mail clients show it whole), and a word decoded alone would
    # read U+FFFD there.
    # `run` grows in place: bytes + bytes copied the run for each word, O(n²) in the
    # words of a Subject of 65,000 of them.
    out: list[str] = []
    at, run, charset = 0, bytearray(), None
    for m in _ENCODED_WORD.finditer(value):
        data = word_bytes(m)
        joined = data is not None and m.start() == at and charset == _codec(m["charset"])
        if not joined and charset is not None:
            out.append(_decode_run(run, charset))
            run, charset = bytearray(), None
        out.append(value[at:m.start()])
        if data is None:
            out.append(m.group(0))
        else:
            run += data
            charset = _codec(m["charset"])
        at = m.end()
    if charset is not None:
        out.append(_decode_run(run, charset))
    out.append(value[at:])
    return "".join(out)


# --------------------------------------------------------------------------- labels

_LABEL_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"top[\s_\-]*secret|lab[\s_\-]*thi[\s_\-]*sut|lap[\s_\-]*thi[\s_\-]*sut"), "top_secret"),
    (re.compile(r"(?<![a-z])secret(?![a-z])|lab[\s_\-]*mak|lap[\s_\-]*mak"), "secret"),
    (re.compile(r"confidential|(?<![a-z])(?:lab|lap|restricted|classified)(?![a-z])"), "confidential"),
)
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_CODES = {"1": "none", "2": "confidential", "3": "secret", "4": "top_secret"}
_CODE = re.compile(r"\s*0{0,2}(?P<code>[1-4])\s*")  # the whole value: "004", "4"
_UNCLASSIFIED = re.compile(r"(?<![a-z])(?:unclassified|non[\s_\-]*classified|not[\s_\-]+classified)(?![a-z])")
_BRACKETED_EN = re.compile(r"[\[(]\s*(?P<label>top[\s_\-]*secret|secret|confidential)\s*[\])]")
_EN_LEVEL = {"secret": "secret", "confidential": "confidential"}
_LOOSE_SECRECY = re.compile("|".join(_word_pattern(w) for w in sorted(_SECRECY_WORDS, key=len, reverse=True)))


def secrecy_in_label(value: str) -> Secrecy:
    """A classification label as a header carries it: English words, e-CMS codes
    (002 ลับ, 003 ลับมาก, 004 ลับที่สุด), romanised or Thai words; the highest wins."""
    text = normalise_thai(decode_header_text(value))
    # A label is not prose: "ชั้นลับที่สุด" (class: top secret) is read too.
    found = [_SECRECY_WORDS[_squash(m.group(0))] for m in _LOOSE_SECRECY.finditer(text)]
    folded = unicodedata.normalize("NFKC", text).lower()
    folded_plain = _UNCLASSIFIED.sub(" ", folded)
    for pattern, level in _LABEL_PATTERNS:
        if pattern.search(folded_plain):
            found.append(level)
    if m := _CODE.fullmatch(folded.translate(_THAI_DIGITS)):  # "๐๐๔" is e-CMS's 004 in Thai digits
        found.append(_CODES[m["code"]])
    return _best(found, SECRECY_RANK, "none")  # type: ignore[return-value]


def urgency_in_header(value: str) -> Urgency:
    key = decode_header_text(value).strip().lower().replace("_", "-")
    named = {"urgent": "urgent", "very-urgent": "very_urgent", "most-urgent": "most_urgent"}
    if key in named:
        return named[key]  # type: ignore[return-value]
    return urgency_in_subject(value)


# --------------------------------------------------------------------------- subject

def secrecy_in_subject(s: str) -> Secrecy:
    """The classification marked in a subject line (standalone words anywhere, or an
    English label in brackets: "[TOP SECRET]")."""
    text = normalise_thai(decode_header_text(s))
    found = _tokens_in(text, _SECRECY_TOKEN, _SECRECY_WORDS)
    found += [w for m in _LABELLED.finditer(text) for w in _tokens_in(m["inner"], _SECRECY_TOKEN, _SECRECY_WORDS)]
    found += _quoted_opening(text, _SECRECY_TOKEN, _SECRECY_WORDS)
    for m in _BRACKETED_EN.finditer(unicodedata.normalize("NFKC", text).lower()):
        found.append("top_secret" if m["label"].startswith("top") else _EN_LEVEL[m["label"]])
    return _best(found, SECRECY_RANK, "none")  # type: ignore[return-value]


def urgency_in_subject(s: str) -> Urgency:
    text = normalise_thai(decode_header_text(s))
    found = _tokens_in(text, _URGENCY_TOKEN, _URGENCY_WORDS)
    found += [w for m in _LABELLED.finditer(text) for w in _tokens_in(m["inner"], _URGENCY_TOKEN, _URGENCY_WORDS)]
    found += _quoted_opening(text, _URGENCY_TOKEN, _URGENCY_WORDS)
    return _best(found, URGENCY_RANK, "normal")  # type: ignore[return-value]


def classify_secrecy_text(s: str) -> Secrecy:
    """Classification of a bare subject line; `none` if unmarked."""
    return secrecy_in_subject(s)


# --------------------------------------------------------------------------- letter text

TOP_LINES = 10  # the head of a page: markings, heading, ที่, วันที่
BOTTOM_LINES = 5  # the foot of a page, where the regulation repeats the marking


# A PDF's text layer as producers damage it, where a viewer still shows the marking.
# A glyph without Unicode reads as a control character or U+FFFD: Chromium (Skia) maps
# the ่ it draws over ี to <0000> ("ลับที\x00สุด" for ลับที่สุด, Sarabun and Noto Sans
# Thai), poppler's writer the า LibreOffice draws inside ำ to U+FFFD ("ลับม\ufffdก"), a
# font's own map to a Private Use Area code (those of Windows fonts' Thai marks are
# translated by `_visible` before this).
_UNKNOWN = "\x00-\x08\x0e-\x1f\x7f\ufffd\ue000-\uf8ff"
_UNKNOWN_GLYPH = re.compile(f"[{_UNKNOWN}]")
# What such a glyph may have been inside a marking: its vowels and tone mark, or a
# glyph of its own drawn for nothing (the second half of LibreOffice's ำ).
_MARKING_MARKS = ("", "\u0e31", "\u0e35", "\u0e48", "\u0e38", "\u0e32")
_MAX_UNKNOWN = 3  # where a marking may be: past it, garbage is not guessed at (6**3 readings)
_MARKING_REACH = 12  # characters from its ล or ด: ลับที่สุด and ด่วนที่สุด are 9
_MAX_GUESSED_LINES = 20  # a text's lines guessed at (`_line_readings`)
_SHORT_LINE = 40  # characters: a line of markings alone ("[ ลับที่สุด ด่วนที่สุด ]") is shorter
# A producer that places a mark by moving back (TJ offsets: LibreOffice and fpdf2 with
# Noto Looped Thai) reads with a gap at the mark: "ลั บมาก", "ลั บที ่ สุ ด", "ด่ วน".
# Closing the gaps on both sides of every mark reads what was printed (PyThaiNLP's
# normalize would drop a mark after a space instead).
# An unknown glyph is most often a mark (above), so it closes gaps as one.
_MARK = f"{THAI_MARKS}{_UNKNOWN}"
# Each run of spaces is tried from its first (`(?<! )`): tried from every space, a long
# run was searched to its end from each (20,000 spaces: 4-12 s a line).
_GAP_AT_MARK = re.compile(f"(?<=[{_MARK}]) +(?=[\u0e01-\u0e4e{_MARK}])|(?<! ) +(?=[{_MARK}])")
# ล ... บ or ด ... ว ... น with no consonant between: where a damaged marking may be.
_MAY_HOLD_DAMAGED = re.compile("ล[^ก-ฮ]{0,4}บ|ด[^ก-ฮ]{0,4}ว[^ก-ฮ]{0,3}น")
# The same with a gap or an unknown glyph inside: a text whose ลับ or ด่วน itself is
# damaged ("ลั บ", "ด\x00วน"). A text with neither these nor an intact ลับ or ด่วน holds
# no marking, damaged or not (`_MAY_HOLD_MARKING`), and is not normalised.
_DAMAGE = f" {_UNKNOWN}"
_DAMAGED_START = re.compile(
    f"ล[^ก-ฮ]{{0,3}}[{_DAMAGE}][^ก-ฮ]{{0,3}}บ"
    f"|ด[^ก-ฮ]{{0,3}}[{_DAMAGE}][^ก-ฮ]{{0,3}}ว[^ก-ฮ]{{0,3}}น|ด[^ก-ฮ]{{0,3}}ว[^ก-ฮ]{{0,3}}[{_DAMAGE}][^ก-ฮ]{{0,3}}น")


# A run of three or more short Thai clusters one space apart.
_LETTER_SPACED = re.compile("(?<![\u0e01-\u0e4e])(?:[\u0e01-\u0e4e]{1,3} ){2,}[\u0e01-\u0e4e]{1,3}(?![\u0e01-\u0e4e])")


def _may_hold_marking(text: str) -> bool:
    """Whether `text` may hold a marking once normalised or with its damage undone."""
    return bool(_MAY_HOLD_MARKING.search(text) or _DAMAGED_START.search(text))


def may_hold_marking(text: str) -> bool:
    """Whether text as a file holds it (not yet as a reader sees it) may hold a marking:
    what a reader of a page asks before it spends more on a line."""
    if "ล" not in text and "ด" not in text and "\u0ea5" not in text and "\u0e94" not in text:
        return False  # every marking has one, Thai or Lao (`_LAO_AS_THAI`): most lines do not
    return _may_hold_marking(_visible(text))


def _damage_undone(line: str, guess: bool = True) -> tuple[list[str], bool]:
    """A line (before Thai normalising) as it reads with a producer's damage undone:
    gaps at marks closed, and each unknown glyph where a marking may be read as each
    thing a marking could hold there. Fail closed: a marking any of them shows counts.
    [] for a line with no such damage where a marking could be. Second: whether it has
    unknown glyphs where a marking may be that were not guessed at (`guess` false)."""
    if not _MAY_HOLD_DAMAGED.search(line):
        return [], False
    closed = _GAP_AT_MARK.sub("", line)
    out = [closed] if closed != line else []
    # Letter-spaced (a tracked heading, Thai distributed justification): each cluster
    # drawn apart, and the text layer reads "ลับ ม า ก"; until session 36 that was ลับ.
    spaced = _LETTER_SPACED.sub(lambda m: m[0].replace(" ", ""), closed)
    if spaced != closed:
        out.append(spaced)
    # Only the unknown glyphs where a marking may be (from a ล or ด on, as far as the
    # longest marking reaches) are guessed at; the rest of the line stays as read.
    starts = [m.start() for m in _MAY_HOLD_DAMAGED.finditer(closed)]  # in order
    # The last start before each unknown glyph, found by bisection: asked of every start,
    # a line of 20,000 damaged columns took 20-28 s (session 42's second red team).
    unknown = [m.start() for m in _UNKNOWN_GLYPH.finditer(closed)
               if (before := bisect.bisect_left(starts, m.start())) and m.start() - starts[before - 1] <= _MARKING_REACH]
    if not 0 < len(unknown) <= _MAX_UNKNOWN:
        return out, False
    if not guess:
        return out, True
    for marks in itertools.product(_MARKING_MARKS, repeat=len(unknown)):
        guessed = list(closed)
        for at, mark in zip(unknown, marks):
            guessed[at] = mark
        out.append("".join(guessed))
    return out, False


# What sets a head or foot line's columns apart: a tab, three spaces and more, or a bar
# (since session 42's second red team). Each
# column is also read as a line of its own, as a reader sees it: "ที่ กท ๐๔๐๗\t\tลับมาก
# \t\tสำนักการระบายน้ำ" shows ลับมาก standing alone at the page's head, and was read as
# one line that neither starts nor ends with it (until session 42). A PDF line's wide
# gaps between words come as tabs (gateway/pipeline/pdf_inspect.py `_gapped`).
# A run of blanks, or a bar drawn between columns with the blanks around it (a text
# table: "ที่ กท ๐๔๐๗ | ลับที่สุด | สำนัก..."). The bar's alternative starts only where a
# run starts (`(?<![ \t])`): tried from each blank of a long run, it read to the run's end.
_BLANKS = re.compile(r"(?<![ \t])[ \t]*[|│┃¦][ \t]*|[ \t]+")
_BARS = "|│┃¦"
_MAX_CELLS = 50  # columns of one line that may hold a marking: a page's head has a few


def _cells(line: str) -> list[str]:
    """`line`'s columns, or [] when it has one: split at a run of blanks holding a tab or
    three spaces and more, or at a bar between columns (one linear search: a pattern for
    it backtracked on each space of a long run, 9 s for 20,000). Two spaces are a
    typist's between phrases."""
    if "\t" not in line and "   " not in line and not any(bar in line for bar in _BARS):
        return []
    cells, done = [], 0
    for blank in _BLANKS.finditer(line):
        if "\t" in blank[0] or len(blank[0]) >= 3 or blank[0].strip(" \t"):
            cells.append(line[done:blank.start()])
            done = blank.end()
    return [*cells, line[done:]] if cells else []


# Markup typed or pasted as text: a text/plain body whose sender's client sent its HTML
# source (`<p align="center"><b>ลับที่สุด</b></p>`), which Thunderbird, Outlook and
# webmail show as it is, tags and all. The marking is there for the clerk to read, so a
# tag is read as decoration around it, as a bracket is. A tag starts with an ASCII
# letter, `/` or `!--`: `<ลับที่สุด>` is a marking in brackets already, and stays one.
# Each `<` is tried once to the next `<` or `>`: linear.
_TAG = re.compile(r"<(?:/?[A-Za-z][^<>]*|!--[^<>]*)>")


def _without_tags(line: str) -> str | None:
    """`line` read with its tags taken out, normalised, when it had tags and what is left
    may hold a marking; else None (most lines: no second reading to pay for)."""
    untagged = _TAG.sub("", line)
    if untagged == line or not _may_hold_marking(untagged):
        return None
    return _thai_order(untagged).strip() or None


def _line_readings(visible: str) -> tuple[list[list[str]], list[set[str]], set[int]]:
    """Each non-empty line of `visible` text: its Thai-normalised reading, then those
    with a producer's damage undone (`_damage_undone`), each normalised; for each
    line, which of its readings are only its columns' (`_cells`); and the lines not read
    whole: more columns that may hold a marking than are read (_MAX_CELLS), or unknown
    glyphs where a marking may be past the lines guessed at (_MAX_GUESSED_LINES)."""
    raw = [line.strip() for line in visible.splitlines()]
    raw = [line for line in raw if line]
    # Only a line that may hold a marking, intact or damaged, is normalised (~1.5 µs a
    # character): the others cannot read as one, normalised or not (`_MAY_HOLD_MARKING`),
    # and a page of Thai prose is most of a letter's text. Line by line, so a line that
    # normalises to nothing keeps its place (a page's head and foot are counted in lines).
    normalised = [_thai_order(line).strip() if _may_hold_marking(line) else line for line in raw]
    readings = []
    columns: list[set[str]] = []
    not_read_whole: set[int] = set()
    # A damaged line is read again only where a marking can count (a page's head and
    # foot, a line short enough to be markings alone), and guessing, up to 6**3
    # normalised readings of a line (~10 ms), for a bounded number of lines: a hostile
    # text of thousands of damaged lines costs milliseconds, not minutes.
    guesses = _MAX_GUESSED_LINES
    for n, (line, first) in enumerate(zip(raw, normalised)):
        seen = [first]
        readings.append(seen)
        columns.append(set())
        if "<" in line and (untagged := _without_tags(line)) is not None:
            seen.append(untagged)
        edge = n < TOP_LINES or n >= len(raw) - BOTTOM_LINES
        if not (edge or len(line) <= _SHORT_LINE):
            continue  # mid-text, a long line counts only if it is markings alone: it is not
        known = {first}  # a set beside the list: 40,000 columns were each looked for in it
        # A head or foot line's columns are read as lines of their own (`_cells`), their
        # damage undone as a line's: "ลับที\x00สุด" in a column was no marking.
        # Each column once: 50 "ลับแล" columns before a ลับที่สุด hid it past the cap.
        cells = [*dict.fromkeys(cell for cell in _cells(line) if _may_hold_marking(cell))] if edge else []
        if len(cells) > _MAX_CELLS:
            # One past them may be the marking (50 decoy columns hid a ลับที่สุด).
            not_read_whole.add(n)
            cells = cells[:_MAX_CELLS]
        for piece in (line, *cells):
            found = [] if piece is line else [_thai_order(piece).strip()]
            guess = guesses > 0
            if guess and _UNKNOWN_GLYPH.search(piece):
                guesses -= 1
            undone, unguessed = _damage_undone(piece, guess)
            if unguessed:
                # Past the lines guessed at: 20 short damaged lines spent them, and a
                # "ลับที\ufffdสุด" at the foot after them was read as nothing.
                not_read_whole.add(n)
            found += [_thai_order(other).strip() for other in undone]
            for other in found:
                if other and other not in known:
                    known.add(other)
                    seen.append(other)
                    if piece is not line:
                        columns[-1].add(other)
    return readings, columns, not_read_whole


# What a line that may hold a marking and was not read whole counts as: more columns
# than are read (_MAX_CELLS), one past them may be the marking; unknown glyphs not guessed
# at (_MAX_GUESSED_LINES), they may make one. At least ลับ (fail closed).
_NOT_READ_WHOLE_MARKING = "ลับ"


def _marked_lines(text: str, region: bool = True) -> list[str]:
    """The parts of letter text that are markings, not running prose. A line made
    only of markings counts anywhere; a marking starting or ending a line, or in
    brackets, only in the first TOP_LINES and last BOTTOM_LINES lines when `region`.
    Each line is read as it is and with a producer's damage undone (`_damage_undone`)."""
    visible = _visible(text) if text else ""
    if not _may_hold_marking(visible):
        return []  # what follows finds parts only where a marking is
    lines, columns, not_read_whole = _line_readings(visible)
    # A line of markings alone, as its marking words (its decoration and ชั้น dropped).
    alone = [[" ".join(_MARKING_WORD.findall(_CLASS_WORDS.sub(" ", r))) for r in readings if _MARKING_LINE.match(r)]
             for readings in lines]
    parts: list[str] = []
    for n, readings in enumerate(lines):
        edge = not region or n < TOP_LINES or n >= len(lines) - BOTTOM_LINES
        if n in not_read_whole:
            parts.append(_NOT_READ_WHOLE_MARKING)
        if alone[n]:
            # Mid-page, ลับที่สุด / ลับมาก / ลับ one per line is a list of the levels (a
            # circular about them), not a marking: two such lines in a row of
            # different secrecy words say so.
            run = [r for i in range(max(0, n - 1), min(len(lines), n + 2)) for r in alone[i][:1]]
            levels = {w for r in run for w in _tokens_in(r, _SECRECY_TOKEN, _SECRECY_WORDS)}
            if edge or len(levels) < 2:
                parts.extend(alone[n])
            if not edge:
                continue
            # At the head or foot, read on: one column may be markings alone and the
            # next a label and its marking ("ชั้นความลับ: ลับ   ชั้นความเร็ว: ด่วน", `_cells`).
        if not edge:
            continue
        for line in readings:
            m = _LINE_START.match(line)
            if m:  # "ด่วนที่สุด บันทึกข้อความ" (seed 000), "ลับเรื่อง ...": the marking starts the line
                parts.append(m.group(0))
            # Only the line's end can end it: searched there, not from every marking of a
            # long line of them (each a scan to the end: 80 KB of "ลับ " took 13 s). Not a
            # column's end: "สิ่งที่ส่งมาด้วย   บัญชีหนังสือ ลับ   ๑ ฉบับ" names a class.
            m = _LINE_END.search(line[-_LINE_END_REACH:]) if line not in columns[n] else None
            if m:  # "สำนักงานเขตบางรัก ด่วนที่สุด": the marking ends it
                parts.append(m.group(0))
            parts.extend(b["inner"] for b in _BRACKETED.finditer(line))
            parts.extend(b["inner"] for b in _LABELLED.finditer(line))
    return parts


def secrecy_in_letter(head: str) -> Secrecy:
    """Classification marked in letter text (a head, a body, a page)."""
    found = []
    for part in _marked_lines(head):
        found += _tokens_in(part, _SECRECY_TOKEN, _SECRECY_WORDS)
    return _best(found, SECRECY_RANK, "none")  # type: ignore[return-value]


def urgency_in_letter(head: str) -> Urgency:
    found = []
    for part in _marked_lines(head):
        found += _tokens_in(part, _URGENCY_TOKEN, _URGENCY_WORDS)
    return _best(found, URGENCY_RANK, "normal")  # type: ignore[return-value]


def highest_urgency(*values: str) -> Urgency:
    return _best(list(values), URGENCY_RANK, "normal")  # type: ignore[return-value]


def html_readings(markup: str, conditional: bool = True) -> tuple[str, ...]:
    """The readings of an HTML part a marking is looked for in (a marking in either
    counts): all its text (`html_to_text`), and, when it differs, only what a browser
    shows of it: text an inline style or the `hidden` attribute hides is dropped, so
    `ลับ<span style="display:none">xx</span>มาก` reads ลับมาก as it shows."""
    reader = _read_html(markup)
    full = reader.text()
    shown = html_to_text(markup, shown=True) if _HIDDEN_STYLE_OR_ATTR.search(markup) else full
    found = (full,) if shown == full else (full, shown)
    found += tuple(r for r in _styled_readings(reader, markup) if r not in found)
    if conditional and (opened := _opened_conditionals(markup)) is not None:
        # Outlook's conditional comments (`<!--[if mso]>...<![endif]-->`): Outlook for
        # Windows shows what they hold, other clients nothing; read as Outlook does.
        found += tuple(r for r in html_readings(opened, conditional=False) if r not in found)
    if reader.css_strings:
        # Every string of the style sheets, a line each, as a reading of its own: a
        # browser draws a list marker's string (`list-style:'ลับ'`), a counter style's
        # symbols, a custom property's value (`content:var(--m)`), and a `content` whose
        # name is escaped (`cont\65nt`); where, a style sheet does not say. Apart, so a
        # sheet's font names do not move the letter's head off its first lines.
        found += ("\n".join(reader.css_strings),)
    if _BIDI_OVERRIDE.search(markup):
        # Text a browser draws right to left, its order overridden (`<bdo dir=rtl>`,
        # `unicode-bidi: bidi-override; direction: rtl`): `ดสุที่บลั` shows ลับที่สุด.
        found += (html_to_text(markup, reversed_rtl=True),)
    if _TABLE_CELL.search(markup) and _MAY_HOLD_MARKING.search(full):
        # A table's row as a browser draws it, its cells side by side: `<td>ลับ</td>
        # <td>ที่สุด</td>` shows ลับ ที่สุด on one line. Read besides each cell as a line
        # of its own (where a cell that is a marking counts anywhere).
        found += (html_to_text(markup, cells_inline=True),)
    return found


# Since session 36. Where a style sheet can move or hide an inline element's text, the
# reading above (inline elements are nothing; only inline styles hide) is not what a
# browser shows: `สำนักงาน<span class=r>ลับมาก</span>` with `.r{float:right}` (or
# flex, position, display:block) shows ลับมาก apart at the line's end; `ลับ<span
# class=w>ก</span>มาก` with `.w{display:none}` (or color:#fff, font-size:1px, off-screen)
# shows ลับมาก; `<span class=m>ลับม</span>` with `.m::after{content:"าก"}` shows ลับมาก.
# A style sheet's cascade is not worked out here; instead, failing closed, two readings
# more: each inline element's text a line of its own (a sheet may lay it out apart), and
# a marking read across any inline elements' text between its letters (a sheet may hide
# them), each element's ::before/::after strings placed in it.
_INLINE_START, _INLINE_END = "\ufdd0", "\ufdd1"  # noncharacters: an inline element's text
_PLACED_START, _PLACED_END = "\ufdd2", "\ufdd3"  # a ::before/::after string placed in its element
# Bounded (elements between two letters, characters in one) so that a hostile page of
# many elements costs a pass over each, not a pass over the line from each ล.
# A line break between two letters is crossed where an element a style may hide made it
# (`ลับ<div class=h>x</div>ที่สุด`, `ลับ<br style=display:none>ที่สุด`: one line once it
# is hidden), not where plain blocks or a <pre> put the letters on two lines.
_CROSSABLE = "\ufdd4"
_STYLABLE = frozenset({"style", "class", "id", "hidden", "popover", "inert", "color", "bgcolor"})
# Since session 38. Not only the element that makes the break: every element inside one
# that may not be shown is crossed too (`<span style="display:none"><p>x</p></span>`, the
# <p> itself unstyled), and its text read as an inline element's (skipped between two
# letters). An element may not be shown when an attribute hides it or may (`hidden`,
# `popover`, `inert`, a font's colour), its style is not harmless (`_style_may_hide`), a
# sheet's hiding rule names its tag, class or id (`_sheet_tags`), or its tag is one a
# browser does not draw, or draws closed or in a box of its own: a closed <dialog>, a
# <title> in the body, a <template>, a <details>' content, a select's options...
_MAY_NOT_SHOW = frozenset(
    "template dialog title noscript noframes noembed script style details select option optgroup datalist object "
    "applet iframe frame frameset embed svg math video audio canvas picture map textarea slot marquee progress "
    "meter".split())
_HIDING_ATTRIBUTES = frozenset({"hidden", "popover", "inert"})
_COLOUR_ATTRIBUTES = {"color": "color", "bgcolor": "background"}  # `<font color=white>`, as their style
_SKIPPED = (f"(?:{_INLINE_START}[^{_INLINE_START}{_INLINE_END}\n]{{0,2000}}{_INLINE_END}"
            f"|[{_INLINE_START}{_INLINE_END}]|{_CROSSABLE}\n){{0,16}}")
# Each marking, longest first, its letters with elements between them allowed; the
# group that matched names the marking spelt.
_WORDS_ACROSS = sorted({**_SECRECY_WORDS, **_URGENCY_WORDS}, key=len, reverse=True)
_ACROSS_INLINE = re.compile("|".join(f"(?P<w{n}>" + _SKIPPED.join(re.escape(ch) for ch in word) + ")"
                                     for n, word in enumerate(_WORDS_ACROSS)))
_INLINE_MARKS = str.maketrans("", "", _INLINE_START + _INLINE_END + _CROSSABLE)
_PLACED = re.compile(f"{_PLACED_START}[^{_PLACED_END}]*{_PLACED_END}")
_PLACED_AS_INLINE = str.maketrans({_PLACED_START: _INLINE_START, _PLACED_END: _INLINE_END})
_SEGMENT_MARKS = re.compile("[\ufdd0-\ufdd4]")
# Styles that lay an element out apart from the text around it.
_LAYOUT_STYLE = re.compile(r"float|position\s*:|display\s*:|flex|grid|text-align|\balign\s*=|::?(?:before|after)"
                           r"|writing-mode|columns?\s*:", re.I)
_MSO_CONDITIONAL = re.compile(r"<!--\[if[^\]>]{0,200}\]>(.*?)<!\[endif\]-->", re.I | re.S)


MAX_CONDITIONAL_ROUNDS = 3  # conditional comments inside conditional comments opened
_ENDIF = "<![endif]-->"


def _opened_conditionals(markup: str) -> str | None:
    """The markup with Outlook's conditional comments opened (nested ones too, a few
    levels), or None when it has none. Searched only up to the last `<![endif]-->`: past
    it an opening can end nowhere, and each would be a search to the end (10,000 of them
    a quadratic read)."""
    opened = markup
    for _ in range(MAX_CONDITIONAL_ROUNDS):
        end = opened.rfind(_ENDIF)
        if end < 0 or "<!--[if" not in opened[:end]:
            break
        cut = end + len(_ENDIF)
        opened = _MSO_CONDITIONAL.sub(lambda m: m[1], opened[:cut]) + opened[cut:]
    return None if opened == markup else opened


def _spelt(m: re.Match) -> str:
    """The marking a match across inline elements spells, the elements' text between
    its letters (which a style sheet may hide) left out."""
    return _WORDS_ACROSS[int(m.lastgroup[1:])]


_PIECE = re.compile(f"{_INLINE_START}([^{_INLINE_START}{_INLINE_END}\n]*){_INLINE_END}"
                    f"|([^{_INLINE_START}{_INLINE_END}\n]+)|[{_INLINE_START}{_INLINE_END}]")
MAX_PIECES = 64  # of one line looked at for markings amid inline elements


def _markings_amid_inline(line: str) -> str:
    """A line whose markings an inline element's text before or after them may hide
    from the reading, as the markings alone: one piece of it (text outside elements,
    or an element's) is markings alone, and all else on the line is whitespace or
    elements' text, which a sheet may hide. Else the line as it is."""
    if _INLINE_START not in line or not ("ล" in line or "ด" in line):
        return line
    pieces = _PIECE.findall(line)
    if len(pieces) > MAX_PIECES:
        return line
    plain = [text for _, text in pieces if text.strip()]
    if len(plain) > 1:
        return line  # text outside any element shows: a marking beside it is not alone
    candidates = plain or [inner for inner, _ in pieces if inner.strip()]
    for piece in candidates:
        if _markings_alone(piece):
            return piece
    return line


_ONE_INLINE = re.compile(f"{_INLINE_START}([^{_INLINE_START}{_INLINE_END}\n]{{1,200}}){_INLINE_END}")


def _markings_alone(text: str) -> bool:
    return bool(_MARKING_LINE.match(_thai_order(text.strip())))


MAX_APART = 200  # inline elements set apart: a marking needs one; a hostile page has 100,000


def _apart_at_most(limit: int):  # noqa: ANN202
    left = [limit]

    def apart(m: re.Match) -> str:
        if left[0] <= 0 or not _markings_alone(m[1]):
            return m[0]
        left[0] -= 1
        return f"\n{m[1]}\n"
    return apart


def _styled_readings(reader: "_HtmlText", markup: str) -> list[str]:
    """The two readings of what a style sheet may do (above), [] for a text with no ล or ด. Elements are left out or set apart only where
    what is left is markings alone or the marking is read across them: a Word page
    splits its runs into spans anywhere (`ความ</span><span>ลับของทางราชการ`), and
    reading each span as a line of its own would read ลับ in "การรักษาความลับ"."""
    segmented = reader.segmented_text()
    if not ("ล" in segmented or "ด" in segmented):
        return []
    visible = _visible(segmented)
    joined = _ACROSS_INLINE.sub(_spelt, visible).replace(_CROSSABLE, "")
    if _INLINE_START in joined:
        joined = "\n".join(_markings_amid_inline(line) for line in joined.split("\n"))
    out = [joined.translate(_INLINE_MARKS)]
    if _LAYOUT_STYLE.search(markup):
        out.append(_ONE_INLINE.sub(_apart_at_most(MAX_APART), visible).translate(_INLINE_MARKS))
    return out


# `sel::after { content: "..." }`: a simple selector's last compound (tag, .class,
# #id), its pseudo-element and its block; bounded, one pass over the markup.
_PSEUDO_RULE = re.compile(r"([^{}<>;]{1,300}?)::?(before|after)\s*\{([^{}]{0,2000})\}", re.I)
# What `_PSEUDO_RULE` and `_SHEET_RULE` find, found from each rule's "{" instead (`_rules_before`):
# the patterns' lazy selector, tried from every character for up to 300 more, took 4 s of
# CPU per MB of a sheet without a "{" (48 MB: minutes, with no look at the letter's
# reading clock between), session 55.
_RULE_BLOCK = re.compile(r"\{([^{}]{0,2000})\}")
_NOT_IN_SELECTOR = "{}<>;"
_SELECTOR_LONGEST = 300


def _rules_before(text: str):
    """(start of the run of selector characters before the "{", the "{", its block) of
    each rule `_SHEET_RULE.finditer` may find, in order, the run not yet cut to 300."""
    done = 0  # the end of the last rule found: the scan goes on from there
    previous = -1
    brace = text.find("{")
    while brace >= 0:
        block = _RULE_BLOCK.match(text, brace)
        if block is not None:
            low = max(done, previous + 1)
            run = max([low] + [text.rfind(c, low, brace) + 1 for c in _NOT_IN_SELECTOR])
            yield run, brace, block
        previous = brace
        brace = text.find("{", brace + 1)


def _sheet_rules(text: str):
    """(selector, declarations) of each rule, as `_SHEET_RULE.finditer(text)` has them."""
    done = 0
    for run, brace, block in _rules_before(text):
        start = max(run, done, brace - _SELECTOR_LONGEST)
        if start < brace:
            done = block.end()
            yield text[start:brace], block[1]


def _pseudo_rule_matches(text: str):
    """(selector, "before"/"after" as written, declarations) of each rule, as
    `_PSEUDO_RULE.finditer(text)` has them."""
    done = 0
    for run, brace, block in _rules_before(text):
        run = max(run, done)
        head = text[run:brace].rstrip()
        for word in ("before", "after"):
            if head[-len(word):].lower() == word:
                break
        else:
            continue
        colon = len(head) - len(word) - 1
        if colon < 1 or head[colon] != ":":
            continue  # no colon, or nothing before it to be the selector
        if colon >= 2 and head[colon - 1] == ":":
            colon -= 1  # "::" when the selector keeps a character, as the pattern's "::?"
        start = max(0, colon - _SELECTOR_LONGEST)
        done = block.end()
        yield head[start:colon], head[-len(word):], block[1]
_COMPOUND = re.compile(r"^([a-zA-Z][\w-]*|\*)?((?:[.#][\w-]+)*)$")
MAX_PSEUDO_RULES = 200


def _pseudo_rules(markup: str) -> list[tuple[str | None, frozenset[str], str | None, str, str]]:
    """(tag, classes, id, "before"/"after", text) of each ::before/::after rule whose
    selector ends in a compound this reading can match; at most MAX_PSEUDO_RULES."""
    rules = []
    for m in _pseudo_rule_matches(markup):
        texts = "".join(_css_text(m[2]))
        if not texts:
            continue
        for selector in m[0].split(","):
            last = re.split(r"[\s>+~]+", selector.strip())[-1] if selector.strip() else ""
            parts = _COMPOUND.match(last)
            if not parts:
                continue
            names = re.findall(r"([.#])([\w-]+)", parts[2] or "")
            tag = parts[1].lower() if parts[1] and parts[1] != "*" else None
            classes = frozenset(n.lower() for k, n in names if k == ".")
            ids = [n for k, n in names if k == "#"]
            if tag or classes or ids:
                rules.append((tag, classes, ids[0] if ids else None, m[1].lower(), texts))
        if len(rules) >= MAX_PSEUDO_RULES:
            break
    return rules


# Since session 37. A sheet may hide a block by its tag alone (`div div{display:none}`,
# `p:nth-child(2){font-size:0}`, `*[lang]{...}`), not only by a class, id or style the
# element carries: such blocks' line breaks are crossed too (`_styled_break`). The
# cascade is not worked out; a rule that can hide or shrink, whose selector's last
# compound names a tag (or any element), makes every block of that tag crossable.
# Since session 38 a rule "can hide" unless each of its declarations is one that cannot
# (`_style_may_hide`: a whitelist, failing closed), not when one of a list of hiding
# declarations matched: the list missed transparent and near-white colours, `font:0/0 a`,
# `font-size:1e-3px`, `margin-left:-9999px`, `scale:0`, `block-size:0`, escapes and
# comments inside a declaration; a sheet from elsewhere (`<link rel=stylesheet>`,
# `@import`) was not read at all.
_SHEET_RULE = re.compile(r"([^{}<>;]{1,300}?)\{([^{}]{0,2000})\}")
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_IMPORTANT = re.compile(r"!\s*important\s*$", re.I)
# Declarations that cannot take text out of sight, whatever their value.
_HARMLESS_PROPERTIES = frozenset(
    "font-family font-weight font-style font-variant font-variant-ligatures font-variant-numeric font-kerning "
    "font-feature-settings font-stretch text-align text-align-last text-decoration text-decoration-line "
    "text-decoration-style text-decoration-color text-underline-position text-underline text-transform white-space "
    "word-wrap overflow-wrap word-break line-break hyphens list-style list-style-type list-style-position "
    "border-collapse border-spacing cursor page page-break-before page-break-after page-break-inside break-before "
    "break-after break-inside orphans widows tab-size tab-interval tab-stops layout-grid layout-grid-mode text-justify "
    "text-autospace punctuation-wrap table-layout caption-side empty-cells box-sizing border-radius outline "
    "outline-style -webkit-text-size-adjust -ms-text-size-adjust text-size-adjust -webkit-font-smoothing "
    "-moz-osx-font-smoothing text-rendering".split())
_HARMLESS_KEYWORDS = {
    "display": frozenset("block inline inline-block list-item table table-row table-cell table-row-group "
                         "table-header-group table-footer-group table-column table-caption flow-root".split()),
    "vertical-align": frozenset("baseline top middle bottom sub super text-top text-bottom".split()),
    "overflow": frozenset({"visible", "auto", "scroll"}),
    "font-size": frozenset("xx-small x-small small medium large x-large xx-large xxx-large larger smaller".split()),
    "line-height": frozenset({"normal"}),
}
_ANY_VALUE = frozenset({"inherit", "initial", "unset", "revert"})
# A length as a pixel count (an em, a percentage of a font: of 16 px); no exponent, no calc().
_LENGTH = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(px|pt|pc|cm|mm|in|q|r?em|ex|ch|%)?", re.I)
_PX = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "cm": 37.8, "mm": 3.78, "in": 96.0, "q": 0.945, "em": 16.0,
       "rem": 16.0, "ex": 8.0, "ch": 8.0, "%": 0.16}
# Colours a reader sees on a light page (dark, opaque), and backgrounds that are light.
_DARK_NAMES = frozenset("black windowtext navy blue darkblue mediumblue maroon darkred red green darkgreen purple "
                        "teal olive gray grey dimgray dimgrey darkslategray darkslategrey brown indigo "
                        "midnightblue".split())
_LIGHT_NAMES = frozenset("white window yellow ivory snow whitesmoke lightyellow lightgray lightgrey silver "
                         "gainsboro beige azure aliceblue ghostwhite lightcyan transparent none auto".split())
_HEX_COLOUR = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})", re.I)
_RGB_COLOUR = re.compile(r"rgba?\(\s*(\d{1,3})\s*[, ]\s*(\d{1,3})\s*[, ]\s*(\d{1,3})\s*(?:[,/]\s*(1|1\.0*|100%)\s*)?\)",
                         re.I)
# Where a page sets a background (a sheet, a style, an attribute, Outlook's highlight):
# dark text shows only if every one of them is light.
_BACKGROUND = re.compile(r"(?:background(?:-color|-image)?|mso-highlight|mso-shading)\s*:\s*([^;}\"'<>]{0,200})"
                         r"|\b(?:bgcolor|background)\s*=\s*[\"']?([^\"'\s>]{0,200})", re.I)
_OTHER_SHEET = re.compile(r"<link\b[^>]{0,2000}stylesheet|@import|<\?xml-stylesheet", re.I)


def _luminance(colour: str) -> float | None:
    """The luminance (0-255) of an opaque colour written as a name of the lists above, #rgb,
    #rrggbb or rgb(); None for anything else (a transparent, hsl() or unknown colour)."""
    colour = colour.strip().lower()
    if colour in _DARK_NAMES:
        return 0.0
    if colour in _LIGHT_NAMES:
        return 255.0
    if (m := _HEX_COLOUR.fullmatch(colour)) is not None:
        h = m[1] if len(m[1]) == 6 else "".join(c * 2 for c in m[1])
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    elif (m := _RGB_COLOUR.fullmatch(colour)) is not None:
        r, g, b = (int(m[i]) for i in (1, 2, 3))
        if max(r, g, b) > 255:
            return None
    else:
        return None
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _dark_text_shows(markup: str) -> bool:
    """Whether every background the page sets is light (so dark text on it shows)."""
    for m in _BACKGROUND.finditer(markup):
        value = (m[1] if m[1] is not None else m[2] or "").strip()
        value = _IMPORTANT.sub("", value).strip()
        if value.lower() in _ANY_VALUE or not value:
            continue
        light = _luminance(value)
        if light is None or light < 180:
            return False
    return True


def _lengths(value: str, unitless: float = 1.0) -> list[float] | None:
    """Each of a value's words as pixels (a unitless number times `unitless`), None
    when one is not a plain length."""
    out = []
    for word in value.split():
        m = _LENGTH.fullmatch(word)
        if m is None:
            return None
        unit = (m[2] or "").lower()
        out.append(float(m[1]) * (_PX[unit] if unit else unitless))
    return out or None


def _declaration_harmless(prop: str, value: str, dark_shows: bool) -> bool:
    """Whether a declaration cannot take text out of sight or shrink it (the whitelist)."""
    low = value.lower()
    if prop in _HARMLESS_PROPERTIES or low in _ANY_VALUE:
        return True
    if prop.startswith("mso-") and not prop.startswith(("mso-hide", "mso-highlight", "mso-shading")):
        return True  # Word's own (mso-style-name, mso-fareast-font-family...)
    if low in _HARMLESS_KEYWORDS.get(prop, ()):
        return True
    if prop == "font-size":
        sizes = _lengths(value, unitless=0.0)
        return sizes is not None and len(sizes) == 1 and sizes[0] >= 6
    if prop == "line-height":
        heights = _lengths(value, unitless=16.0)
        return heights is not None and len(heights) == 1 and heights[0] >= 6
    if prop == "font":  # `11pt "Calibri"`, `bold 12px/1.5 Tahoma`: every length at least 6 px
        words = [w for w in re.split(r"[\s/]+", value) if w and w[0] in "0123456789.+-"]
        sizes = [_lengths(w, unitless=16.0) for w in words]
        return bool(sizes) and all(size is not None and size[0] >= 6 for size in sizes)
    if prop.startswith(("margin", "padding")) and not prop.startswith("margin-trim"):
        sizes = _lengths(" ".join(w for w in low.split() if w != "auto") or "0")
        return sizes is not None and all(0 <= size <= 400 for size in sizes)
    if prop == "text-indent":
        sizes = _lengths(value)
        return sizes is not None and len(sizes) == 1 and -100 <= sizes[0] <= 400
    if prop.startswith("border"):  # a width, a style, a colour: no width past 50 px
        sizes = [_lengths(w) for w in low.split() if _LENGTH.fullmatch(w)]
        return all(size is not None and 0 <= size[0] <= 50 for size in sizes)
    if prop.startswith("min-"):
        return True  # only ever makes a box larger
    if prop in ("width", "height", "max-width", "max-height"):
        if low in ("auto", "none"):
            return True
        m = _LENGTH.fullmatch(low)
        return m is not None and float(m[1]) >= (10 if m[2] == "%" else 6 / _PX[(m[2] or "px").lower()])
    if prop in ("letter-spacing", "word-spacing"):
        sizes = [0.0] if low == "normal" else _lengths(value)
        return sizes is not None and len(sizes) == 1 and -2 <= sizes[0] <= 20
    if prop == "color":
        colour = _luminance(value)
        return dark_shows and colour is not None and colour < 140
    if prop in ("background", "background-color"):
        colour = _luminance(value)
        return colour is not None and colour >= 180
    return False


def _style_may_hide(css: str, dark_shows: bool = True) -> bool:
    """Whether a rule's declarations or a style attribute may take its element's text out
    of sight: any declaration that is not harmless (`_declaration_harmless`), its escapes
    decoded and comments dropped first. `dark_shows`: no background on the page is dark."""
    if "/*" in css:
        css = _CSS_COMMENT.sub(" ", css)
    if "\\" in css:
        css = _CSS_ESCAPE.sub(_css_unescaped, css)
    for declaration in css.split(";"):
        prop, colon, value = declaration.partition(":")
        if not colon:
            if declaration.strip():
                return True  # not a declaration a reading knows: fail closed
            continue
        value = _IMPORTANT.sub("", value.strip()).strip()
        if not _declaration_harmless(prop.strip().lower(), value, dark_shows):
            return True
    return False


_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)(?:</style\s*>|$)", re.I | re.S)
MAX_SHEET_RULES = 500
ANY_ELEMENT = "*"
_SELECTOR_NAMES = re.compile(r"([.#])((?:[\w-]|\\.)+)")


def _sheet_tags(markup: str, dark_shows: bool = True) -> frozenset[str]:
    """The tags a style sheet's hiding rules may match by tag (ANY_ELEMENT: by a
    universal, attribute or pseudo-class selector, or a sheet not in the markup), and
    since session 38 the classes (".name") and ids ("#name") they name; at most
    MAX_SHEET_RULES rules read. A tag a rule names only below others named by their tags
    alone (`div div`, `td > p`) is kept as "p<td" (`_named_by_sheet` asks that a td be
    open around the p: the cascade is not worked out, so an element only so named is
    crossed, not every one of its tag)."""
    tags: set[str] = set()
    if _OTHER_SHEET.search(markup):
        tags.add(ANY_ELEMENT)  # a linked or imported sheet: what it hides is not known here
    read = 0
    for sheet in _STYLE_ELEMENT.finditer(markup):
        text = _CSS_COMMENT.sub(" ", sheet[1]) if "/*" in sheet[1] else sheet[1]
        for m in _sheet_rules(text):
            read += 1
            if read > MAX_SHEET_RULES:
                return frozenset(tags | {ANY_ELEMENT})  # past the bound: fail closed
            if not _style_may_hide(m[1], dark_shows):
                continue
            for selector in m[0].split(","):
                last = re.split(r"[\s>+~]+", selector.strip())[-1] if selector.strip() else ""
                if not last or last.startswith("@"):
                    continue  # an at-rule
                tags.update(kind + name.lower() for kind, name in _SELECTOR_NAMES.findall(last))
                if last[0] in ".#":
                    continue  # a class or id: the element carries it (`_STYLABLE`)
                tag = re.match(r"[a-zA-Z][\w-]*", last)
                if tag is None:
                    tags.add(ANY_ELEMENT)
                    continue
                above = [] if "+" in selector or "~" in selector else re.split(r"[\s>]+", selector.strip())[:-1]
                needed = sorted({c.lower() for c in above if re.fullmatch(r"[a-zA-Z][\w-]*", c)})
                tags.add("<".join([tag[0].lower(), *needed]))
    return frozenset(tags)


def html_texts(mail: ParsedMail) -> tuple[str, ...]:
    """The readings of a letter's HTML body: made when it was parsed if it was too long
    to keep whole (`ParsedMail.body_html_texts`)."""
    return mail.body_html_texts or html_readings(mail.body_html or "")


_TABLE_CELL = re.compile(r"<t[dh][\s>/]", re.I)


_BIDI_OVERRIDE = re.compile(r"<bdo\b|bidi-override", re.I)


_PSEUDO_HINT = re.compile(r":(?:before|after)\s*\{", re.I)


def _read_html(markup: str, shown: bool = False, depth: int = 0, cells_inline: bool = False,
               reversed_rtl: bool = False) -> "_HtmlText":
    reading_goes_on()  # each reading of a part is one more pass over all of it
    drawn = frozenset(name.lower() for name in _CSS_ATTR.findall(markup))
    last = markup.rfind(">")
    if markup.find("<", last + 1) >= 0:
        # After the last ">" no tag can end: the stdlib's parser looked for one from every
        # "<" there to the end (300 KB of `<a ` took minutes). Read as the text it is.
        markup = markup[:last + 1] + markup[last + 1:].replace("<", "&lt;")
    pseudo = _pseudo_rules(markup) if _PSEUDO_HINT.search(markup) else []
    low = markup.lower()
    dark_shows = _dark_text_shows(markup) if ("background" in low or "bgcolor" in low or "mso-" in low) else True
    sheet_tags = (_sheet_tags(markup, dark_shows) if ("<style" in low or "stylesheet" in low or "@import" in low)
                  else frozenset())
    reader = _HtmlText(shown, depth, drawn, cells_inline, reversed_rtl, pseudo, sheet_tags, dark_shows)
    try:
        reader.feed(markup)
        reader.close()
    except Exception:  # noqa: BLE001 - the stdlib's parser on hostile markup: read what it has
        pass
    return reader


def html_to_text(markup: str, shown: bool = False, depth: int = 0, cells_inline: bool = False,
                 reversed_rtl: bool = False) -> str:
    """What a mail client shows of an HTML part, line by line (entities decoded);
    `shown`: without the text of elements an inline style or `hidden` hides.

    As a browser lays it out: a block element (p, div, br, li, a table's row or cell, a
    heading...) starts a line; an inline one (span, b, font, a) and a comment are nothing,
    so `ลับม<span>าก</span>` and `ลับมา<!-- -->ก` read ลับมาก; a line break or run of spaces
    in the source is one space (`ลับ⏎ที่สุด` shows on one line), except inside <pre>.
    A ruby annotation (<rt>, <rp>) is drawn above its base text, not after it: a line of
    its own, so `<ruby>ลับมาก<rt>x</rt></ruby>` reads ลับมาก, not ลับมากx. A document drawn
    inside the page (an iframe's srcdoc, a `data:` URL of HTML, text or SVG in an iframe,
    object, embed or img, or in a style's `url(...)`) is read too, its lines after the
    element's, and so is an attribute a style draws (`content: attr(data-x)`). Scripts,
    styles and the head are not shown; a <template>'s content is read (Outlook's Word
    engine shows it)."""
    if "<" not in markup and "&" not in markup:
        return re.sub(r"[ \t\r\n\f]+", " ", markup)
    # Names a style draws with attr(): which element it lands on, the sheet does not say.
    return _read_html(markup, shown, depth, cells_inline, reversed_rtl).text()


_HTML_BLOCKS = frozenset(
    "address article aside blockquote br caption center dd details dialog div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr legend li main nav ol p pre section summary table tbody td tfoot th "
    "thead title tr ul".split())
# Not <noscript>: mail clients run no scripts, so they show what it holds.
_HTML_HIDDEN = frozenset({"script", "style"})
# What a browser keeps in the <head> (whose title it does not show in the page); any
# other element, text that is not white space, </head>, <body> or </body> ends the head
# (HTML's "in head" insertion mode): `</head>` is optional, and until session 33 a
# letter that left it out was read as no text at all after <head>.
_HEAD_ELEMENTS = frozenset("base basefont bgsound link meta title noscript noframes style script template head html"
                           .split())
# A comment ends at `-->` or `--!>`, and `<!-->` and `<!--->` are whole (empty) comments,
# as browsers read them; Python's parser ran each of these to the next `-->`, hiding
# what a browser shows.
_COMMENT_END = re.compile(r"--!?>")
_RUBY_ANNOTATIONS = frozenset({"rt", "rp", "rtc"})
# Text a browser draws from an attribute: an image's alt (Thunderbird shows it while remote
# images are blocked, and for a cid: image that is missing), a form field's value or
# placeholder.
_SHOWN_ATTRIBUTES = {"img": ("alt",), "area": ("alt",), "input": ("alt", "value", "placeholder")}
# CSS generated content (`p::before { content: "ลับมาก" }`), which a client draws; its
# escapes (`\\E25 `) decoded.
# A string is bounded: an unclosed quote costs 200 characters, not the rest of the sheet.
_CSS_ATTR = re.compile(r"\battr\(\s*([\w:-]{1,64})", re.I)
# `quotes` too: a <q> draws its first string (`q { quotes: "ลับมาก" "" }`).
_CSS_CONTENT = re.compile(r"""(?:content|quotes)\s*:\s*((?:"(?:[^"\\]|\\.){0,200}"|'(?:[^'\\]|\\.){0,200}'|\s+)+)""",
                          re.I | re.S)
_CSS_STRING = re.compile(r""""((?:[^"\\]|\\.){0,200})"|'((?:[^'\\]|\\.){0,200})'""", re.S)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.S)


def _css_unescaped(m: re.Match) -> str:
    if m[1]:
        code = int(m[1], 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return "" if m[2] == "\n" else m[2]


def _css_text(css: str) -> list[str]:
    """The strings of a style sheet's or style attribute's `content` and `quotes` declarations."""
    return ["".join(_CSS_ESCAPE.sub(_css_unescaped, a or b) for a, b in _CSS_STRING.findall(decl))
            for decl in _CSS_CONTENT.findall(css)]
def _css_strings(css: str) -> list[str]:
    """Every string of a style sheet or a style attribute, its escapes decoded, but a
    url()'s (an address, not drawn)."""
    out = []
    for a, b in _CSS_STRING.findall(css):
        text = _CSS_ESCAPE.sub(_css_unescaped, a or b)
        if text.strip() and not text.lstrip()[:5].lower() == "data:":
            out.append(text)
        if len(out) >= 10_000:
            break
    return out


_CLUSTER = re.compile(f"(?s).[{THAI_MARKS}\u0300-\u036f\u200c\u200d]*")
_RTL_DIRECTION = re.compile(r"direction\s*:\s*rtl", re.I)


def _overrides_rtl(tag: str, attrs) -> bool:  # noqa: ANN001 - HTMLParser's (name, value) pairs
    values = {name: value or "" for name, value in attrs}
    if tag == "bdo":
        return values.get("dir", "").strip().lower() == "rtl"
    style = values.get("style", "")
    return "bidi-override" in style.lower() and bool(_RTL_DIRECTION.search(style))


_HTML_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# What is not an inline element whose text a style may hide or move on its own.
_NOT_INLINE = _HTML_VOID | _HTML_BLOCKS | frozenset(
    "html head body title style script template noscript colgroup".split())
# Attributes whose value is a document the element draws in the page.
_EMBEDDED_DOCUMENTS = {"iframe": ("srcdoc", "src"), "frame": ("src",), "object": ("data",), "embed": ("src",),
                       "img": ("src", "srcset"), "input": ("src",), "video": ("poster",), "source": ("srcset", "src"),
                       "link": ("href",), "body": ("background",), "table": ("background",), "td": ("background",),
                       "th": ("background",), "tr": ("background",),
                       "image": ("href", "xlink:href")}  # SVG's <image>
_DATA_URL = re.compile(r"\s*data:\s*(text/html|text/plain|image/svg\+xml|text/css)\s*((?:;[^,]{0,200})?),(.*)",
                       re.I | re.S)
MAX_EMBEDDED_DEPTH = 3  # a document in a document in a document; deeper is not read
MAX_EMBEDDED = 2_000_000  # characters of one embedded document read


# An image a style draws (`background: url(data:image/svg+xml,...)`): an SVG's text is drawn.
_CSS_URL = re.compile(r"url\(", re.I)


def _css_data_urls(css: str) -> Iterable[str]:
    """The `data:` URLs of a style's url(...)s; one pass, each `)` looked for once, so an
    unclosed url( in a hostile sheet costs its length, not its length per url(."""
    at = 0
    while (m := _CSS_URL.search(css, at)) is not None:
        end = css.find(")", m.end())
        if end < 0:
            return
        inner = css[m.end():end].strip().strip("\"'")
        if inner[:5].lower() == "data:":
            yield inner
        at = end + 1


def _embedded_document(name: str, value: str) -> str | None:
    """The markup of a document an attribute holds: srcdoc as it is, a `data:` URL of
    HTML, text or SVG decoded; None for anything else (a remote or cid: address)."""
    if name == "srcdoc":
        return value[:MAX_EMBEDDED]
    m = _DATA_URL.match(value[:MAX_EMBEDDED])
    if not m:
        return None
    body = m[3]
    if "base64" in m[2].lower():
        try:
            data = base64.b64decode(re.sub(r"\s+", "", urllib.parse.unquote(body)) + "==", validate=False)
        except ValueError:
            return None
    else:
        data = urllib.parse.unquote_to_bytes(body)
    charset = re.search(r"charset\s*=\s*\"?([\w.:-]{1,40})", m[2], re.I)
    try:
        text = data.decode(charset[1] if charset else "utf-8", "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    kind = m[1].lower()
    # A style sheet (<link href="data:text/css,...">, @import url(data:text/css...)) as a
    # document of one <style>: its strings are read as any sheet's.
    return html.escape(text) if kind == "text/plain" else f"<style>{text}</style>" if kind == "text/css" else text
# What hides an element's text in a browser, written on the element itself.
_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden"
                           r"|(?:font-size|opacity)\s*:\s*0*\.?0*(?:px|pt|em|rem|%)?\s*(?:;|!|$)", re.I)
_HIDDEN_STYLE_OR_ATTR = re.compile(r"\bhidden\b|display\s*:\s*none|font-size\s*:\s*0|opacity\s*:\s*0", re.I)


# A style that keeps an element's spaces and tabs as <pre> does (`pre-line` does not).
_KEEPS_WHITE_SPACE = re.compile(r"white-space\s*:\s*(?:pre(?!-line)|break-spaces)", re.I)


# An inline element's horizontal padding or margin of an em or more sets its text apart
# as a tab does: "ที่ กท ๐๔๐๗<span style='padding-left:200px'>ลับที่สุด</span>" shows the
# marking standing alone on the head line, and read as one line until session 43.
_SPACING = re.compile(r"(?<![\w-])(padding|margin)(?:-(left|right|inline-start|inline-end|inline))?\s*:\s*([^;!]*)",
                      re.I)
_SPACING_LENGTH = re.compile(r"^([+]?(?:\d+\.?\d*|\.\d+))(px|pt|pc|em|rem|ch|ex|cm|mm|q|in|%|vw|vmin|vmax)$", re.I)
# What an em (16px, 12pt) is in each unit; ex and ch about half an em, % and vw of a
# mail pane ~600px wide.
_ONE_EM = {"px": 16, "pt": 12, "pc": 1, "em": 1, "rem": 1, "ch": 2, "ex": 2, "cm": 0.42, "mm": 4.2, "q": 17,
           "in": 0.17, "%": 3, "vw": 3, "vmin": 3, "vmax": 3}


def _wide_length(value: str) -> bool:
    m = _SPACING_LENGTH.match(value.strip())
    return bool(m) and float(m[1]) >= _ONE_EM[m[2].lower()]


def _wide_sides(style: str) -> tuple[bool, bool]:
    """Whether an element's style sets it apart on its left and on its right by a
    padding or margin of an em or more (shorthands read as CSS reads them)."""
    if "padding" not in style.lower() and "margin" not in style.lower():
        return False, False
    left = right = False
    for m in _SPACING.finditer(style):
        side, values = (m[2] or "").lower(), m[3].split()
        if side in ("left", "inline-start"):
            left |= bool(values) and _wide_length(values[0])
        elif side in ("right", "inline-end"):
            right |= bool(values) and _wide_length(values[0])
        elif side == "inline":
            left |= bool(values) and _wide_length(values[0])
            right |= bool(values) and _wide_length(values[-1])
        elif values:  # top right bottom left, with fewer values repeating
            horizontal = {1: (0, 0), 2: (1, 1), 3: (1, 1)}.get(len(values), (3, 1))
            left |= _wide_length(values[horizontal[0]])
            right |= _wide_length(values[horizontal[1]])
    return left, right


class _HtmlText(HTMLParser):
    def __init__(self, shown: bool = False, depth: int = 0, drawn: frozenset[str] = frozenset(),
                 cells_inline: bool = False, reversed_rtl: bool = False, pseudo=(),  # noqa: ANN001
                 sheet_tags: frozenset[str] = frozenset(), dark_shows: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self._dark_shows = dark_shows  # `_dark_text_shows`: no background on the page is dark
        self._pseudo = pseudo  # `_pseudo_rules`: strings placed in the elements they match
        self._sheet_tags = sheet_tags  # `_sheet_tags`: blocks a sheet may hide by their tag
        self._sheet_below: dict[str, list[list[str]]] = {}  # a tag a sheet hides below others: their tags
        for name in sheet_tags:
            if "<" in name:
                tag, *above = name.split("<")
                self._sheet_below.setdefault(tag, []).append(above)
        self._inline: list[str] = []  # inline elements open in the current block
        self._block_depth = 0  # blocks open: a block inside a block may be hidden by a sheet
        self._styled_blocks: list[bool] = []  # blocks open, each with a style, class or id or not
        # open elements: each one that may not be shown or not, keeps its white space or not, and is
        # set apart on its right or not (`_wide_sides`)
        self._crossing: list[tuple[str, bool, bool, bool]] = []
        self._crossing_open = 0  # of them, those that may not be shown: inside one, all is crossed
        self._open_tags: dict[str, int] = {}  # open elements by tag: an end tag of none is one look
        self._attribute_text = False  # an img's alt, a field's value: an element's own text
        self._after: list[tuple[str, str]] = []  # (tag, ::after string) of open elements
        self._finished = False
        self.css_strings: list[str] = []  # every string of a style sheet or style attribute
        self._reversed_rtl = reversed_rtl
        self._rtl: list[bool] = []  # with `reversed_rtl`: open elements, each overriding to right-to-left or not
        self._blocks = _HTML_BLOCKS - {"td", "th"} if cells_inline else _HTML_BLOCKS
        self._drawn = drawn  # attribute names a style's attr() draws
        self._lines: list[str] = []
        self._line: list[str] = []
        self._depth = depth
        self._annotation = 0  # inside <rt> or <rp>
        self._aside: list[str] = []  # ruby annotations and embedded documents: lines after the current one
        self._hidden = 0
        self._pre = 0
        self._style = 0
        self._shown = shown
        self._open: list[tuple[str, bool]] = []  # with `shown`: open elements, each hiding or not
        self._head = False  # inside the head: only a title's text is there, and not shown
        self._title = 0
        self._no_comment_end: tuple[str, int] | None = None  # (markup, where) past which no comment ends

    # The stdlib's parser costs 2-40 us of Python for each tag, text run, comment or
    # declaration: 50 MB of markup is minutes, whatever it is made of. Every 1024th of
    # them asks whether the letter's reading still has time (inline in the handlers
    # every element passes through: a wrapper of `updatepos` cost 8 % of an ordinary
    # HTML body's reading).
    _constructs = 0

    def _counted(self) -> None:
        self._constructs += 1
        if not self._constructs & 1023:
            reading_goes_on()

    def handle_pi(self, data: str) -> None:
        self._counted()

    def handle_decl(self, decl: str) -> None:
        self._counted()

    def unknown_decl(self, data: str) -> None:
        self._counted()

    def handle_comment(self, data: str) -> None:
        self._counted()

    def parse_comment(self, i: int, report: int = 1) -> int:  # noqa: ARG002 - the stdlib's signature
        raw = self.rawdata
        self._counted()
        for empty in ("<!-->", "<!--->"):
            if raw.startswith(empty, i):
                return i + len(empty)
        if self._no_comment_end is not None and self._no_comment_end[0] is raw and i >= self._no_comment_end[1]:
            return -1  # no end after an earlier one either: 100,000 `<!--` cost one search, not 100,000
        m = _COMMENT_END.search(raw, i + 4)
        if m is None:
            self._no_comment_end = (raw, i)
            return -1
        return m.end()

    def parse_marked_section(self, i: int, report: int = 1) -> int:  # noqa: ARG002 - the stdlib's signature
        # `<![...` is a bogus comment to the first ">" in a browser (HTML's parsing rules:
        # Word's `<![if !supportLists]>` too). The stdlib raised on a keyword it does not
        # know (`<![foo[`, `<![ x`), and the rest of the part was not read: a ลับมาก
        # after it left the letter ordinary until session 50; `<![include[` it read to
        # its "]]>", past what a browser shows after the first ">".
        return self.parse_bogus_comment(i)

    def _end_head(self) -> None:
        self._head = False
        self._title = 0

    def _hides(self, attrs) -> bool:  # noqa: ANN001 - HTMLParser's (name, value) pairs
        return any(name == "hidden" or (name == "style" and value and _HIDING_STYLE.search(value))
                   for name, value in attrs)

    def _break(self) -> None:
        self._lines.append("".join(self._line))
        self._line = []
        if self._aside:
            self._lines.extend(self._aside)
            self._aside = []

    def _placed(self, tag: str, attrs) -> None:  # noqa: ANN001
        """The ::before string of each rule the element matches, and its ::after kept
        for its end: marked as placed, read by the styled readings only."""
        values = {name: value or "" for name, value in attrs}
        classes = frozenset(values.get("class", "").lower().split())
        for rule_tag, rule_classes, rule_id, where, text in self._pseudo:
            if ((rule_tag is None or rule_tag == tag) and rule_classes <= classes
                    and (rule_id is None or rule_id == values.get("id"))):
                if where == "before":
                    self._line.append(_PLACED_START + text + _PLACED_END)
                else:
                    self._after.append((tag, text))

    def _may_not_show(self, tag: str, attrs) -> bool:  # noqa: ANN001 - HTMLParser's (name, value) pairs
        """Whether a browser may not show the element (its descendants with it): since session 38."""
        if tag in _MAY_NOT_SHOW:
            return True
        if self._named_by_sheet(tag):
            return True
        sheet = self._sheet_tags
        for name, value in attrs:
            if name in _HIDING_ATTRIBUTES or (name == "style" and value and _style_may_hide(value, self._dark_shows)):
                return True
            if name in _COLOUR_ATTRIBUTES and not _declaration_harmless(_COLOUR_ATTRIBUTES[name], value or "",
                                                                         self._dark_shows):
                return True
            if sheet and value and name == "class" and any("." + c in sheet for c in value.lower().split()):
                return True
            if sheet and value and name == "id" and "#" + value.strip().lower() in sheet:
                return True
        return False

    def _named_by_sheet(self, tag: str) -> bool:
        """Whether a sheet's hiding rule may match the element by its tag (and the tags
        of the elements open around it)."""
        sheet = self._sheet_tags
        if not sheet:
            return False
        if ANY_ELEMENT in sheet or tag in sheet:
            return True
        return any(all(self._open_tags.get(t) for t in above) for above in self._sheet_below.get(tag, ()))

    def _enter(self, tag: str, attrs) -> None:  # noqa: ANN001
        hides = self._may_not_show(tag, attrs)
        # `white-space: pre` (or pre-wrap, break-spaces) keeps an element's spaces and tabs
        # as <pre> does: a head line's columns set apart by them (`_cells`) read as one
        # line of single spaces until session 42.
        kept = any(name == "style" and value and _KEEPS_WHITE_SPACE.search(value) for name, value in attrs)
        apart = (False, False)
        if tag not in self._blocks:
            style = next((value for name, value in attrs if name == "style" and value), "")
            apart = _wide_sides(style) if style else apart
        if apart[0]:
            self._line.append("\t")
        self._crossing.append((tag, hides, kept, apart[1]))
        self._crossing_open += hides
        self._pre += kept
        self._open_tags[tag] = self._open_tags.get(tag, 0) + 1

    def _leave(self, tag: str) -> None:
        if not self._open_tags.get(tag):
            return  # an end tag of no open element: ignored, as a browser does
        while self._crossing:  # elements left unclosed end with it
            open_tag, hides, kept, apart = self._crossing.pop()
            if apart:
                self._line.append("\t")
            self._crossing_open -= hides
            self._pre = max(0, self._pre - kept)
            self._open_tags[open_tag] -= 1
            if open_tag == tag:
                break

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001 - HTMLParser's signature
        self._constructs += 1
        if not self._constructs & 1023:
            reading_goes_on()
        if tag not in _HTML_VOID:
            self._enter(tag, attrs)
        if tag in self._blocks:
            self._inline = []
            self._block_depth += tag not in _HTML_VOID
        elif tag not in _NOT_INLINE:
            self._inline.append(tag)
        if self._shown and tag not in _HTML_VOID:
            self._open.append((tag, self._hides(attrs)))
        if self._reversed_rtl and tag not in _HTML_VOID:
            self._rtl.append(_overrides_rtl(tag, attrs))
        if tag == "head":
            self._head = True
        elif self._head and tag not in _HEAD_ELEMENTS:
            self._end_head()
        elif self._head and tag == "title":
            self._title += 1
            return
        if tag in _HTML_HIDDEN:
            self._hidden += 1
            self._style += tag == "style"
        elif tag in self._blocks:
            self._pre += tag == "pre"
            self._styled_break(tag, attrs, void=tag in _HTML_VOID)
        elif tag in ("td", "th"):
            self._line.append("\t")  # cells side by side (`cells_inline`): apart, on one line
        elif tag == "span" and any(name == "style" and value and "mso-tab-count" in value.lower()
                                   for name, value in attrs):
            # Outlook's and Word's HTML writes a tab as a span of a few spaces so styled
            # ("&nbsp; "); a tab to a reader (a head line's columns, `_cells`), a space
            # until session 42.
            self._line.append("\t")
        elif tag in _RUBY_ANNOTATIONS:
            self._annotation += 1
            self._aside.append("")
        self._attribute_texts(tag, attrs)
        if self._pseudo and tag not in _HTML_VOID:  # inside the element: after a block's break
            self._placed(tag, attrs)

    def handle_startendtag(self, tag: str, attrs) -> None:  # noqa: ANN001
        self._constructs += 1
        if not self._constructs & 1023:
            reading_goes_on()
        if tag not in _HTML_VOID and not (self._open_tags.get("svg") or self._open_tags.get("math")):
            # `<div style="display:none"/>x</div>`: in HTML the slash is ignored and the
            # div holds x (since session 38; it read as closed, x shown). In SVG or MathML
            # the element is closed.
            self.handle_starttag(tag, attrs)
            return
        if self._head and tag not in _HEAD_ELEMENTS:
            self._end_head()
        if tag in self._blocks:
            self._styled_break(tag, attrs, void=True)
        self._attribute_texts(tag, attrs)

    def _styled_break(self, tag: str, attrs, void: bool = False) -> None:  # noqa: ANN001
        """A block's (or <br>'s) line break, marked crossable when a style may hide the
        element (it has a style, class or id, or a sheet's rule names its tag): its start
        here, its end in handle_endtag."""
        styled = (self._crossing_open > 0 or any(name in _STYLABLE for name, _ in attrs)
                  or (void and self._named_by_sheet(tag)))
        if not void:
            self._styled_blocks.append(styled)
        if styled:
            self._line.append(_CROSSABLE)
        self._break()

    def _attribute_texts(self, tag: str, attrs) -> None:  # noqa: ANN001
        for name, value in attrs:
            if value and name in _SHOWN_ATTRIBUTES.get(tag, ()):
                self._attribute_text = True
                self.handle_data(f" {value} ")
                self._attribute_text = False
            elif value and name in self._drawn:
                self._aside.append(value)
            elif value and name == "style" and ("content" in value.lower() or "quotes" in value.lower()):
                self._generated(value)
            elif value and name == "style" and "data:" in value:
                self._css_images(value)
            elif (value and name in _EMBEDDED_DOCUMENTS.get(tag, ()) and self._depth < MAX_EMBEDDED_DEPTH
                  and not self._hidden and (markup := _embedded_document(name, value)) is not None):
                # Drawn in a box of its own where the element is: its lines after the current one.
                self._embedded(markup)
            if value and name == "style" and ("'" in value or '"' in value):
                self.css_strings.extend(_css_strings(value))

    def _css_images(self, css: str) -> None:
        if self._depth >= MAX_EMBEDDED_DEPTH:
            return
        for url in _css_data_urls(css):
            if (markup := _embedded_document("src", url)) is not None:
                self._embedded(markup)

    def _embedded(self, markup: str) -> None:
        """A document drawn in the page: its lines after the current one, its sheets'
        strings with this page's."""
        inner = _read_html(markup, self._shown, self._depth + 1)
        self._aside.extend(inner.text().splitlines())
        self.css_strings.extend(inner.css_strings)

    def _generated(self, css: str) -> None:
        # Drawn where the rule's element is, which a style sheet does not say: each
        # string is a line of its own (a line made only of markings counts anywhere).
        for text in _css_text(css):
            self._break()
            self._line.append(text)
            self._break()

    def handle_endtag(self, tag: str) -> None:
        self._constructs += 1
        if not self._constructs & 1023:
            reading_goes_on()
        # An end tag of no open element (50,000 `</i>` after 50,000 `<b>`) is one look
        # here, not a walk of every open inline element each: 17 s of a DATA check's CPU.
        was_open = self._open_tags.get(tag, 0) > 0 or tag in _HTML_VOID
        self._leave(tag)
        if self._after and any(t == tag for t, _ in self._after):
            while self._after:
                open_tag, text = self._after.pop()
                self._line.append(_PLACED_START + text + _PLACED_END)
                if open_tag == tag:
                    break
        if tag in self._blocks:
            self._inline = []
            self._block_depth = max(0, self._block_depth - (tag not in _HTML_VOID))
        elif was_open and tag in self._inline:
            while self._inline and self._inline.pop() != tag:
                pass
        if self._shown and was_open and any(t == tag for t, _ in self._open):
            while self._open and self._open.pop()[0] != tag:  # elements left unclosed end with it
                pass
        if self._reversed_rtl and self._rtl and tag not in _HTML_VOID:
            self._rtl.pop()
        if tag in ("head", "body", "html", "br") or (self._head and tag not in _HEAD_ELEMENTS):
            self._end_head()
        elif self._head and tag == "title":
            self._title = max(0, self._title - 1)
            return
        if tag in _HTML_HIDDEN:
            self._hidden = max(0, self._hidden - 1)
            self._style = max(0, self._style - (tag == "style"))
        elif tag in self._blocks:
            self._pre = max(0, self._pre - (tag == "pre"))
            if self._styled_blocks and self._styled_blocks.pop():
                self._line.append(_CROSSABLE)
            self._break()
        elif tag in _RUBY_ANNOTATIONS:
            self._annotation = max(0, self._annotation - 1)
        elif tag == "ruby":
            self._annotation = 0  # an annotation left unclosed ends with its ruby

    def _put(self, text: str) -> None:
        apart = self._inline or self._block_depth > 1 or self._attribute_text or self._crossing_open
        self._line.append(_INLINE_START + text + _INLINE_END if apart and text else text)

    def handle_data(self, data: str) -> None:
        self._constructs += 1
        if not self._constructs & 1023:
            reading_goes_on()
        if _SEGMENT_MARKS.search(data):  # the reading's own marks, never the letter's
            data = _SEGMENT_MARKS.sub("\ufffd", data)
        if self._style and ("'" in data or '"' in data):
            self.css_strings.extend(_css_strings(data))
        if self._style and ("content" in data.lower() or "quotes" in data.lower()):
            self._generated(data)
        if self._reversed_rtl and any(self._rtl):
            data = "".join(reversed(_CLUSTER.findall(data)))  # characters with their marks
        if self._style and "data:" in data:
            self._css_images(data)
        if self._head and not self._hidden and not self._title and data.strip():
            self._end_head()  # text in the head is the body's (a browser shows it)
        if self._hidden or self._title or (self._shown and any(hides for _, hides in self._open)):
            return
        if self._annotation and self._aside:
            self._aside[-1] += re.sub(r"[ \t\r\n\f]+", " ", data)
            return
        if self._pre:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._put(first)
            for line in rest:
                self._break()
                self._put(line)
        else:
            self._put(re.sub(r"[ \t\r\n\f]+", " ", data))

    def _all(self) -> str:
        if not self._finished:
            self._finished = True
            self._break()
        return "\n".join(self._lines)

    def text(self) -> str:
        """What the reading shows: inline elements are nothing, placed strings absent."""
        text = self._all()
        if _PLACED_START in text:
            text = _PLACED.sub("", text)
        return text.translate(_INLINE_MARKS) if _INLINE_START in text else text

    def segmented_text(self) -> str:
        """The text with each inline element's text between _INLINE_START and
        _INLINE_END, the strings of ::before/::after rules placed in their elements."""
        return self._all().translate(_PLACED_AS_INLINE)


# --------------------------------------------------------------------------- the decision

@dataclass(frozen=True)
class Classification:
    """How secret a letter is, where that was read, and whether the gateway could read
    everything (`certain` False: it could not, and treats the letter as at least ลับ)."""

    level: Secrecy = "none"
    where: str = ""
    certain: bool = True

    @property
    def classified(self) -> bool:
        return self.level != "none"


UNREADABLE = "unreadable"


def highest(*found: Classification) -> Classification:
    """The most secret of several readings; a certain one wins a tie."""
    best = Classification()
    for c in found:
        if SECRECY_RANK[c.level] > SECRECY_RANK[best.level] or (
                c.level == best.level and c.certain and not best.certain):
            best = c
    return best


def uncertain(where: str, level: Secrecy = "confidential") -> Classification:
    """What the gateway could not read is treated as at least ลับ: fail closed."""
    return Classification(level, where, certain=False)


def classification_of_headers(headers: Iterable[tuple[str, str]]) -> Classification:
    """From the header block alone (every occurrence of every header in SECRECY_HEADERS)."""
    found = [Classification()]
    wanted = {h.lower() for h in SECRECY_HEADERS}
    for name, value in headers:
        lname = name.strip().lower()
        if lname not in wanted or not value:
            continue
        level = secrecy_in_subject(value) if lname in _TEXT_HEADERS else secrecy_in_label(value)
        if level != "none":
            found.append(Classification(level, f"header {name.strip()}"))
    return highest(*found)


def _pdf_unreadable(error: str | None) -> bool:
    """The PDF reader ran out of time or memory: the text could not be looked at."""
    return bool(error) and (error.startswith((NOT_READ_IN_TIME, "RecursionError", "MemoryError", EMBEDDED_NOT_READ))
                            or "could not be read within" in error or "reader failed" in error
                            or SCAN_NOT_READ in error or f"; {NOT_READ_IN_TIME}" in error)


def read_classification(mail: ParsedMail) -> Classification:
    """The classification of a parsed letter, from everything a person would read:
    the headers (SECRECY_HEADERS), the subject, the body text and HTML (top and bottom),
    every PDF's text layer (top and bottom of each page read) and text files. A PDF
    that cannot be opened (password) or read in time makes the letter at least ลับ."""
    found = [classification_of_headers(mail.headers)]
    found += [classification_of_headers(block) for block in mail.inner_headers]
    if mail.truncated:
        found.append(uncertain(f"parts beyond the first ones {UNREADABLE}"))
    found += [uncertain(f"{what} {UNREADABLE}") for what in mail.unread]
    level = secrecy_in_subject(mail.subject or "")
    if level != "none":
        found.append(Classification(level, "subject"))
    for where, text in (("body", mail.body_text), *(("html", t) for t in html_texts(mail)),
                        *(("body file", t) for t in mail.body_file_texts)):
        level = secrecy_in_letter(text or "")
        if level != "none":
            found.append(Classification(level, where))
    for a in mail.attachments:
        name = f"file {a.index + 1}"
        # A file named "ลับมาก_2569_..." is marked where a clerk reads it first; the name's
        # "_" and "." stand for the spaces the naming rule forbids.
        for shown in (a.filename or "", *a.other_names):
            level = secrecy_in_subject(re.sub(r"[_.\-]+", " ", shown))
            if level != "none":
                found.append(Classification(level, f"{name} name"))
        pages = a.pdf_page_texts or ((a.pdf_text,) if a.pdf_text else ())
        # Two readers' lines of the same pages (gateway/pipeline/pdf_inspect.py): where
        # they disagree, the more secret reading wins.
        for reading in (pages, a.pdf_viewer_page_texts, a.pdf_other_texts):
            for n, page in enumerate(reading, start=1):
                level = secrecy_in_letter(page)
                if level != "none":
                    found.append(Classification(level, f"{name} page {n}"))
        if a.pdf_encrypted and a.pdf_pages is None:
            found.append(uncertain(f"{name} password-protected"))
        elif _pdf_unreadable(a.pdf_error):
            found.append(uncertain(f"{name} {UNREADABLE}"))
        texts = a.texts
        if not texts and a.sniffed_type.startswith("text/") and a.data:
            text = a.data[:1_000_000].decode("utf-8", "replace")
            texts = html_readings(text) if a.sniffed_type == "text/html" else (text,)
        for text in texts:
            level = secrecy_in_letter(text)
            if level != "none":
                found.append(Classification(level, name))
    return highest(*found)


# --------------------------------------------------------------------------- read by OCR

# A secrecy stamp's words by their consonants: Tesseract reads a large stamped ลับมาก
# as "ลบมาก", ลับที่สุด as "ลบทสุด", the vowels and tone marks above and below lost.
_OCR_SKELETONS = {"ลบทสด": "ลับที่สุด", "ลบมาก": "ลับมาก", "ลบ": "ลับ",
                  # and the urgency stamp beside it, for the register (`extract_facts`)
                  "ดวนทสด": "ด่วนที่สุด", "ดวนมาก": "ด่วนมาก", "ดวน": "ด่วน"}
_OCR_NOISE = 4  # Thai letters a line may hold beside its marking (a speck read as a letter)


def markings_read_by_ocr(text: str) -> list[str]:
    """The secrecy (and urgency) markings in OCR's reading of a scanned page's head or
    foot: a line that is a marking alone (specks, digits and punctuation aside) gives
    the marking's word ("ลับมาก", "ด่วนที่สุด"), as `secrecy_in_letter` reads it. A word
    of prose that shares the consonants ("ลบ", to delete) sits in a longer line and is
    not one."""
    found = []
    for line in text.splitlines():
        words = ["".join(ch for ch in word if unicodedata.category(ch) != "Mn")
                 for word in re.findall(r"[ก-ฮะ-ฺเ-๎]+", line)]
        marks, matched, i = [], 0, 0
        while i < len(words):
            for j in range(min(i + 3, len(words)), i, -1):  # the longest marking from word i
                word = _OCR_SKELETONS.get("".join(words[i:j]))
                if word:
                    marks.append(word)
                    matched += len("".join(words[i:j]))
                    i = j
                    break
            else:
                i += 1
        if marks and sum(len(w) for w in words) - matched <= _OCR_NOISE:
            found += marks
    return found
