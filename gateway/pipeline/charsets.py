"""Thai legacy charsets in mail headers.

Thai mail clients label text `windows-874` (Microsoft's superset of TIS-620). CPython
knows it only as `cp874`, so an RFC 2047 word in windows-874 would fail to decode and
the subject would turn into mojibake. We teach both the codec registry and the email
package the alias once, at import.
"""
from __future__ import annotations

import codecs
import email.charset
import re

from rules.names import GB18030_LABELS, codec_of

_ALIASES = {
    "windows-874": "cp874",
    "windows874": "cp874",
    "x-windows-874": "cp874",
    "ms874": "cp874",
    "x-tis620": "tis_620",
    "tis620": "tis_620",
    "iso-8859-11": "tis_620",
    "iso8859-11": "tis_620",
    # WHATWG's labels for windows-874, which Thunderbird (encoding_rs) decodes as Thai and
    # Python did not know: a body, subject or file name labelled so read as no Thai at all
    # (session 14's red team).
    "dos-874": "cp874",
    "iso885911": "tis_620",
    "ibm874": "cp874",
    "x-ibm874": "cp874",
    # WHATWG's (and Windows' code pages 1200/1201) labels for UTF-16, which Python does
    # not know: until session 39 a ลับมาก subject or body labelled `unicode` read as no
    # Thai, ordinary (the SMTP red team).
    "unicode": "utf-16-le",
    "csunicode": "utf-16-le",
    "ucs-2": "utf-16-le",
    "iso-10646-ucs-2": "utf-16-le",
    "unicodefeff": "utf-16-le",
    "unicodefffe": "utf-16-be",
}


# WHATWG's GBK and GB2312 labels are all read with the gb18030 decoder (rules/names.py
# `codec_of`). Python's codec registry finds its own gbk and gb2312 before any search
# function registered here, so `codecs.lookup("gbk")` stays Python's GBK: every place that
# decodes labelled bytes asks `codec_of` (or `codec`) for the codec instead. The email
# package's aliases are taught all of them, for what it decodes itself (email.header).
_ALIASES.update(GB18030_LABELS)
_GB_LABELS = ("gbk", "gb2312", "cp936", "ms936", "936", "chinese", "iso-ir-58", "csiso58gb231280", "euc-cn",
              "euccn", "eucgb2312-cn", "gb2312-1980", "gb2312-80", *GB18030_LABELS)


def _search(name: str):
    target = _ALIASES.get(name.lower().replace("_", "-")) or _ALIASES.get(name.lower())
    return codecs.lookup(target) if target else None


def register() -> None:
    codecs.register(_search)
    for alias, target in _ALIASES.items():
        email.charset.add_alias(alias, target)
    for alias in _GB_LABELS:
        email.charset.add_alias(alias, "gb18030")


def codec(label: str | None) -> str | None:
    """The codec a mail client decodes bytes under `label` with (a GBK label: GB18030),
    else None (no label, or one no codec knows)."""
    return codec_of(label) if label else None


# A byte order mark says the encoding of a text that declares none (a .txt saved by
# Notepad as UTF-16); UTF-32's marks start with UTF-16's, so they are looked for first.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


# Labels that say nothing about Thai text: none at all, the RFC 2045 default, and UTF-8
# (which a careless client declares for whatever it sends).
_NO_REAL_LABEL = frozenset({"", "us-ascii", "ascii", "us", "ansi_x3.4-1968", "utf-8", "utf8"})


def unknown_label(label: str | None) -> bool:
    """A charset label (not none) that Python's codecs do not know (`x-thai`)."""
    label = (label or "").strip().strip('"').lower()
    return label not in _NO_REAL_LABEL and not _known(label)


def _known(label: str) -> bool:
    return codec_of(label) is not None


def body_as_shown(data: bytes, label: str | None, text: str) -> str:
    """A body part's text as a Thai reader's client shows it, where the parser's reading
    (`text`) lost characters (U+FFFD): bytes that are not UTF-8 at all, under no label,
    us-ascii or utf-8, decoded as windows-874, the fallback of a Thai locale's client
    (Thunderbird's, with its detector; Outlook's code page); so are bytes under a label
    Python does not know (`x-thai`), which the parser read as UTF-8. A UTF-8 text with a stray
    byte keeps its UTF-8 reading: most of its characters survived."""
    label = (label or "").strip().strip('"').lower()
    if label not in _NO_REAL_LABEL:
        if _known(label):
            return text
        # A label nobody knows says nothing: mail-parser then guesses (Cyrillic, for
        # Thai bytes), where a Thai reader's client falls back on Thai.
        return decode_bytes(data, None)
    if (wide := wide_text(data)) is not None:
        return wide
    try:
        legacy = data.decode("cp874")
    except UnicodeDecodeError:
        return text
    lost = text.count("\ufffd")
    kept = sum(1 for ch in text if ord(ch) > 0x7f and ch != "\ufffd")
    return legacy if lost > kept else text


