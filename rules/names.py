"""A file's name as its sender's client meant it, and as a person may safely be shown it.

Pure functions, no I/O. Thai names reach the gateway as RFC 2047 words, RFC 2231
parameters (labelled with a charset that is sometimes wrong) and raw 8-bit bytes
(SMTPUTF8 clients, old Thai mailers writing Windows-874); everywhere a person reads a
name (the desk, the register, a notice, the CLI) it must read as the sender's client
showed it, with nothing hidden in it.
"""
from __future__ import annotations

import codecs
import re
import unicodedata

# Labels Thai mailers put on names, whatever the bytes are.
_UTF8 = frozenset({"utf-8", "utf8"})
# Multi-byte codecs: their bytes may well be valid UTF-8 by chance, so the label stands.
_WIDE = ("utf-16", "utf-32", "utf-7")
_THAI_LABELS = {"windows-874": "cp874", "x-windows-874": "cp874", "dos-874": "cp874", "ibm874": "cp874",
                "tis620": "tis_620", "iso885911": "tis_620"}


# WHATWG's labels for Chinese that Python does not know. WHATWG (Thunderbird's
# encoding_rs, every browser) decodes every GBK and GB2312 label with the gb18030
# decoder, which reads GB18030's four-byte sequences too; Python's gbk and gb2312 codecs
# fail on them, and Thai is four-byte in GB18030: until session 40 a ลับมาก subject,
# body or file name in GB18030 labelled `gbk` read as U+FFFD, no marking.
GB18030_LABELS = {"x-gbk": "gb18030", "csgb2312": "gb18030", "gb_2312": "gb18030", "gb_2312-80": "gb18030",
                  "windows-936": "gb18030", "x-euc-cn": "gb18030"}
_WIDER = {"gbk": "gb18030", "gb2312": "gb18030"}  # Python's codec -> the one WHATWG decodes it with


def codec_of(label: str) -> str | None:
    """Python's codec for a MIME charset label as mail clients decode it (Thai and
    Chinese labels Python does not know, GBK and GB2312 read as GB18030); None for a
    label no codec knows."""
    # A NUL ends the label, as it ends a C string in Dovecot and Thunderbird: "utf-8\0" is
    # UTF-8 to them; codecs.lookup raised ValueError on it, and the letter's parse failed.
    label = label.split("\x00", 1)[0].strip().strip('"').lower()
    label = _THAI_LABELS.get(label) or GB18030_LABELS.get(label) or label
    try:
        codec = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: an 8-bit byte in the label
        return None
    return _WIDER.get(codec, codec)


_codec = codec_of


def name_from_bytes(data: bytes, label: str | None) -> str:
    """The bytes of a name (an RFC 2231 value, or a raw 8-bit parameter when `label` is
    None) as text. UTF-8 when they are UTF-8, whatever the label says: the UTF-8 of a
    Thai name read as TIS-620 is "เธฅเธฑเธ", and a legacy text is next to never valid
    UTF-8 by chance. Bytes that are not UTF-8 under a UTF-8 label, no label or one no
    codec knows are Windows-874, the only other charset Thai clients write (Thunderbird
    and Outlook in a Thai locale fall back on it too), unless they read as more Thai
    letters than bytes lost in UTF-8 (a UTF-8 text with a stray byte keeps its reading;
    Windows-874 bytes pair up into UTF-8 Cyrillic, never into Thai)."""
    codec = _codec(label) if label else None
    if codec is None or codec == "utf-8" or not codec.startswith(_WIDE):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if codec is None or codec == "utf-8":
            text = data.decode("utf-8", "replace")
            thai = sum(1 for ch in text if "\u0e00" <= ch <= "\u0e7f")
            return data.decode("cp874", "replace") if text.count("\ufffd") > thai else text
    return data.decode(codec, "replace")


# Characters a name may hold that show as nothing, or as something else: controls (a
# CR/LF ends a header line, ESC drives a terminal), format characters (U+202E turns
# "หนังสือ\u202efdp.exe" into "หนังสือexe.pdf" on screen; U+200B makes two names that
# differ look the same), separators and unassigned code points.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


# A Thai letter carries at most three marks (a vowel above or below, a tone mark, and
# rarely ์); more, stacked on one letter, draw a column over the rows above and below it.
MAX_MARKS = 3
_MARKS = frozenset({"Mn", "Mc", "Me"})
_DIGITS = frozenset("0123456789๐๑๒๓๔๕๖๗๘๙")


def _escaped(ch: str) -> str:
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def shown_name(name: str) -> str:
    """A name as a person is shown it: every character that is invisible or changes how
    the rest is drawn written out as \\uXXXX, so that "หนังสือ\\u202efdp.exe" shows what
    it is; a space other than U+0020 too, so that two names that differ never look the
    same; a digit that is neither Arabic (0-9) nor Thai (๐-๙), which the naming rule's
    \\d accepts and which looks like one ("５７", "𝟓𝟕"); and a mark with no letter under
    it, or past MAX_MARKS on one letter."""
    if name.isascii() and name.isprintable():
        return name
    out, marks = [], None  # marks drawn on the last letter shown; None: no letter
    for ch in name:
        category = unicodedata.category(ch)
        if category in _HIDDEN or (ch.isspace() and ch != " ") or (category == "Nd" and ch not in _DIGITS):
            out.append(_escaped(ch))
            marks = None
        elif category in _MARKS:
            if marks is None or marks >= MAX_MARKS:
                out.append(_escaped(ch))
            else:
                out.append(ch)
                marks += 1
        else:
            out.append(ch)
            marks = 0
    return "".join(out)


# A file system's limit on one name (Linux NAME_MAX, NTFS's 255 UTF-16 units are more):
# a longer name fails to save, or is cut by the client mid-letter and without its type.
MAX_SAVED_BYTES = 255
_SEPARATORS = str.maketrans({"/": "_", "\\": "_"})


def saved_name(name: str) -> str:
    """A name to save a file under (a download's Content-Disposition, a part the gateway
    writes): the invisible characters of `shown_name` dropped, so that no file manager
    draws it reversed; a CR, LF or tab a space; a `/` or `\\` an `_` (the seed's own rule
    for letters' file names), so that no part of it is read as a folder; at most
    MAX_SAVED_BYTES of UTF-8, cut between letters with its extension kept."""
    name = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in name if ch in "\r\n\t" or unicodedata.category(ch) not in _HIDDEN
    ).translate(_SEPARATORS).strip()
    if name.strip(".") == "":
        return "file"
    fitted, limit = name, len(name)
    while (over := len(fitted.encode("utf-8", "replace")) - MAX_SAVED_BYTES) > 0:
        limit -= max(1, over // 4)  # a character is at most 4 bytes
        fitted = fitted_name(name, limit)
    return fitted


# SARA AM is a spacing mark (Unicode's Grapheme_Cluster_Break=SpacingMark): a cluster
# such as น้ำ ends with it, as with the combining marks (Mn, Mc, Me).
_JOINS_BEFORE = frozenset({"\u0e33", "\u200d"})
# Thai vowels written before their consonant (เ แ โ ใ ไ): a cut just after one leaves a
# vowel with no letter to sound.
_LEADING_VOWELS = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")


def _breaks_before(text: str, at: int) -> bool:
    if at <= 0 or at >= len(text):
        return True
    ch, before = text[at], text[at - 1]
    return not (unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in _JOINS_BEFORE or before in _LEADING_VOWELS)


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut between two letters with all their
    marks: "น้ำท่วม" cut to 2 is "", not "น้" (a different vowel), nor "เ" alone. Where
    no letter starts near the limit (a run of marks alone), at the limit."""
    if len(text) <= limit:
        return text
    at = max(limit, 0)
    while at > max(limit - 2 * MAX_MARKS, 0) and not _breaks_before(text, at):
        at -= 1
    return text[:at] if _breaks_before(text, at) else text[:max(limit, 0)]


MAX_EXTENSION = 16  # ".stamped.pdf" is 12; anything longer is not an extension


def fitted_name(name: str | None, limit: int) -> str | None:
    """A name in at most `limit` characters for a column that holds no more: the stem cut
    between letters, the extension kept, so that the file opens as the type it is named
    and "…" says that something was cut."""
    if name is None or len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    tail = dot + ext if dot and stem and len(ext) < MAX_EXTENSION else ""
    return cut(name[: len(name) - len(tail)], limit - len(tail) - 1) + "…" + tail


LONG_RUN = 120  # characters without a space: a file's name, shortened in the middle
_RUN = re.compile(r"\S{%d,}" % (LONG_RUN + 1))


def shortened(text: str | None, most: int) -> str:
    """A reason or a file name in at most `most` characters: every run of more than
    LONG_RUN characters without a space (a file's name) kept at its start and its end
    (the extension), the middle left out ("…"), and the whole cut between letters."""
    if not text:
        return text or ""
    text = _RUN.sub(lambda m: cut(m[0], 60) + "…" + m[0][-30:], text)
    return text if len(text) <= most else cut(text, most - 1) + "…"