# The high byte of a UTF-16 code unit of a Thai letter: ASCII and Latin-1 (0x00), Thai
# (0x0E), general punctuation such as “ ” (0x20).
_UTF16_HIGH = frozenset((0x00, 0x0E, 0x20))


def utf16_without_bom(data: bytes) -> str | None:
    """The text of a UTF-16 file saved without its byte order mark, else None.

    Windows' Notepad opens such a .txt as Thai by its bytes (every second byte 0x00 or
    0x0E), where the UTF-8 reading of the same bytes is "%\\x0e1\\x0e..." and no marking:
    a ลับมาก note saved so left the letter ordinary and certain until session 20."""
    codec = utf16_codec(data)
    return None if codec is None else data[:len(data) & ~1].decode(codec, "replace")


def utf16_codec(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when the first 4 KB are UTF-16 with no byte order mark
    (a look at the bytes, nothing decoded), else None."""
    head = data[:4096]
    if len(head) < 8 or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for high, low, codec in ((head[1::2], head[0::2], "utf-16-le"), (head[0::2], head[1::2], "utf-16-be")):
        if sum(b in _UTF16_HIGH for b in high) >= 0.95 * len(high) and low.count(0) < 0.5 * len(low):
            return codec
    return None


def may_be_wide(text: str) -> bool:
    """Whether a body the parser read under no real label may be UTF-16 or UTF-32 (NULs,
    or the 0x0E of Thai code units, which no UTF-8 or Windows-874 Thai text holds): one
    look for each, so that an ordinary body costs nothing more."""
    return "\x00" in text or "\x0e" in text


def wide_text(data: bytes) -> str | None:
    """A body's text when its bytes are UTF-32 or UTF-16 though its label says nothing
    (none, us-ascii, utf-8): by its byte order mark, which a browser and a mail client
    honour over the label, or by its bytes (`utf16_codec`, as Notepad reads them); else
    None. A ลับที่สุด body saved so by Notepad and sent as text/plain was read as ASCII
    controls by the parser, no marking found, at DATA or in the pipeline (session 55's
    intake red team)."""
    for bom, codec in _BOMS[1:]:  # UTF-8's is read as UTF-8 already
        if data.startswith(bom):
            return data.decode(codec, "replace").lstrip("\ufeff")
    head = data[:4096]
    if b"\x00" in head or head.count(b"\x0e") * 4 > len(head):
        return utf16_without_bom(data)
    return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """A text (a body part, a text file) as a mail client shows it: the declared charset,
    a byte order mark, UTF-8, then Thai legacy (Windows-874); never raises."""
    candidates = [codec(charset) or charset.strip().strip('"').lower()] if charset else []
    candidates += [codec for bom, codec in _BOMS if data.startswith(bom)][:1]
    for candidate in (*candidates, "utf-8", "cp874"):
        try:
            return data.decode(candidate).lstrip("\ufeff")
        except (LookupError, UnicodeError, ValueError):
            continue
    return data.decode("utf-8", errors="replace")


register()


# What an HTML or XML document says of its own encoding, where a browser or a mail
# client looks for it when nothing outside the document says (WHATWG HTML 13.2.3.2, the
# prescan: `<meta charset>`, `<meta http-equiv content="...; charset=...">`; XML 1.0
# 4.3.3, the declaration). A GB18030 text declared so (under any GBK label) shows Thai in
# a browser, in Thunderbird for a body part without a MIME charset, and in a saved .html,
# .svg or .xml file opened, where the bytes alone read as Windows-874 mojibake: a ลับมาก
# page so written was filed ordinary until session 41. Not only the first 1024 bytes the
# prescan reads: a parser that meets a later `<meta charset>` changes the encoding and
# reads the page again (13.2.3.4), so every declaration in the first DECLARED_WITHIN
# bytes gives a reading of its own.
DECLARED_WITHIN = 65536
# The codecs (of every encoding a browser knows) whose text can hold a Thai letter: a
# declaration of any other (Shift_JIS, Big5, EUC-KR, ISO-8859-2...) cannot show a
# marking, and reading the page by it only costs time. With these few, how many
# declarations a page holds is no limit a forger can fill before the one that counts
# (a meta in a <script> string is seen by the prescan and not by the parser, which
# then changes the encoding at the real one).
THAI_CAPABLE = frozenset({"utf-8", "gb18030", "cp874", "tis-620", "iso8859-11"})
_THAI = re.compile(r"[\u0e00-\u0e7f]")
# An XML declaration's encoding (its pseudo-attribute, quoted either way).
XML_ENCODING = re.compile(rb"""\s*<\?xml\b[^<>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
# WHATWG: a meta that names UTF-16 means UTF-8 (the prescan read ASCII bytes), and
# x-user-defined means windows-1252.
_META_INSTEAD = {"utf-16": "utf-8", "utf-16le": "utf-8", "utf-16be": "utf-8", "utf-16-le": "utf-8",
                 "utf-16-be": "utf-8", "x-user-defined": "cp1252"}
_SPACE = b" \t\n\r\f"
_CONTENT_CHARSET = re.compile(rb"""charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;"']+))""", re.I)


def declared_codecs(data: bytes) -> list[str]:
    """The codecs the document's own declarations name (its XML declaration, then its
    `<meta>` charsets in order), each once, labels no codec knows left out. The metas
    are found as WHATWG's prescan finds them (HTML 13.2.3.2): comments skipped,
    attribute values read whole, quoted ones with any `>` in them; in one pass."""
    head = data[:DECLARED_WITHIN]
    labels = []
    if (found := XML_ENCODING.match(head)) is not None:
        labels.append(found[1].decode("ascii", "replace").lower())
    out: list[str] = []
    for label in labels + list(_meta_labels(head.lower())):
        codec = codec_of(label.strip())
        if codec in THAI_CAPABLE and codec not in out:
            out.append(codec)
    return out


def _meta_labels(low: bytes):
    """The charset labels of the `<meta>` elements of lower-cased bytes, in order."""
    at, end = 0, len(low)
    while (lt := low.find(b"<", at)) >= 0:
        if low.startswith(b"<!--", lt):
            close = low.find(b"-->", lt + 4)
            at = end if close < 0 else close + 3
            continue
        if low.startswith(b"<meta", lt) and lt + 5 < end and low[lt + 5] in _SPACE + b"/":
            at, attributes = _attributes(low, lt + 5)
            label = attributes.get(b"charset")
            if label is None and attributes.get(b"http-equiv", b"").strip() == b"content-type":
                found = _CONTENT_CHARSET.search(attributes.get(b"content", b""))
                label = next((g for g in found.groups() if g is not None), None) if found else None
            if label:
                text = label.decode("ascii", "replace").strip()
                yield _META_INSTEAD.get(text, text)
            continue
        at = lt + 1


def _attributes(low: bytes, at: int) -> tuple[int, dict[bytes, bytes]]:
    """(where the tag ends, its attributes, the first of each name) from `at` inside it."""
    attributes: dict[bytes, bytes] = {}
    end = len(low)
    while at < end:
        while at < end and low[at] in _SPACE + b"/":
            at += 1
        if at >= end or low[at] == 0x3E:  # ">"
            return at + 1, attributes
        start = at
        while at < end and low[at] not in _SPACE + b"/=>":
            at += 1
        name = low[start:at]
        while at < end and low[at] in _SPACE:
            at += 1
        value = b""
        if at < end and low[at] == 0x3D:  # "="
            at += 1
            while at < end and low[at] in _SPACE:
                at += 1
            if at < end and low[at] in b"\"'":
                close = low.find(low[at:at + 1], at + 1)
                close = end if close < 0 else close
                value, at = low[at + 1:close], close + 1
            else:
                start = at
                while at < end and low[at] not in _SPACE + b">":
                    at += 1
                value = low[start:at]
        attributes.setdefault(name, value)
    return end, attributes


def declared_readings(data: bytes, used: str | None) -> list[str]:
    """The document read by each of its own declarations, where one names a codec other
    than `used` (the MIME label its text was read with, or None: read by its bytes) and
    reads otherwise. The caller keeps them beside its reading: a client may show either
    (the MIME label wins where there is one; saved, the file has none)."""
    used_codec = codec_of(used) if used else None
    plain = None
    out: list[str] = []
    for codec in declared_codecs(data):
        if codec == used_codec:
            continue
        try:
            own = data.decode(codec, "replace")
        except (LookupError, ValueError):
            continue
        if not _THAI.search(own):
            continue  # no Thai letter, so no marking (a Chinese page read as the GBK it is)
        plain = decode_bytes(data, used) if plain is None else plain
        if own != plain and own not in out:
            out.append(own)
    return out
