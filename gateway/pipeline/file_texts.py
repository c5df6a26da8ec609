"""What a person reads in a file that is not a PDF page: pure functions over bytes.

`read_texts` gives, for one attached file, the texts the markings read
(rules/markings.py `read_classification` reads each as letter text) and what could not
be read (each an English phrase; each makes the letter at least ลับ):

* a text file as a mail client decodes it: its declared charset, a BOM (UTF-8, UTF-16),
  else UTF-8, else Windows-874; HTML (declared text/html, or named .html/.htm) as a
  client shows it (`rules.markings.html_to_text`);
* RTF as Word or WordPad shows it: control words and destinations that are not text
  (font table, colours, pictures, `{\\*...}`) dropped, `\\'xx` decoded with the code page
  of its font (`\\fcharset222` is Thai) or `\\ansicpgN` (Windows-874 when none is given),
  `\\uN` escapes;
* Word, Excel and PowerPoint files (DOCX, XLSX, PPTX) and OpenDocument files (ODT, ODS,
  ODP): the text of their XML parts, paragraph by paragraph, page headers and footers
  each a text of its own (the regulation prints the classification there);
* ZIP archives: each member's name, and each member read as above (PDFs through the same
  PDF reader as the letter's own, so within the letter's time for PDFs); at most
  `MAX_MEMBERS` members a file, `MAX_UNPACKED` bytes unpacked in all for the letter
  (`Budget`), archives within archives to `MAX_DEPTH`; an encrypted member, one past a limit, or one that unpacks to more than
  `MAX_RATIO` times its packed size (a zip bomb) is noted as not read;
* tar, gzip, bzip2 and xz files within the same limits; Word, Excel and PowerPoint
  97-2003 files scanned for runs of text (`_old_office`); 7z, RAR and the other packed
  kinds no reader here unpacks noted as not read (`_without_reader`).

Nothing is written to disk; XML is read with regular expressions (no entity expansion).
"""
from __future__ import annotations

import base64
import binascii
import bisect
import bz2
import codecs
import csv
import html
import io
import itertools
import lzma
import quopri
import re
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Callable

from gateway.pipeline import charsets, outlook, scanned_pages
from gateway.pipeline.unread_words import why_unread
from gateway.pipeline.parse_limits import MAX_PART_HEADERS
from rules.files import begins_as_message
from rules.model import reading_goes_on
from rules.names import name_from_bytes

MAX_DEPTH = 2  # an archive inside an archive is read; one level further is not
MAX_MEMBERS = 100
MAX_PARTS = 1000  # XML parts of one Word, Excel or PowerPoint file read; past them it is not certain
MAX_UNPACKED = 50 * 1024 * 1024  # bytes unpacked from one attached file in all
MAX_RATIO = 100  # unpacked/packed size of one member past which it is a bomb, not a file
RATIO_FLOOR = 1024 * 1024  # a member smaller than this unpacked is never a bomb
MAX_TEXT = 1_000_000  # characters of one text kept: its beginning and its end
MAX_RTF = 20 * 1024 * 1024
MAX_ARCHIVED_MESSAGES = 20  # for the letter: a message in an archive in a message... is bounded
MAX_RTF_TOKENS = 500_000  # ~1 s; a typed letter has tens of thousands (a Thai character is one)

PdfReader = Callable[[bytes], object]


@dataclass
class FileTexts:
    texts: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    # For the signature step (`archived_pdfs`): each PDF found inside an archive with
    # where it sits ("inner.zip/2569.pdf", the members' names from the outside in). What
    # could not be unpacked is in `unread`, and makes the letter ลับ (uncertain): its
    # signatures are then the registrar's to check, as any classified letter's.
    pdfs: list[tuple[str, bytes]] = field(default_factory=list)
    # And each signed file (`letter.pdf.p7m`, CAdES) found so, with where it sits: its
    # signature is verified as one attached to the letter is (gateway/signatures/check.py).
    signed: list[tuple[str, bytes]] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # the members being read, outermost first
    # The header blocks of the messages found inside (an `.eml` zipped): read as the
    # letter's own (parse.py `ParsedMail.inner_headers`).
    headers: list = field(default_factory=list)


@dataclass
class Budget:
    """What is left to unpack: bytes for the whole letter (every archive and office
    file in it, those in attached messages too), members for one attached file."""

    unpacked: int = MAX_UNPACKED
    members: int = MAX_MEMBERS
    pictures: int = scanned_pages.MAX_PICTURES  # page-shaped pictures read by OCR
    pictures_until: float | None = None  # time.monotonic() past which no picture is read (`scanned_pages`)
    messages: int = MAX_ARCHIVED_MESSAGES  # messages read inside archives and signed files
    # Bytes of header lines in the letter's parts and the messages it carries (each
    # part's own, a forwarded letter's, an attached or zipped .eml's), all together:
    # parse.py `PartHeadersTooLarge`. The letter's own header block is [smtp] max_header_size's.
    part_headers: int = MAX_PART_HEADERS


MAX_MIDDLE_LINES = 2_000  # short lines kept from the middle of a text cut by `ends`


def ends(text: str, keep: int = MAX_TEXT // 2) -> str:
    """A long text's beginning and end (where a marking is printed) and, from what is
    cut between them, the short lines that hold a ล: a line made only of markings counts
    anywhere (rules/markings.py), and a ลับที่สุด alone in the middle of a body of more
    than a million characters was cut with the middle (leak red team, 30 Nov 2026)."""
    if len(text) <= 2 * keep:
        return text
    middle = []
    for line in text[keep:-keep].splitlines():
        if "ล" not in line:
            continue
        # Short in letters: a marking's line may be drawn wide with decoration
        # ("=====  ลับที่สุด  =====", cut until session 33 when past 60 characters),
        # which is kept squeezed to three of each.
        if len(line.strip()) > 60:
            if len(_NOT_LETTERS.sub("", line)) > 60:
                continue
            line = _DECORATION_RUN.sub(r"\1\1\1", line)
        middle.append(line)
        if len(middle) >= MAX_MIDDLE_LINES:
            break
    return "\n".join([text[:keep], *middle, text[-keep:]])


_NOT_LETTERS = re.compile(r"[\W_]+")
_DECORATION_RUN = re.compile(r"([\W_])\1{3,}")



# --------------------------------------------------------------------------- uuencoded files

# A file uuencoded into a text (`begin 644 name` ... `end`): Thunderbird and Outlook show
# it as an attachment, in a body or in an attached text file; until session 33 it was
# never read.
_UU_BEGIN = re.compile(r"^begin[ \t]+[0-7]{3,4}[ \t]+([^\r\n]{1,255})\r?$", re.M)
_UU_END = re.compile(r"^end[ \t\r]*$", re.M)
MAX_UUENCODED = 20  # files one text carries so


def uuencoded(text: str, unread: list[str]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file uuencoded in `text`, at most MAX_UUENCODED (past them,
    a phrase in `unread`)."""
    if "begin" not in text:
        return []
    found: list[tuple[str, bytes]] = []
    at = 0
    while (m := _UU_BEGIN.search(text, at)) is not None:
        if len(found) >= MAX_UUENCODED:
            unread.append("files uuencoded in a text past the first ones")
            break
        # One search for its end (none: the file runs to the end of the text, as a
        # client reads it): a text of many `begin` lines costs its length once.
        end = _UU_END.search(text, m.end())
        found.append((m[1].strip(), _uudecoded(text[m.end():end.start() if end else len(text)])))
        at = end.end() if end else len(text)
    return found


def _uudecoded(block: str) -> bytes:
    out = bytearray()
    for line in block.splitlines():
        if not line or line in ("`", " "):
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # A line some encoder padded or trimmed: decoded by the length it says.
            try:
                out += binascii.a2b_uu(line[:1 + ((ord(line[0]) - 32) & 63) * 4 // 3 + 3].ljust(61, " "))
            except binascii.Error:
                continue
    return bytes(out)


def _uuencoded_into(text: str, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None, depth: int,
                    budget: Budget, what: str, out: FileTexts) -> None:
    """The files uuencoded in an attached text file, read as an archive's members are."""
    for name, data in uuencoded(text, out.unread):
        if len(data) > budget.unpacked:
            out.unread.append(f"{what}: a uuencoded file past the {MAX_UNPACKED // 2**20} MB read")
            continue
        budget.unpacked -= len(data)
        out.texts.append(re.sub(r"[_.\-]+", " ", name))
        _member_file(data, name, re.split(r"[/\\]", name)[-1], pdf_reader, sniff, depth, budget,
                     f"{what} uuencoded", out)


# --------------------------------------------------------------------------- text files

_SVG = "image/svg+xml"  # a drawing whose <text> a client draws: read as markup, like HTML


def _is_html(declared: str, filename: str, sniffed: str) -> bool:
    return (declared in ("text/html", _SVG) or sniffed in ("text/html", _SVG)
            or filename.endswith((".html", ".htm", ".xhtml", ".svg")))


_XML_TYPES = ("image/svg+xml", "application/xhtml+xml", "application/xml", "text/xml")
# Opened by an XML parser: a browser's, or LibreOffice's for a flat OpenDocument file.
_XML_NAMES = (".svg", ".xhtml", ".xml", ".fodt", ".fods", ".fodp", ".fodg", ".fpage")


def _is_xml(declared: str, filename: str, sniffed: str, text: str) -> bool:
    """Whether a file opens in an XML parser (a browser's for SVG and XHTML): by its
    name first (a clerk's computer opens a file by it: `notes.txt` in an editor, whatever
    libmagic makes of its content), then by its type or an XML declaration opening it."""
    name = filename.lower()
    if name.endswith(_XML_NAMES):
        return True
    if name.endswith(_TEXT_NAMES):
        return False
    return declared in _XML_TYPES or sniffed in _XML_TYPES or text.lstrip("\ufeff \t\r\n")[:5] == "<?xml"


# An HTML file's title: a browser shows it on the file's tab and in its window's title,
# as a PDF viewer shows a PDF's (read since session 39) and Word a DOCX's core title.
# Until session 56 a head's <title> was read as not shown (true of an HTML *body*, which
# no mail client titles by it): an attached page titled ลับที่สุด was ordinary and certain.
# The tag ends at the next `<` or `>`, and its text (raw text to `</title`, as the HTML
# parser reads it) at the next `</title`: each search goes forward, linear.
_TITLE_OPEN = re.compile(r"<title\b[^<>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title[\s/>]", re.IGNORECASE)
MAX_TITLES = 20  # a browser shows the first; decoys before it (in a comment) are read too


def html_titles(text: str) -> list[str]:
    """The text of each <title> of an HTML file (at most MAX_TITLES), entities decoded and
    white space collapsed as a browser's tab shows it: each read as a line alone, as a
    PDF's title is."""
    out: list[str] = []
    at = 0
    while len(out) < MAX_TITLES and (opened := _TITLE_OPEN.search(text, at)) is not None:
        closed = _TITLE_CLOSE.search(text, opened.end())
        title = " ".join(html.unescape(text[opened.end():closed.start() if closed else len(text)]).split())
        if title:
            out.append(title)
        if closed is None:
            break
        at = closed.end()
    return out


def text_file(data: bytes, charset: str | None, declared: str, filename: str, sniffed: str,
              unread: list[str] | None = None, what: str = "file") -> list[str]:
    """A text file's readings: its text, or an HTML file's (`html_readings`). What
    could not be read of it goes in `unread`, after `what`."""
    from rules.markings import html_readings

    texts = [_decoded(data, charset)]
    if charset and (saved := _decoded(data, None)) != texts[0]:
        # Saved, the file is opened by its own bytes (a BOM, UTF-8, else Windows-874)
        # whatever the mail's label said: UTF-8 sent as `charset=tis-620` reads as
        # mojibake by its label and as Thai in an editor (read by its label alone until
        # session 19). Both readings count.
        texts.append(saved)
    if (wide := charsets.utf16_without_bom(data[:8 * MAX_TEXT])) is not None:
        texts.append(wide)
    # Opened in a browser (HTML, SVG, XML), the file is read by its own declaration
    # (charsets.declared_readings): a GB18030 page declared `gbk` shows Thai there.
    texts += [own for own in charsets.declared_readings(data[:8 * MAX_TEXT], charset) if own not in texts]
    # An XML parser expands them, an HTML one (text/html) or a text editor does not.
    for text in list(texts) if _is_xml(declared, filename, sniffed, texts[0]) else ():
        if (expanded := with_internal_entities(text)) is not None:
            texts.append(expanded[0])
            if not expanded[1] and unread is not None:
                unread.append(f"{what}: {ENTITIES_PAST_LIMIT}")
    if _is_html(declared, filename, sniffed):
        titles = [] if _SVG in (declared, sniffed) or filename.endswith(".svg") else \
            list(dict.fromkeys(ends(title) for text in texts for title in html_titles(text)))
        return [ends(reading) for text in texts for reading in html_readings(text)] + titles
    if declared in ("text/enriched", "text/richtext") or filename.endswith((".etx", ".rtx")):
        texts += [enriched_text(text) for text in texts]
    if declared == "text/calendar" or filename.endswith((".ics", ".vcs")) \
            or any(t.lstrip()[:15].upper() == "BEGIN:VCALENDAR" for t in texts):
        texts += [calendar_text(text) for text in texts]
    if is_vcard(declared, filename, texts):
        texts += [vcard_text(text) for text in texts]
    if _is_json(declared, filename, sniffed):
        texts += [read for text in texts if (read := json_text(text)) is not None]
    if filename.endswith(".csv") or "text/csv" in (declared, sniffed):
        texts += [read for text in texts for read in csv_cells(text)]
    texts += [read for text in texts[:1] if (read := xps_page_text(text, unread, what)) is not None]
    return [ends(t) for text in texts for t in (text, *xml_readings(text))]


def csv_cells(text: str) -> list[str]:
    """A CSV file as Excel and Calc show it: each cell apart (joined by tabs, which the
    marking rules take for columns), for a comma and for a semicolon (Excel's separator
    where the list separator is one), quotes undone. Read as text, "ลับมาก,สำเนา" was
    one line with the marking not alone, though the sheet shows ลับมาก alone in A1: a
    ลับมาก letter sent as a CSV was ordinary and certain until session 50."""
    readings = []
    for delimiter in ",;":
        if delimiter not in text:
            continue
        try:
            rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            readings.append("\n".join("\t".join(cell.strip() for cell in row) for row in rows))
        except csv.Error:  # a cell past the csv module's size limit: each separator a column
            readings.append(text.replace(delimiter, "\t"))
    return readings


_ENRICHED_COMMAND = re.compile(r"<(/?)([A-Za-z0-9-]{1,60})>")


def enriched_text(text: str) -> str:
    """A text/enriched (RFC 1896) or text/richtext body as a client shows it: its
    formatting commands (`<bold>`, `<center>`) not shown, a <param>'s content dropped,
    `<<` a "<", and a single line break a space (n breaks in a row are n-1 lines) but
    inside <nofill>. Read as plain text until session 33, the commands glued to a
    marking (`<center><bold>ลับที่สุด</bold></center>`) hid it."""
    text = _without_params(text.replace("\r\n", "\n").replace("<<", "\x00"))
    out: list[str] = []
    nofill = 0
    at = 0
    for m in _ENRICHED_COMMAND.finditer(text):
        out.append(_enriched_lines(text[at:m.start()], nofill > 0))
        if m[2].lower() == "nofill":
            nofill = max(0, nofill + (-1 if m[1] else 1))
        elif m[2].lower() in ("center", "flushleft", "flushright", "flushboth", "paragraph", "excerpt"):
            out.append("\n")  # a block of its own
        at = m.end()
    out.append(_enriched_lines(text[at:], nofill > 0))
    return "".join(out).replace("\x00", "<")


_CALENDAR_SHOWN = ("SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "X-ALT-DESC", "CATEGORIES")
_DIRECTORY_ESCAPE = re.compile(r"\\([nN,;:\\])")
# A vCard's properties that hold no text a contact shows: pictures, sounds and keys
# (base64), and the card's own bookkeeping. Every other value is shown by Outlook's
# contact form or Thunderbird's card view, the X- ones in their "other" fields.
_VCARD_NOT_SHOWN = frozenset({"BEGIN", "END", "VERSION", "PRODID", "REV", "UID", "PHOTO", "LOGO", "SOUND",
                              "KEY", "SOURCE", "CLIENTPIDMAP", "TZ", "GEO", "KIND", "XML"})
# Values of several components (`;`) or of a list (`,`), each shown on a line or in a
# field of its own: "ใจดี;สมชาย;;;" is the surname and the given name.
_VCARD_PARTS = frozenset({"N", "ADR", "ORG", "CATEGORIES", "NICKNAME", "GENDER"})
_DIRECTORY_SPLIT = re.compile(r"(?<!\\)[;,]")
_VCARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory")


_QP_STRAY = re.compile(r"=(?![0-9A-Fa-f]{2})")


def _directory_properties(text: str):
    """Each content line of a vCard or an iCalendar/vCalendar file (RFC 2425's one
    syntax): (name, parameters, value), folded lines joined, and a quoted-printable
    value (vCard 2.1 and vCalendar 1.0, what Outlook and phones export for Thai:
    `FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=E0=B8=A5...`) decoded in its charset,
    its soft line breaks (a `=` ending the line) joined as clients join them."""
    lines = re.sub(r"\r?\n[ \t]", "", text).splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        # A parameter may quote a ":" ("ALTREP=\"cid:x\""): the value is after the first
        # colon outside quotes.
        m = re.match(r'(?:[^":]|"[^"]*")*?:', line) if '"' in line.partition(":")[0] else None
        name, _, value = (line[:m.end() - 1], ":", line[m.end():]) if m else line.partition(":")
        prop, _, params = name.partition(";")
        fields = [p.strip().upper() for p in re.findall(r'(?:[^;"]|"[^"]*")+', params)]
        if "ENCODING=QUOTED-PRINTABLE" in fields or "QUOTED-PRINTABLE" in fields:
            pieces = [value]
            while pieces[-1].endswith("=") and at < len(lines):  # a list: joined once, linear
                pieces[-1] = pieces[-1][:-1]
                pieces.append(lines[at])
                at += 1
            # A soft break a writer also folded ("=" CRLF SP) was unfolded above into an "="
            # inside the value: QP writes a real "=" as =3D, so an "=" that starts no code
            # is such a break, and dropped ("ล=ับ" would hide the marking).
            value = _QP_STRAY.sub("", "".join(pieces))
            label = next((f.partition("=")[2].strip('"') for f in fields if f.startswith("CHARSET=")), None)
            value = name_from_bytes(quopri.decodestring(value.encode("utf-8", "surrogatepass")), label)
        yield prop.strip().upper().rpartition(".")[2], fields, value


def _unescaped(value: str) -> str:
    return _DIRECTORY_ESCAPE.sub(lambda e: "\n" if e[1] in "nN" else e[1], value)


def calendar_text(text: str) -> str:
    """An invitation (text/calendar, RFC 5545, or a vCalendar 1.0 `.vcs`) as Outlook and
    Thunderbird show it: its title, place, description and categories, each a line (a
    description's own lines kept), the folding, escapes and quoted-printable undone.
    Read as its source until session 33, `SUMMARY:` glued before a marking hid it; a
    quoted-printable title (Outlook's "Save as vCalendar") was read as its `=E0=B8`
    codes until session 56."""
    from rules.markings import html_to_text

    out: list[str] = []
    for prop, _, value in _directory_properties(text):
        if prop not in _CALENDAR_SHOWN:
            continue
        if prop == "CATEGORIES":  # a list: each category a label of its own
            out += [_unescaped(item) for item in _DIRECTORY_SPLIT.split(value)]
            continue
        value = _unescaped(value)
        out.append(html_to_text(value) if prop == "X-ALT-DESC" else value)
    return "\n".join(out)


def is_vcard(declared: str, filename: str, texts: list[str]) -> bool:
    return (declared in _VCARD_TYPES or filename.lower().endswith((".vcf", ".vcard"))
            or any(t.lstrip("\ufeff \t\r\n")[:11].upper() == "BEGIN:VCARD" for t in texts))


def vcard_text(text: str) -> str:
    """A contact card (vCard 2.1, 3.0 or 4.0, `.vcf`) as Outlook's contact form and
    Thunderbird's card show it: each value a line, a name's or an address's parts and
    a list's items each a line, escapes and quoted-printable undone, pictures and keys
    left out. Until session 56 a card was read as its source, `FN:` or `NOTE:` glued
    before the marking: a ลับที่สุด card was taken with a 250."""
    out: list[str] = []
    for prop, fields, value in _directory_properties(text):
        if prop in _VCARD_NOT_SHOWN or not value or "ENCODING=B" in fields or "ENCODING=BASE64" in fields:
            continue
        parts = _DIRECTORY_SPLIT.split(value) if prop in _VCARD_PARTS else [value]
        out += [_unescaped(part) for part in parts if part.strip()]
    return "\n".join(out)


def _without_params(text: str) -> str:
    """`<param>...</param>` dropped, one pass (an unclosed one runs to the end)."""
    folded = text.lower()
    out, at = [], 0
    while (start := folded.find("<param>", at)) >= 0:
        end = folded.find("</param>", start)
        out.append(text[at:start])
        if end < 0:
            return "".join(out)
        at = end + len("</param>")
    out.append(text[at:])
    return "".join(out)


def _enriched_lines(text: str, nofill: bool) -> str:
    return text if nofill else re.sub(r"\n+", lambda m: " " if len(m[0]) == 1 else "\n" * (len(m[0]) - 1), text)


def _decoded(data: bytes, charset: str | None) -> str:
    text = charsets.decode_bytes(data[:4 * MAX_TEXT] if len(data) > 8 * MAX_TEXT else data, charset)
    if len(data) > 8 * MAX_TEXT:
        text += "\n" + charsets.decode_bytes(data[-4 * MAX_TEXT:], charset)
    return text


# --------------------------------------------------------------------------- RTF

_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)", re.S)
# Destinations whose text is not shown.
_RTF_HIDDEN = {b"fonttbl", b"colortbl", b"stylesheet", b"info", b"pict", b"object", b"datafield",
               b"themedata", b"colorschememapping", b"latentstyles", b"datastore", b"xmlnstbl",
               b"listtable", b"listoverridetable", b"rsidtbl", b"generator", b"bkmkstart", b"bkmkend",
               b"fldinst", b"filetbl", b"revtbl", b"pgptbl", b"mmathPr", b"wgrffmtfilter", b"nonshppict"}
_RTF_BREAKS = {b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n",
               b"tab": "\t", b"cell": "\t", b"emspace": "\u2003", b"enspace": "\u2002", b"qmspace": "\u2005",
               b"emdash": "—", b"endash": "–", b"lquote": "‘", b"rquote": "’", b"ldblquote": "“",
               b"rdblquote": "”", b"bullet": "•"}
# \fcharsetN -> code page (the ones Thai senders' documents carry, and Western ones).
_CHARSETS = {0: "cp1252", 222: "cp874", 128: "cp932", 134: "cp936", 136: "cp950", 129: "cp949",
             161: "cp1253", 162: "cp1254", 177: "cp1255", 178: "cp1256", 186: "cp1257",
             204: "cp1251", 238: "cp1250", 163: "cp1258"}
_FONT_CHARSET = re.compile(rb"\\f(\d{1,6})[^;{}\\]{0,64}(?:\\[a-z]{1,32}-?\d{0,10}[^;{}\\]{0,64}){0,8}?\\fcharset(\d{1,3})")


def _codec_of(page: int | str) -> str:
    name = f"cp{page}" if isinstance(page, int) else page
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp874"


def rtf_text(data: bytes) -> str:
    """The text Word or WordPad shows of an RTF file (see the module's docstring)."""
    return _rtf(data)[0]


def _rtf(data: bytes) -> tuple[str, bool]:
    """(rtf_text, whether all of it was read: at most MAX_RTF_TOKENS tokens)."""
    data = data.removeprefix(_UTF8_BOM)  # is_rtf: not a character of the document
    complete = len(data) <= MAX_RTF
    data = data[:MAX_RTF]
    ansicpg = re.search(rb"\\ansicpg(\d{1,5})", data[:4096])
    default = _codec_of(int(ansicpg.group(1))) if ansicpg else "cp874"
    fonts: dict[int, str] = {}
    table = data.find(b"\\fonttbl")
    if table >= 0:
        for m in _FONT_CHARSET.finditer(data, table, table + 65536):
            charset = int(m.group(2))
            if charset in _CHARSETS and charset != 0:
                fonts[int(m.group(1))] = _CHARSETS[charset]
            elif charset == 0:
                fonts[int(m.group(1))] = default
    out: list[str] = []
    pending = bytearray()  # \'xx bytes, decoded together (a multi-byte code page)
    # Group state: (hidden, font codec, \ucN)
    stack: list[tuple[bool, str, int]] = []
    hidden, codec, uc = False, default, 1
    skip = 0  # characters to skip after a \uN (its ANSI fallback)
    first_in_group = False
    # Shown though inside a destination that is not (session 33): a shape's text box
    # ({\shptxt} in {\*\shpinst}), the text of a WordArt watermark ({\sv} after
    # {\sn gtextUNICODE}), the Unicode of a {\upr} ({\*\ud}); and \binN's N bytes,
    # which are data, not a brace or text (a "{" there hid the rest of the document).
    # Since session 50 also a comment ({\*\annotation}, in Word's margin and Writer's, as
    # a DOCX's comments are read) and an older drawing's text box ({\dptxbxtext} in
    # {\*\do}, which Word and Writer draw on the page).
    after_star = False
    property_name: bytearray | None = None  # the text of a {\sn ...} group being read
    last_property = b""
    binary_end = -1
    apart: list[int] = []  # depths of the comments and text boxes open
    # A list level's label ({\leveltext} in {\*\listtable}): shown before each paragraph
    # of that level, a line of its own (session 51: Word writes the label again as
    # {\listtext}, which was read; a writer that does not, LibreOffice still shows it).
    labels: list[tuple[int, int]] = []  # (depth, where in `out` its text starts)

    def flush() -> None:
        if pending:
            if not hidden:
                out.append(bytes(pending).decode(codec, "replace"))
            pending.clear()

    for count, m in enumerate(_RTF_TOKEN.finditer(data)):
        if count >= MAX_RTF_TOKENS:
            complete = False
            break
        if m.start() < binary_end:
            continue
        word, arg, hexbyte, symbol, brace, plain = m.groups()
        star_before, after_star = after_star, False
        if property_name is not None:
            if plain is not None:
                property_name += plain.strip()
            elif brace == b"}":
                last_property, property_name = bytes(property_name), None
        if hexbyte is not None:
            if skip:
                skip -= 1
                continue
            pending.append(int(hexbyte, 16))
            first_in_group = False
            continue
        flush()
        if brace is not None:
            skip = 0
            if brace == b"{":
                if len(stack) < 256:
                    stack.append((hidden, codec, uc))
                first_in_group = True
            else:
                if stack:
                    hidden, codec, uc = stack.pop()
                while apart and len(stack) < apart[-1]:
                    apart.pop()
                    out.append("\n")
                while labels and len(stack) < labels[-1][0]:
                    _, at = labels.pop()
                    label = "".join(out[at:])
                    del out[at:]
                    out.append("\n" + _level_text(label) + "\n")
                first_in_group = False
            continue
        if word is not None:
            if skip:
                skip -= 1
                continue
            if word == b"bin" and arg is not None:
                binary_end = m.end() + max(0, int(arg))
            if first_in_group and word in _RTF_HIDDEN:
                hidden = True
            elif (first_in_group and (word in (b"shptxt", b"dptxbxtext")
                                      or (word == b"sv" and last_property.startswith(b"gtext")))) \
                    or (star_before and word in (b"ud", b"annotation")):
                hidden = stack[-1][0] if star_before and stack else False  # as around its group
                if star_before and not hidden:
                    out.append("\n")  # apart from the {\upr} text for older readers before it
                if word in (b"annotation", b"dptxbxtext") and not hidden:
                    apart.append(len(stack))  # in the margin or a box: a line of its own
            elif first_in_group and word == b"leveltext" and len(labels) < 1000:
                hidden = False
                labels.append((len(stack), len(out)))
            elif first_in_group and word == b"sn":
                property_name = bytearray()
            elif word == b"f" and arg is not None:
                codec = fonts.get(int(arg), default)
            elif word == b"uc" and arg is not None:
                uc = max(0, min(int(arg), 10))
            elif word == b"u" and arg is not None:
                value = int(arg)
                if value < 0:
                    value += 65536
                if not hidden and 0 <= value <= 0x10FFFF:
                    out.append(chr(value) if not 0xD800 <= value <= 0xDFFF else "\ufffd")
                skip = uc
            elif word in _RTF_BREAKS and not hidden:
                out.append(_RTF_BREAKS[word])
            first_in_group = False
            continue
        if symbol is not None:
            if symbol == b"*" and first_in_group:
                hidden = True  # {\* ...}: an ignorable destination
                after_star = True
            elif skip:
                skip -= 1
            elif not hidden:
                if symbol in (b"\\", b"{", b"}"):
                    out.append(symbol.decode())
                elif symbol == b"~":
                    out.append("\u00a0")
                elif symbol in (b"\n", b"\r"):
                    out.append("\n")
            first_in_group = False
            continue
        if plain is not None:
            first_in_group = False
            if skip:
                drop = min(skip, len(plain))
                plain, skip = plain[drop:], skip - drop
            if plain and not hidden:
                out.append(plain.decode(codec, "replace"))
    flush()
    return ends("".join(out)), complete


def _level_text(text: str) -> str:
    """A list level's label as shown: its first character is its length (`\\'06`), the
    codes below 0x20 stand for the levels' numbers, a `;` ends it."""
    if text and ord(text[0]) < 0x100:
        text = text[1:]
    text = text.split(";", 1)[0] if ";" in text else text
    return " ".join("".join(c if c >= " " else " " for c in text).split())


# --------------------------------------------------------------------------- XML documents

_XML_ENTITY = re.compile(r"&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|amp|lt|gt|quot|apos);")


def _xml_unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        name = m.group(1)
        if name.startswith("#"):
            try:
                value = int(name[2:], 16) if name[1:2] in "xX" else int(name[1:])
                return chr(value) if 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else ""
            except ValueError:
                return ""
        return {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}[name]

    return _XML_ENTITY.sub(one, text)


_TAG = re.compile(r"<[^<>]*>")  # never past the next "<": linear on hostile XML


# An XPS or OpenXPS page (`Documents/1/Pages/1.fpage`: Windows' "Microsoft XPS Document
# Writer" prints any document to one) keeps its text in an attribute, each run a
# `<Glyphs OriginX=.. OriginY=.. UnicodeString="ลับมาก"/>`, placed anywhere in the page's
# markup: its element text is empty, and a ลับมาก XPS read as no marking (session 43's
# red team). Read as the viewer lays it out: runs on one baseline a line, top to bottom.
_GLYPHS = re.compile(r"<(?:[\w.-]{1,64}:)?Glyphs\b[^<>]*>")
_GLYPHS_ATTRIBUTE = re.compile(r"""\b(UnicodeString|Indices|OriginX|OriginY|FontRenderingEmSize)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")
_MAX_GLYPHS = 50_000  # runs of one page read (~1.5 s): a printed page holds a few thousand
GLYPHS_PAST_LIMIT = "an XPS page of more runs of text than are read"
GLYPHS_WITHOUT_TEXT = "an XPS page that draws text by glyph index alone, without its Unicode"


def xps_page_text(text: str, unread: list[str] | None = None, what: str = "file") -> str | None:
    """An XPS page's text as it is laid out (`_GLYPHS`); None when it draws no glyphs.
    A page of more than _MAX_GLYPHS runs is said in `unread` (its last runs may be
    its head)."""
    if "Glyphs" not in text:
        return None
    runs: list[tuple[float, float, float, str]] = []
    tags = _GLYPHS.finditer(text)
    unmapped = False
    for tag in itertools.islice(tags, _MAX_GLYPHS):
        values = {m[1]: m[2] if m[2] is not None else m[3] for m in _GLYPHS_ATTRIBUTE.finditer(tag[0])}
        if values.get("UnicodeString") is None and values.get("Indices"):
            # The spec lets a run draw its glyphs by index alone: shown, with no text
            # behind it (as a PDF font without /ToUnicode). Its words cannot be told.
            unmapped = True
            continue
        shown = _xml_unescape(values.get("UnicodeString") or "")
        shown = shown[2:] if shown.startswith("{}") else shown  # XPS's escape for a text opening with "{"
        if not shown.strip():
            continue
        try:
            x, y = float(values.get("OriginX") or 0), float(values.get("OriginY") or 0)
            size = float(values.get("FontRenderingEmSize") or 12)
        except ValueError:
            x, y, size = 0.0, float(len(runs)), 12.0
        runs.append((y, x, size, shown))
    if next(tags, None) is not None and unread is not None:
        unread.append(f"{what}: {GLYPHS_PAST_LIMIT}")
    if unmapped and unread is not None:
        unread.append(f"{what}: {GLYPHS_WITHOUT_TEXT}")
    if not runs:
        return None
    lines: list[list[tuple[float, str]]] = []
    baseline = None
    for y, x, size, shown in sorted(runs):
        if baseline is None or y - baseline > size / 2:  # a new baseline
            lines.append([])
            baseline = y
        lines[-1].append((x, shown))
    return "\n".join(" ".join(shown for _x, shown in sorted(line)) for line in lines)


_JSON_BODY = re.compile(r'(?:[^"\\\n]|\\.)*+')  # a string literal's inside, to its end or a line's


def _json_literals(text: str) -> list[str]:
    """The string literals of a JSON text that does not parse, in one pass: a literal
    left open is skipped to where its scan ended (restarted from each quote inside it,
    200,000 escaped quotes took minutes)."""
    out: list[str] = []
    at = text.find('"')
    while at >= 0 and len(out) < 1_000_000:
        end = _JSON_BODY.match(text, at + 1).end()
        if text[end:end + 1] == '"':
            out.append(_json_string(text[at:end + 1]))
        at = text.find('"', end + 1)
    return out


def _json_string(literal: str) -> str:
    import json

    if "\\" not in literal:
        return literal[1:-1]
    try:
        return json.loads(literal)
    except ValueError:
        return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), literal[1:-1])


_JSON_NAMES = (".json", ".geojson", ".jsonl", ".ndjson", ".jsonld")


def _is_json(declared: str, filename: str, sniffed: str) -> bool:
    """A JSON file by its name or type (`application/json`, any `+json`, `x-ndjson`)."""
    return filename.lower().endswith(_JSON_NAMES) or any(
        kind == "application/json" or kind.endswith("+json") or kind == "application/x-ndjson"
        for kind in (declared, sniffed))


def json_text(text: str) -> str | None:
    """A JSON file's strings, keys and values, a line each, as a viewer (Firefox's, an
    editor's pretty-printer) shows them: `"\\u0e25\\u0e31\\u0e1a"` is ลับ there. None when
    it is no JSON; its `\\uXXXX` escapes decoded then (fail closed: one bad comma must not
    hide a ลับมาก). Until session 43 a .json file was not read at all."""
    import json

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # Each string literal a line, as a lenient viewer still shows them.
        literals = _json_literals(text)
        return "\n".join(literals) if literals else None
    lines: list[str] = []
    stack = [data]
    while stack and len(lines) < 1_000_000:
        item = stack.pop()
        if isinstance(item, str):
            lines.append(item)
        elif isinstance(item, dict):
            for key, value in reversed(list(item.items())):
                stack.append(value)
                stack.append(key)
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return "\n".join(lines)




# An XML document's own entities (`<!DOCTYPE svg [<!ENTITY m 'ลับมาก'>]>` ... `&m;`):
# a browser opening an SVG or XHTML file expands them, as every XML parser does.
_DOCTYPE_SUBSET_OPEN = re.compile(r"<!DOCTYPE\s[^\[>]*\[")
_SUBSET_CLOSE = re.compile(r"\]\s*>")
_ENTITY_DECLARATION = re.compile(r"<!ENTITY\s+(?P<name>[^\s%'\"<>&;]+)\s+(?P<quote>['\"])(?P<value>[^'\"]*)(?P=quote)\s*>")
_ENTITY_REFERENCE = re.compile(r"&(?P<name>[^\s%'\"<>&;#]+);")
MAX_EXPANDED = 1_000_000  # characters an expansion may add: a "billion laughs" file stops there
_ENTITY_DEPTH = 8  # entities within entities: deeper is a hostile file's, left as it stands


ENTITIES_PAST_LIMIT = "XML entities that expand past the size read"


def with_internal_entities(text: str) -> tuple[str, bool] | None:
    """(`text` with the general entities its internal DTD subset declares expanded, the
    subset itself left out; whether every reference was expanded), None when it
    declares none. Until session 42 an SVG's `<text>&m;</text>` was read as "&m;" where
    a browser draws ลับมาก (session 41's formats red team). An entity's value may use
    another's, to `_ENTITY_DEPTH` deep. Every character an expansion makes, inside
    values too, counts against MAX_EXPANDED; past it (a "billion laughs" file) the
    references left stay as they are, and the text is not whole: what it shows cannot be
    told, and the caller says so (`ENTITIES_PAST_LIMIT`)."""
    if "<!ENTITY" not in text[:8 * MAX_TEXT] or (span := _internal_subset(text)) is None:
        return None
    declared: dict[str, str] = {}
    for entity in _ENTITY_DECLARATION.finditer(text, span[1], span[2]):
        declared.setdefault(entity["name"], entity["value"])  # XML: the first declaration binds
    if not declared:
        return None
    budget = [MAX_EXPANDED]
    values: dict[str, str | None] = {}

    def value(name: str, depth: int) -> str | None:
        if name not in values:
            values[name] = None  # while it is expanded: a reference to itself is a loop
            values[name] = _ENTITY_REFERENCE.sub(lambda ref: refer(ref, depth + 1), declared[name])
        return values[name]

    def refer(ref: re.Match, depth: int) -> str:
        if ref["name"] not in declared:
            return ref[0]  # a name the file does not declare: shown as written
        out = value(ref["name"], depth) if depth <= _ENTITY_DEPTH and budget[0] > 0 else None
        if out is None or len(out) > budget[0]:
            budget[0] = -1  # not whole
            return ref[0]
        budget[0] -= len(out)
        return out

    rest = text[:span[0]] + text[span[3]:]
    expanded = _ENTITY_REFERENCE.sub(lambda ref: refer(ref, 0), rest)
    return expanded, budget[0] >= 0


def _internal_subset(text: str) -> tuple[int, int, int, int] | None:
    """(where the document type declaration starts, where its internal subset's text
    starts and ends, where the declaration ends) of the first `<!DOCTYPE name [...]>`
    (a document has one, before its root), or None. Searched once from the first
    `<!DOCTYPE`: a pattern tried from each of 20,000 of them read to the text's end
    from every one (20 s for 240 KB, session 42's second red team)."""
    start = text.find("<!DOCTYPE")
    opened = _DOCTYPE_SUBSET_OPEN.match(text, start) if start >= 0 else None
    if opened is None:
        return None
    closed = _SUBSET_CLOSE.search(text, opened.end())
    if closed is None or "]" in text[opened.end():closed.start()]:
        return None
    return start, opened.end(), closed.start(), closed.end()


def _xml_codec(label: str) -> str:
    """Python's codec for an XML declaration's encoding (LibreOffice honours
    windows-874 and TIS-620 there; read as UTF-8 until session 33); UTF-8 when unknown."""
    name = {"windows-874": "cp874", "x-windows-874": "cp874", "tis620": "tis-620"}.get(label.lower(), label)
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return "utf-8-sig"
    return "utf-8-sig" if codec in ("utf-8", "utf-16", "utf-16-le", "utf-16-be") else codec


def _without_comments(doc: str) -> str:
    """XML comments and processing instructions out, as a parser leaves them out of the
    text: `<w:t>ลับ<!--x-->ที่สุด</w:t>` read ลับ until session 33. One pass; an
    unclosed one is left as it is."""
    if "<!--" not in doc and doc.find("<?", 1) < 0:  # the declaration at 0 is no reason to look
        return doc
    out, at = [], 0
    for m in re.finditer(r"<!--|<\?", doc):
        if m.start() < at:
            continue
        end = doc.find("-->" if m[0] == "<!--" else "?>", m.end())
        if end < 0:
            break
        out.append(doc[at:m.start()])
        at = end + (3 if m[0] == "<!--" else 2)
    out.append(doc[at:])
    return "".join(out)


def _xml_doc(xml: bytes) -> str:
    """An XML part as the text an XML parser reads: UTF-16 too (OPC allows it, and Word
    and LibreOffice open it), CDATA sections as escaped text. Until session 14 a part
    saved as UTF-16, or a `<w:t><![CDATA[ลับมาก]]></w:t>`, read as no text."""
    if xml[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        doc = xml.decode("utf-16", "replace")
    elif xml[:2] in (b"<\0", b"\0<"):  # UTF-16 without its byte order mark
        doc = xml.decode("utf-16-le" if xml[:1] == b"<" else "utf-16-be", "replace")
    else:
        declared = charsets.XML_ENCODING.match(xml[:200])
        codec = _xml_codec(declared[1].decode("ascii")) if declared else "utf-8-sig"
        doc = xml.decode(codec, "replace")
    doc = _without_comments(doc)
    if "<![CDATA[" not in doc:
        return doc
    out, at = [], 0
    while (start := doc.find("<![CDATA[", at)) >= 0:
        end = doc.find("]]>", start)
        end = len(doc) if end < 0 else end
        out += [doc[at:start], doc[start + 9:end].replace("&", "&amp;").replace("<", "&lt;")]
        at = end + 3
    out.append(doc[at:])
    return "".join(out)


_SPACE_COUNT = re.compile(r"""[\s:]c\s*=\s*["']\s*(\d{1,6})""")
MAX_SPACES = 80  # of one `<text:s text:c>`: a line is not wider


def _break_shown(tag: re.Match) -> str:
    """What a break or blank element of a document's XML shows: a tab (Word's `w:tab`
    and its alignment tab `w:ptab`, ODF's `text:tab`), a line break (`w:br`, `w:cr`,
    `text:line-break`), or ODF's run of `c` spaces (`<text:s text:c="20"/>`). Until
    session 42 a `w:cr` and a `w:ptab` were a space, and `text:s` one space whatever its
    count: a head line's columns (rules/markings.py `_cells`) ran together, and a
    ลับที่สุด between them was no marking."""
    name = tag[0][1:].split(None, 1)[0].rstrip("/>").split(":")[-1]
    if name in ("tab", "ptab"):
        return "\t"
    if name in ("br", "cr", "line-break"):
        return "\n"
    if name == "s" and (count := _SPACE_COUNT.search(tag[0])):
        return " " * min(int(count[1]), MAX_SPACES)
    return " "


def _xml_text(xml: bytes | str, paragraph: str, breaks: str, text_tags: str | None = None) -> str:
    """The text of an XML part (bytes, or a part `_xml_doc` already read), a line per
    paragraph: `paragraph` the regex of a paragraph's end tag, `breaks` that of tags
    shown as a line break or a tab, `text_tags` (if given) the element whose content
    alone is text (w:t, a:t). Every pattern stops at the next "<" (XML escapes it in
    text): linear in the part's size."""
    doc = xml if isinstance(xml, str) else _xml_doc(xml)
    doc = re.sub(paragraph, "\n", doc)
    doc = re.sub(breaks, _break_shown, doc)
    if text_tags:
        # An attribute may hold ">" (`w:foo="a>b"`: the text after it was lost).
        keep = re.compile(rf"""<(?:{text_tags})(?:\s(?:[^<>"']|"[^"<]*"|'[^'<]*')*)?>([^<]*)<|(\n)|(\t)""")
        doc = "".join(m.group(1) or m.group(2) or m.group(3) or "" for m in keep.finditer(doc))
    else:
        doc = _TAG.sub("", doc)
    return ends(_xml_unescape(doc))


# Word's watermark (Design > Watermark, "ลับ" across every page) is a VML shape in the
# page header whose text is the `string` attribute of its v:textpath, not a w:t: it was
# not read, and a letter whose only marking was its watermark was registered in plain.
_TEXTPATH = re.compile(r"""<v:textpath\b[^<>]*?\sstring\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")


# An element by its local name, whatever prefix its namespace has in this part (or none,
# as the default namespace): Word and LibreOffice read `<ns0:p>`, `<p xmlns=...>` as they
# read `<w:p>`; until session 33 only the usual prefixes (w:, text:, a:) were read, and a
# document saved with another was read as no text.
_NS = r"(?:[\w.-]{1,64}:)?"


_SYMBOL = re.compile(r"""<({_NS})sym\b[^<>]*?\bchar\s*=\s*["']([0-9A-Fa-f]{{1,6}})["'][^<>]*>""".format(_NS=_NS))


def _symbols(xml: bytes) -> bytes:
    """Word's <w:sym w:char="0E25"/>, a character typed from Insert > Symbol, as the
    text run it shows (a symbol font's F0xx as xx)."""
    def one(m: re.Match) -> str:
        code = int(m[2], 16)
        code = code - 0xF000 if 0xF000 <= code <= 0xF0FF else code
        char = chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else ""
        return f"<{m[1]}t>{html.escape(char)}</{m[1]}t>"
    return _SYMBOL.sub(one, _xml_doc(xml)).encode("utf-8")


def _word_xml(xml: bytes, deleted: bool = False) -> str:
    """A Word part's text, a line per paragraph; with `deleted`, its tracked deletions
    (`w:delText`) where they stand, as Word shows them with All Markup."""
    if b"sym" in xml or b"s\0y\0m" in xml:
        xml = _symbols(xml)
    # A ruby's annotation (<w:rt>, drawn above its base) ends a line of its own.
    # `<w:tab ...></w:tab>` is a tab too, as Word reads it.
    text = _xml_text(xml, rf"</{_NS}(?:p|rt)>", rf"<{_NS}(?:tab|ptab|br|cr)\b[^<>]*>",
                     rf"{_NS}(?:t|delText)" if deleted else rf"{_NS}t")
    if b"textpath" not in xml and b"t\0e\0x\0t\0p\0a\0t\0h" not in xml:
        return text
    drawn = [_xml_unescape(m.group(1) or m.group(2) or "")
             for m in _TEXTPATH.finditer(_xml_doc(xml))]
    # Each drawn text a line of its own, before the part's paragraphs: a watermark is
    # read as a line made only of markings, wherever the page has it.
    return "\n".join([*(d for d in drawn if d.strip()), text])


def _slide_xml(xml: bytes) -> str:
    return _xml_text(xml, rf"</{_NS}p>", rf"<{_NS}(?:br|tab)\b[^<>]*/>", rf"{_NS}t")


def _sheet_strings(xml: bytes) -> str:
    # A cell's <v> too: a formula's cached value (`t="str"`) is what Excel shows.
    return _xml_text(xml, rf"</{_NS}(?:si|is|c)>", rf"<{_NS}br\b[^<>]*/>", rf"{_NS}[tv]")


def _sheet_head_foot(xml: bytes) -> list[str]:
    """A sheet's printed header and footer (&L/&C/&R sections, & codes dropped: a
    font `&"Angsana New,Bold"`, a size `&16`, a colour `&KFF0000` or a theme colour
    `&K01+000`, which until session 38 read as "FF0000ลับที่สุด", no marking)."""
    doc = _xml_doc(xml)
    out = []
    for m in re.finditer(rf"<{_NS}(?:odd|even|first)(?:Header|Footer)(?:\s[^<>]*)?>([^<]*)<", doc):
        text = _xml_unescape(m.group(1))
        # Only &L, &C and &R start a section (a line of its own); a font, size, colour or
        # bold code inside one is formatting, shown on the same line: `ลั&Kffffffบที่สุด`
        # read as "ลั" and "บที่สุด" on two lines, `ลับ&Bมาก` as ลับ (session 38's review).
        text = _HEAD_FOOT_CODE.sub(lambda t: {"&&": "&", "&L": "\n", "&C": "\n", "&R": "\n"}.get(t.group(0), ""),
                                   text)
        out.append(text)
    return out


# Excel's header and footer codes: a font ("name,style"), a size, a colour (6 hex digits,
# or a theme colour: 2 hex digits, a sign, 3 digits), the others a letter each, && an "&".
_HEAD_FOOT_CODE = re.compile(
    r'&"[^"]*"|&[0-9]+|&K(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{2}[+-][0-9]{3})|&[LCRPNDTFAZGBIUSEXYK&]')


def _odf_xml(xml: bytes | str) -> str:
    return _xml_text(xml, rf"</{_NS}(?:p|h|ruby-base)>", rf"<{_NS}(?:tab|line-break|s)\b[^<>]*/>")


# --------------------------------------------------------------------------- shown beside the text

# What an office application shows a reader by default beside the document's text
# (session 37; until then each was read as no marking, and a letter marked only there
# was filed as ordinary, in plain): Word's comments and tracked deletions, Excel's sheet
# tabs, notes and threaded comments, PowerPoint's comments, OpenDocument's comments,
# tracked deletions and sheet names. Each comment, deletion or name is a text of its
# own, as a page is (a marking starting it counts); past MAX_MEMBERS - 1 of a kind in a
# part, the rest are one text, a line each. Each element is found in one pass over the
# part (none of them nests in itself): linear on hostile XML.


def _holds(xml: bytes, word: str) -> bool:
    """Whether an XML part (UTF-8 or UTF-16) may hold `word`: a cheap look before a pass."""
    return any(word.encode(codec) in xml for codec in ("utf-8", "utf-16-le", "utf-16-be"))


def _element(name: str) -> re.Pattern:
    """The start tag of element `name` (a regex), whatever its prefix; group 1 its name."""
    return re.compile(rf"<({_NS}(?:{name}))(?=[\s/>])[^<>]*>")


def _blocks(doc: str, start: re.Pattern) -> list[tuple[str, str]]:
    """(start tag, content) of each element `start` matches, in one pass; a self-closed
    one holds nothing, an unclosed one runs to the end of the part."""
    found: list[tuple[str, str]] = []
    at = 0
    while (m := start.search(doc, at)) is not None:
        at = m.end()
        if m[0].endswith("/>"):
            continue
        end = doc.find(f"</{m[1]}>", at)
        found.append((m[0], doc[at:end if end >= 0 else len(doc)]))
        if end < 0:
            break
        at = end
    return found


def _each(texts: list[str]) -> list[str]:
    """Each text apart (blank ones left out); past MAX_MEMBERS - 1, the rest one text."""
    texts = [t for t in texts if t.strip()]
    if len(texts) < MAX_MEMBERS:
        return texts
    return [*texts[:MAX_MEMBERS - 1], "\n".join(texts[MAX_MEMBERS - 1:])]


def _part(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


_WORD_DELETION = _element("del")
_WORD_COMMENT = _element("comment")


def _word_texts(xml: bytes) -> list[str]:
    """A Word part (the body, a header, a note, a comment) as Word shows it: its text,
    and when it holds tracked deletions, its text with them where they stand (All
    Markup, Word's default; LibreOffice shows them too) and each deletion apart (shown
    struck through in its colour: "บันทึกข้อความ" then a deleted ลับที่สุด reads as one
    word glued)."""
    text = _word_xml(xml)
    if not _holds(xml, "delText"):
        return [text]
    deletions = [_word_xml(_part(inner), deleted=True) for _, inner in _blocks(_xml_doc(xml), _WORD_DELETION)]
    return [text, _word_xml(xml, deleted=True), *_each(deletions)]


def _word_comments(xml: bytes) -> list[str]:
    """Word's comments (word/comments.xml: shown in the margin beside the text), each
    a text of its own."""
    found = _blocks(_xml_doc(xml), _WORD_COMMENT)
    if not found:  # no w:comment where one is expected: the part read whole
        return _word_texts(xml)
    return _each([t for _, inner in found for t in _word_texts(_part(inner))])


_SHEET_NAME = re.compile(rf"""<{_NS}sheet(?=[\s/>])[^<>]*?\sname\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_SHEET_COMMENT = _element("comment|threadedComment")


def _sheet_names(xml: bytes) -> list[str]:
    """The name of each sheet of a workbook (xl/workbook.xml): Excel shows it on the
    sheet's tab, always; a hidden sheet's too (fail closed)."""
    if not _holds(xml, "sheet"):
        return []
    return _each([_xml_unescape(m[1] if m[1] is not None else m[2]) for m in _SHEET_NAME.finditer(_xml_doc(xml))])


def _sheet_comments(xml: bytes) -> list[str]:
    """A sheet's notes (xl/commentsN.xml, `<comment><text>`: shown beside the cell) and
    threaded comments (xl/threadedComments/: `<threadedComment><text>`), each a text."""
    found = _blocks(_xml_doc(xml), _SHEET_COMMENT)
    if not found:
        return [_elements_text(xml)]
    # (A text's end tag is not a paragraph's: the text before it would lose its "<".)
    return _each([_xml_text(inner, rf"</{_NS}si>", rf"<{_NS}br\b[^<>]*/>", rf"{_NS}(?:t|text)")
                  for _, inner in found])


_SLIDE_COMMENT = _element("cm")
_SECTION_NAME = re.compile(rf"""<{_NS}section(?=[\s/>])[^<>]*?\sname\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")


def _section_names(xml: bytes) -> list[str]:
    """The names of a presentation's sections (`p14:section` in ppt/presentation.xml),
    shown as headings among the slides in Normal view."""
    if not _holds(xml, "section"):
        return []
    return _each([_xml_unescape(m[1] if m[1] is not None else m[2]) for m in _SECTION_NAME.finditer(_xml_doc(xml))])


def _slide_comments(xml: bytes) -> list[str]:
    """A slide's comments (ppt/comments/: `<p:cm><p:text>`, or PowerPoint 365's
    `<p188:cm>` with its replies, a:t in a text body), each a text of its own."""
    found = _blocks(_xml_doc(xml), _SLIDE_COMMENT)
    if not found:
        return [_elements_text(xml)]
    return _each([_xml_text(inner, rf"</{_NS}p>", rf"<{_NS}(?:br|tab)\b[^<>]*/>",
                            rf"{_NS}(?:t|text)") for _, inner in found])


# A comment: OpenDocument's office:annotation (and Word 2003 XML's aml:annotation of
# type Word.Comment; its insertions and deletions, aml:annotations too, stay in the text).
_ANNOTATION = re.compile(rf"""<({_NS}annotation)(?=[\s/>])(?![^<>]*\btype\s*=\s*["']Word\.(?!Comment\b))[^<>]*>""")
_TRACKED_CHANGES = _element("tracked-changes")
_CHANGED_REGION = _element("changed-region")
_ODF_DELETION = _element("deletion")
_CHANGE_INFO = _element("change-info")
_ID = re.compile(r"""\s(?:[\w.-]{1,64}:)?id\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_CHANGE_MARK = re.compile(r"""<{_NS}change\s[^<>]*?\bchange-id\s*=\s*(?:"([^"<]*)"|'([^'<]*)')[^<>]*>""".format(
    _NS=_NS))
_ODF_PARAGRAPH_START = re.compile(rf"<{_NS}(?:p|h)(?=[\s/>])[^<>]*>")
_ODF_PARAGRAPH_END = re.compile(rf"</{_NS}(?:p|h)>")
_TABLE_OR_PAGE_NAME = re.compile(
    rf"""<{_NS}(?:table|page)(?=[\s/>])[^<>]*?\s{_NS}name\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
# An annotation's author and date stand on lines of their own, as LibreOffice draws them.
_ANNOTATION_FIELD_END = re.compile(rf"</{_NS}(?:creator|date|initials|sender-initials)>")


def _odf_body(xml: bytes) -> list[str]:
    """An OpenDocument part's body as LibreOffice shows it: its text, a line per
    paragraph, with its comments (office:annotation, in the margin) and its tracked
    changes (text:tracked-changes, kept at the start of the body) taken out, then each
    comment a text of its own (its author and date a line each), the text with each
    tracked deletion where it stands (LibreOffice shows them struck through), each
    deletion apart, and the names of its sheets (table:table, shown on their tabs) and
    of its pages (draw:page: a drawing's page tabs). Until session 37 a comment and a
    deletion were read glued to their author and date ("สมชาย2026-12-01T10:00:00ลับที่สุด"),
    and a name not at all."""
    names = _holds(xml, "name")
    comments = _holds(xml, "annotation")
    changes = _holds(xml, "tracked-changes")
    if not (comments or changes or names):
        return [_odf_xml(xml)]
    doc = _xml_doc(xml)
    if not (comments or changes):
        return [_odf_xml(doc), *_odf_names(doc)]
    notes: list[str] = []
    if comments:
        notes = _each([_odf_xml(_ANNOTATION_FIELD_END.sub("\n</p>", inner))
                       for _, inner in _blocks(doc, _ANNOTATION)])
        doc = _without_element(doc, _ANNOTATION, keep_unclosed=True)
    deleted: dict[str, str] = {}  # a change's id: what it deleted, as XML
    deletions: list[str] = []
    if changes:
        for _, tracked in _blocks(doc, _TRACKED_CHANGES):
            regions = _blocks(tracked, _CHANGED_REGION)
            if not regions:  # a spreadsheet's (table:): cells' previous contents, deleted rows, one text
                deletions.append(_odf_xml(_without_element(tracked, _CHANGE_INFO, keep_unclosed=True)))
            for tag, region in regions:
                inner = "".join(_without_element(d, _CHANGE_INFO, keep_unclosed=True)
                                for _, d in _blocks(region, _ODF_DELETION))
                for m in _ID.finditer(tag):
                    deleted.setdefault(m[1] if m[1] is not None else m[2], inner)
                deletions.append(_odf_xml(inner))
        doc = _without_element(doc, _TRACKED_CHANGES, keep_unclosed=True)
    texts = [_odf_xml(doc)]
    if any(deleted.values()):
        used: set[str] = set()

        def shown(m: re.Match) -> str:
            # Each deletion where it was, once (a hostile file's thousand marks of one
            # large deletion are not a thousand copies), its paragraphs as lines.
            change_id = m[1] if m[1] is not None else m[2]
            if change_id in used or change_id not in deleted:
                return ""
            used.add(change_id)
            inner = _ODF_PARAGRAPH_START.sub("", deleted[change_id])
            return _ODF_PARAGRAPH_END.sub("<text:line-break/>", inner)

        texts.append(_odf_xml(_CHANGE_MARK.sub(shown, doc)))
    return [*texts, *notes, *_each(deletions), *(_odf_names(doc) if names else [])]


def _odf_names(doc: str) -> list[str]:
    return _each([_xml_unescape(m[1] if m[1] is not None else m[2]) for m in _TABLE_OR_PAGE_NAME.finditer(doc)])


# A page header or footer: OpenDocument's master pages (<style:header>, -left, -first),
# Word 2003 XML's <w:hdr> and <w:ftr>; with attributes (`style:display`) and any prefix.
_HEAD_FOOT = re.compile(rf"<({_NS}(?:header|footer)(?:-left|-first)?|{_NS}(?:hdr|ftr))(?:\s[^<>]*)?>")


def _odf_head_foot(xml: bytes) -> list[str]:
    """The page headers and footers of an OpenDocument file's master pages (or of a
    Word 2003 XML document), each a text of its own."""
    doc = _xml_doc(xml)
    out = []
    unclosed: set[str] = set()  # tags with no end after one of them: not looked for again
    for m in _HEAD_FOOT.finditer(doc):
        if len(out) >= MAX_MEMBERS:
            break
        if m[1] in unclosed:
            continue
        end = doc.find(f"</{m[1]}>", m.end())
        if end < 0:
            unclosed.add(m[1])
        else:
            out.append(_odf_xml(doc[m.end():end].encode()))
    return out


# An XML file's start: a declaration, a comment, a DOCTYPE, or an element. An element
# with no namespace and no declaration before it (`<letter><secrecy>ลับมาก</secrecy>`, a
# data export as a browser shows it, a tree) was not one until session 39: read only as
# its markup, where the marking is glued to its tags.
_XML_START = re.compile(r"\ufeff?\s*(?:<\?xml\b|<!--|<!DOCTYPE\b|<[\w.-]+:[\w.-]+[\s>]|<[\w.-]+\s[^<>]*\bxmlns\b"
                        r"|<[A-Za-z_][\w.-]*(?:\s[^<>]*)?/?>)")
_PARAGRAPH_END = re.compile(rf"</{_NS}(?:p|h)>")


_XML_DECLARATION_TEXT = re.compile(r"\ufeff?\s*<\?xml\b[^<>]{0,300}?\?>")


def xml_readings(text: str) -> list[str]:
    """An XML file as the application that opens it shows it: a flat OpenDocument file
    (.fodt), a Word 2003 XML document, any XML a reader opens in a browser. Its
    paragraphs a line each (other tags dropped) and its page headers and footers each a
    text of its own; an XML of no paragraphs (a data export) with each element's text a
    line of its own. Until session 33 such a file was read as its markup, and a marking
    inside a tag's line was no marking."""
    if not _XML_START.match(text[:4096]):
        return []
    # The text is already decoded: its declaration's encoding (gbk, tis-620) must not
    # decode the UTF-8 bytes handed on below a second time (mojibake, no marking).
    declaration = _XML_DECLARATION_TEXT.match(text)
    if declaration is not None:
        text = '<?xml version="1.0" encoding="utf-8"?>' + text[declaration.end():]
    data = text.encode("utf-8", "surrogatepass")
    if _PARAGRAPH_END.search(text):
        labels = _list_labels(data)  # a flat OpenDocument's or Word 2003 XML's list labels (session 51)
        # A field's value held in its declaration (office:string-value), which LibreOffice
        # shows where the field stands: read in a zipped OpenDocument since session 33, in
        # a flat one (.fodt) since session 51 (a user field with no text of its own there
        # showed ลับมาก, read as nothing).
        values = [_xml_unescape(m[1] if m[1] is not None else m[2]) for m in _STRING_VALUE.finditer(text)]
        return [*_odf_body(data), *_odf_head_foot(data), *([labels] if labels else []),
                *(["\n".join(values[:10_000])] if values else [])]
    return [_elements_text(data)]


def _elements_text(xml: bytes) -> str:
    """A data XML (an export, Word's custom XML parts): each element's text a line."""
    return _xml_text(xml, r"<[^<>]*>", r"(?!)")


# --------------------------------------------------------------------------- ZIP

class _TooMuch(Exception):
    pass


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, what: str, out: FileTexts) -> bytes | None:
    """A member's bytes within the limits; None (and a phrase in `out.unread`) when not."""
    if info.flag_bits & 0x1:
        out.unread.append(f"{what}: encrypted member")
        return None
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        out.unread.append(f"{what}: member unpacks to {MAX_RATIO}+ times its size")
        return None
    if info.file_size > budget.unpacked:
        out.unread.append(f"{what}: member past the {MAX_UNPACKED // 2**20} MB read")
        return None
    try:
        with zf.open(info) as handle:
            # The declared size may lie: never read more than the budget allows.
            data = handle.read(budget.unpacked + 1)
    except Exception as exc:  # noqa: BLE001 - zipfile lets zlib.error, LZMAError... through
        out.unread.append(f"{what}: member could not be unpacked ({why_unread(exc)})")
        return None
    if len(data) > budget.unpacked or (len(data) > RATIO_FLOOR and len(data) > MAX_RATIO * max(info.compress_size, 1)):
        out.unread.append(f"{what}: member past the limits of what is unpacked")
        return None
    budget.unpacked -= len(data)
    return data


def _office(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts,
            chunk: Callable[[bytes, str], None] | None = None) -> bool:
    """An OOXML or OpenDocument file's texts into `out`, and the scans pasted into it
    (`_office_pictures`); False when it is neither. `chunk` reads a file the document
    shows as part of itself (Word's altChunk: a DOCX, HTML, RTF or text imported where
    it stands), as an archive's member is read; None past the depth read."""
    read: dict[str, list[tuple[str, str]]] = {}
    # OPC part names are case-insensitive (Word opens word/Header1.xml as the
    # relationship's header1.xml); each name found so resolves to the one stored.
    folded: dict[str, str] = {}
    for name in sorted(names):
        folded.setdefault(name.lower(), name)

    def stored(name: str) -> str:
        return name if name in names else folded.get(name.lower(), name)

    def rels_of(part: str) -> list[tuple[str, str]]:
        # Each relationships part read once: the texts and the imported parts both ask.
        part = stored(part)
        if part not in read:
            read[part] = [(kind, stored(target))
                          for kind, target in _relationships(zf, names, budget, what, out, part)]
        return read[part]

    if not _office_texts(zf, names, budget, what, out, rels_of):
        return False
    files = [i.filename.lower() for i in zf.infolist() if not i.is_dir()]
    if len(set(files)) < len(files):
        # Two entries of one name (or of names equal but for case): which one an
        # application opens is its own choice (session 38: read with the last one, a
        # ลับที่สุด first word/document.xml left the letter ordinary).
        out.unread.append(f"{what}: an office file with two parts of one name")
    _office_pictures(zf, names, budget, what, out)
    _office_chunks(zf, names, budget, what, out, chunk, rels_of)
    _office_embeddings(zf, names, budget, what, out, chunk, rels_of)
    return True


_RELATIONSHIP = re.compile(r"<(?:[\w.-]{1,64}:)?Relationship\b[^<>]*>")
_ATTRIBUTE = re.compile(r"""\b(Type|Target|TargetMode)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")


def _relationships(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts,
                   rels: str) -> list[tuple[str, str]]:
    """(type's last word, member name) of each internal relationship in the part `rels`
    (`word/_rels/document.xml.rels`), its target resolved against the part's folder."""
    if rels not in names:
        return []
    info = zf.getinfo(rels)
    if info.file_size > RATIO_FLOOR:
        out.unread.append(f"{what}: relationships past the size read")
        return []
    xml = _xml_doc(_read_member(zf, info, budget, what, out) or b"")
    folder = rels.rsplit("_rels/", 1)[0]
    found = []
    for m in _RELATIONSHIP.finditer(xml):
        # An empty value (`TargetMode=""`) is "", not None: it raised TypeError, and the
        # file was "not read" (session 37).
        attrs = {a[1]: _xml_unescape(a[2] if a[2] is not None else a[3]) for a in _ATTRIBUTE.finditer(m[0])}
        if attrs.get("TargetMode", "").lower() == "external" or not attrs.get("Target"):
            continue
        target = attrs["Target"].replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else folder + target
        parts: list[str] = []
        for piece in path.split("/"):
            if piece == "..":
                parts = parts[:-1]
            elif piece not in ("", "."):
                parts.append(piece)
        found.append((attrs.get("Type", "").rstrip("/").rsplit("/", 1)[-1], "/".join(parts)))
    return found


def _office_chunks(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts,
                   chunk: Callable[[bytes, str], None] | None,
                   rels_of: Callable[[str], list[tuple[str, str]]]) -> None:
    """Word's altChunk parts: until session 33 a DOCX or an HTML page imported into a
    Word file (shown by Word as the document's own text) was not read."""
    infos = {i.filename: i for i in zf.infolist()}
    listed = sorted(n for n in names if n.startswith("word/_rels/") and n.endswith(".rels"))
    if len(listed) > MAX_PARTS:  # (cut at MAX_MEMBERS silently until session 38)
        out.unread.append(f"{what}: members past the first {MAX_PARTS}")
    for rels in listed[:MAX_PARTS]:
        for kind, name in rels_of(rels):
            if kind != "aFChunk":
                continue
            if name not in infos:
                out.unread.append(f"{what}: an imported part that is not in the file")
            elif chunk is None:
                out.unread.append(f"{what}: an imported part nested past {MAX_DEPTH} levels")
            elif (data := _read_member(zf, infos[name], budget, what, out)) is not None:
                chunk(data, name)


# Where Word, Excel and PowerPoint keep an object embedded in a document (Insert >
# Object: a DOCX, an XLSX, a PPTX, a PDF, an OLE object), and where LibreOffice keeps an
# OLE object embedded in an OpenDocument file ("Object 1", a file; an OpenDocument
# object is a folder, read by `_odf_objects`). A preview picture is not one.
_EMBEDDED = re.compile(r"(?:word|xl|ppt)/embeddings/[^/]+|(?:(?!ObjectReplacements/)[^/]+/)*Object[ _]?\d{1,6}")
# The streams of an OLE object that hold what it shows (MS-OLEDS; `_ole_object`).
_OLE_NATIVE, _OLE_PACKAGE, _OLE_CONTENTS, _VISIO = "\x01Ole10Native", "Package", "CONTENTS", "VisioDocument"


def _office_embeddings(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts,
                       chunk: Callable[[bytes, str], None] | None,
                       rels_of: Callable[[str], list[tuple[str, str]]]) -> None:
    """The objects embedded in an office file, read as the enclosures they are (as an
    archive's member is, `chunk`; nested within MAX_DEPTH, and within the letter's bytes
    and the file's members): Word shows an embedded DOCX's or XLSX's first page where
    it stands, and opens it on a double click. Until session 36 none was read, and a
    ลับมาก DOCX embedded in an ordinary one left the letter ordinary. Found by their
    folder and by the relationships that name them (`package`, `oleObject`). A chart's
    own workbook (its data, which the chart part already shows and which Word does not)
    is read while the limits allow, and never makes the letter uncertain. What cannot
    be read (past the limits, nested too deep) makes it at least ลับ."""
    infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
    found = {n for n in infos if _EMBEDDED.fullmatch(n)}
    chart_data: set[str] = set()
    rels = sorted(n for n in names if "_rels/" in n and n.endswith(".rels") and n != "_rels/.rels")
    if len(rels) > MAX_PARTS:  # (cut at MAX_MEMBERS silently until session 38)
        out.unread.append(f"{what}: members past the first {MAX_PARTS}")
    for part in rels[:MAX_PARTS]:
        for kind, name in rels_of(part):
            if kind in ("package", "oleObject") and name in infos:
                found.add(name)
                if "/charts/_rels/" in part:
                    chart_data.add(name)
    if not found:
        return
    ordered = sorted(found, key=lambda n: (n in chart_data, len(n), n))
    for number, name in enumerate(ordered, start=1):
        chart = name in chart_data
        if number > MAX_MEMBERS or budget.members <= 0:
            if not chart:
                out.unread.append(f"{what}: embedded objects past the first {MAX_MEMBERS}")
            return
        if chunk is None:
            if not chart:
                out.unread.append(f"{what}: an embedded object nested past {MAX_DEPTH} levels")
            continue
        budget.members -= 1
        data = _read_member(zf, infos[name], budget, what, out)
        if data:
            _embedded(data, name, chunk, budget, what, out)


def _embedded(data: bytes, name: str, chunk: Callable[[bytes, str], None], budget: Budget, what: str,
              out: FileTexts) -> None:
    """One embedded object: an OLE object (a compound file) by what it holds
    (`_ole_object`), any other file as an archive's member is read."""
    if data.startswith(_CFB) and encrypted(data) is None:
        _ole_object(data, name, chunk, budget, what, out)
    else:
        chunk(data, name)


def _ole_object(data: bytes, name: str, chunk: Callable[[bytes, str], None], budget: Budget, what: str,
                out: FileTexts) -> None:
    """An OLE object embedded in an office file (`oleObject1.bin`, LibreOffice's
    `Object 1`), read by what it holds: a Word, Excel or PowerPoint 97-2003 document
    (its main stream, `_old_office`); a file packaged by Windows' Packager (the
    `\\x01Ole10Native` stream: the file, and the label its icon shows); an OOXML file
    (`Package`); a PDF (Acrobat's `CONTENTS`). A Visio drawing, whose text is not read
    here, makes the letter at least ลับ. Any other (a chart of MS Graph, an equation, a
    picture) holds no text a reader types: Word shows its preview picture, and it is not
    said unread, or every letter with an old chart would be uncertain."""
    streams = _cfb_streams(data, {*_OLD_OFFICE, _OLE_NATIVE, _OLE_PACKAGE, _OLE_CONTENTS, _VISIO},
                           min(len(data), MAX_UNPACKED))
    if any(stream in streams for stream in _OLD_OFFICE):
        chunk(data, name)
        return
    inner: tuple[str, bytes] | None = None
    if _OLE_NATIVE in streams:
        packaged = _packaged(streams[_OLE_NATIVE])
        if packaged is None:
            out.unread.append(f"{what}: an embedded object that could not be read")
            return
        label, inner_name, inner_data, names_shown = packaged
        out.texts += [re.sub(r"[_.\-]+", " ", t).strip() for t in (label, *names_shown) if t.strip()]
        inner = (inner_name or name, inner_data)
    elif streams.get(_OLE_PACKAGE, b"").startswith(_LOCAL):
        inner = (name, streams[_OLE_PACKAGE])
    elif _PDF_HEADER.search(streams.get(_OLE_CONTENTS, b"")[:1024]):
        inner = (name + ".pdf", streams[_OLE_CONTENTS])
    elif _VISIO in streams:
        out.unread.append(f"{what}: an embedded Visio drawing")
        return
    if inner is None or not inner[1]:
        return
    if len(inner[1]) > budget.unpacked:
        out.unread.append(f"{what}: member past the {MAX_UNPACKED // 2**20} MB read")
        return
    budget.unpacked -= len(inner[1])
    chunk(inner[1], shown_name(re.split(r"[/\\]", inner[0])[-1]))


def _packaged(native: bytes) -> tuple[str, str, bytes, list[str]] | None:
    """A file packaged by Windows' Packager into an OLE object's `\\x01Ole10Native`
    stream (MS-OLEDS 2.3.6; oletools' layout): its size, 2, the label its icon shows, the
    source path, 8 bytes, the temporary path, the file's size and bytes, then the same
    names in UTF-16. (label, file name, bytes, the names of its UTF-16 tail), None when
    it is no such stream."""
    def text(at: int) -> tuple[str, int]:
        end = native.find(b"\0", at, at + 1024)
        if end < 0:
            raise ValueError("no end to a name")
        return charsets.decode_bytes(native[at:end], None), end + 1

    try:
        if len(native) < 6 or native[4:6] != b"\x02\x00":
            return None
        label, at = text(6)
        path, at = text(at)
        _temporary, at = text(at + 8)
        size = int.from_bytes(native[at:at + 4], "little")
        at += 4
        if size > len(native) - at:
            return None
        tail = native[at + size:at + size + 4096]
        return label, path, native[at:at + size], _TEXT_RUN.findall(tail.decode("utf-16-le", "replace"))
    except ValueError:
        return None


# The parts of an OOXML file that draw text outside the main part's runs: an Excel
# sheet's text boxes and shapes, a chart's titles, a SmartArt diagram's text.
_DRAWINGS = re.compile(r"(?:word|xl|ppt)/(?:drawings|charts|diagrams)/[^/]+\.xml")


# Where a Word, Excel, PowerPoint or OpenDocument file keeps the pictures it shows.
_OFFICE_MEDIA = ("word/media/", "xl/media/", "ppt/media/", "Pictures/")


def _office_pictures(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts) -> None:
    """A scanned letter pasted into a Word file as a picture (a clerk's way to send a
    paper letter): read for its stamp as a scan sent as a picture is (scanned_pages.py),
    those of a page's shape, within the letter's pictures. Until session 19 a ลับมาก
    scan inside a .docx left the letter ordinary."""
    infos = {i.filename: i for i in zf.infolist()}
    for name in sorted(n for n in names if n.startswith(_OFFICE_MEDIA))[:MAX_MEMBERS]:
        if budget.pictures <= 0:
            return
        data = _read_member(zf, infos[name], budget, what, out)
        if data and scanned_pages.is_picture(data):
            _picture_into(data, budget, what, out)


def _office_texts(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts,
                  rels_of: Callable[[str], list[tuple[str, str]]]) -> bool:
    infos = {i.filename: i for i in zf.infolist()}
    # The parts asked for, in order: past the first MAX_PARTS none is read, and the
    # file is said not read whole (until session 38 each kind was cut at MAX_MEMBERS
    # silently: a marking on slide 101, or on a master after 100 slides, was no marking).
    seen: dict[str, int] = {}

    def member(name: str) -> bytes:
        if name not in seen:
            seen[name] = len(seen)
            if seen[name] == MAX_PARTS:
                out.unread.append(f"{what}: members past the first {MAX_PARTS}")
        if seen[name] >= MAX_PARTS:
            return b""
        data = _read_member(zf, infos[name], budget, what, out)
        return data or b""

    def numbered(prefix: str, suffix: str = ".xml") -> list[str]:
        found = [n for n in names if n.startswith(prefix) and n.endswith(suffix)]
        return sorted(found, key=lambda n: (len(n), n))

    main = next((target for kind, target in rels_of("_rels/.rels")
                 if kind == "officeDocument"), None)
    if main is not None and main not in ("word/document.xml", "xl/workbook.xml", "ppt/presentation.xml"):
        # The main part somewhere else (Word opens what _rels/.rels points at): every
        # XML part is read, each a text of its own, by the reader of the main part's kind.
        return _office_elsewhere(main, member, names, what, out)
    drawn = sorted(n for n in names if _DRAWINGS.fullmatch(n) and not _NOT_TEXT.fullmatch(n.lower()))
    out.texts += [_drawn_xml(member(n)) for n in drawn]
    def related(rels: str, kinds: tuple[str, ...], known: list[str]) -> list[str]:
        # The parts the main part's relationships name (an application opens those, by
        # whatever name), after those found by their usual names (session 33: a header
        # named word/top.xml, a sheet named data.xml were not read).
        found = [n for kind, n in rels_of(rels) if kind in kinds and n in names]
        return known + sorted(set(found) - set(known))

    if "word/document.xml" in names:
        heads = related("word/_rels/document.xml.rels", ("header",), numbered("word/header"))
        feet = related("word/_rels/document.xml.rels", ("footer",), numbered("word/footer"))
        out.texts += [t for n in heads for t in _word_texts(member(n))]
        out.texts += _word_texts(member("word/document.xml"))
        notes = related("word/_rels/document.xml.rels", ("footnotes", "endnotes"),
                        [n for n in ("word/footnotes.xml", "word/endnotes.xml") if n in names])
        out.texts += [t for n in notes for t in _word_texts(member(n))]
        out.texts += [t for n in feet for t in _word_texts(member(n))]
        # Comments, shown in the margin (session 37).
        # List labels (numbering.xml, by its usual name and the relationship; session 51).
        for n in related("word/_rels/document.xml.rels", ("numbering",),
                         ["word/numbering.xml"] if "word/numbering.xml" in names else []):
            if shown := _list_labels(member(n)):
                out.texts.append(shown)
        for n in related("word/_rels/document.xml.rels", ("comments",),
                         ["word/comments.xml"] if "word/comments.xml" in names else []):
            out.texts += _word_comments(member(n))
        # A content control bound to a custom XML part shows that part's value (Word
        # refreshes it on opening): each element's text a line.
        for n in sorted(n for n in names if re.fullmatch(r"customXml/item\d{1,4}\.xml", n)):
            out.texts.append(_elements_text(member(n)))
        _office_rest("word", names, seen, member, out)
        return True
    if "xl/workbook.xml" in names or "xl/sharedStrings.xml" in names:
        if "xl/workbook.xml" in names:  # the sheets' tab names (session 37)
            out.texts += _sheet_names(member("xl/workbook.xml"))
        for n in related("xl/_rels/workbook.xml.rels", ("sharedStrings",),
                         ["xl/sharedStrings.xml"] if "xl/sharedStrings.xml" in names else []):
            out.texts.append(_sheet_strings(member(n)))
        for n in related("xl/_rels/workbook.xml.rels", ("worksheet", "xlMacrosheet", "xlIntlMacrosheet", "dialogsheet"),
                         numbered("xl/worksheets/sheet")):
            out.texts += _sheet_texts(member(n))
        # Notes and threaded comments, by their usual names and by the sheets'
        # relationships (session 37).
        for n in _related_anywhere(names, rels_of, "xl/worksheets/_rels/", ("comments", "threadedComment"),
                                   r"xl/comments[^/]*\.xml|xl/threadedComments/[^/]+\.xml"):
            out.texts += _sheet_comments(member(n))
        for n in related("xl/_rels/workbook.xml.rels", ("styles",),
                         ["xl/styles.xml"] if "xl/styles.xml" in names else []):
            if shown := _number_formats(member(n)):
                out.texts.append(shown)
        _office_rest("xl", names, seen, member, out)
        return True
    if "ppt/presentation.xml" in names:
        # What every slide shows (its master, its layout) first, then the slides and their
        # notes (session 38: past 100 parts the masters were not read).
        masters = related("ppt/_rels/presentation.xml.rels", ("slideMaster",),
                          numbered("ppt/slideMasters/slideMaster") + numbered("ppt/slideLayouts/slideLayout"))
        for master in list(masters):
            masters += [n for kind, n in rels_of(_rels_part(master))
                        if kind == "slideLayout" and n in names and n not in masters]
        slides = related("ppt/_rels/presentation.xml.rels", ("slide", "notesMaster", "handoutMaster"),
                         numbered("ppt/slides/slide") + numbered("ppt/notesSlides/notesSlide")
                         + numbered("ppt/notesMasters/notesMaster") + numbered("ppt/handoutMasters/handoutMaster"))
        for n in [*masters, *slides]:
            out.texts.append(_slide_xml(member(n)))
        out.texts += _section_names(member("ppt/presentation.xml"))
        # Comments (session 37): the slides' and PowerPoint 365's own kind.
        for n in _related_anywhere(names, rels_of, "ppt/slides/_rels/", ("comments",), r"ppt/comments/[^/]+\.xml"):
            out.texts += _slide_comments(member(n))
        _office_rest("ppt", names, seen, member, out)
        return True
    if "content.xml" in names and ("mimetype" in names or "META-INF/manifest.xml" in names):
        if "META-INF/manifest.xml" in names and b"encryption-data" in member("META-INF/manifest.xml"):
            # Saved with a password: content.xml is ciphertext, read as no text at all.
            out.unread.append(f"{what}: password-protected OpenDocument file")
            return True
        _odf_document("", member, names, out)
        # An object embedded in it (Insert > Object: a text, a sheet, a chart, a
        # drawing), a document of its own in a folder of the package ("Object 1/
        # content.xml", its styles.xml): shown where it stands, read as the document is
        # (session 36; until then not read at all).
        folders = _odf_objects(names)
        for folder in folders[:MAX_MEMBERS]:
            _odf_document(folder, member, names, out)
        if len(folders) > MAX_MEMBERS:
            out.unread.append(f"{what}: embedded objects past the first {MAX_MEMBERS}")
        return True
    return False


def _rels_part(part: str) -> str:
    """The relationships part of `part` (ppt/slides/slide1.xml: ppt/slides/_rels/slide1.xml.rels)."""
    folder, _, base = part.rpartition("/")
    return f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"


def _drawn_xml(xml: bytes) -> str:
    """A drawing's, a diagram's or a chart's text: its runs (a:t), and a chart's titles,
    categories and series names kept as values (`c:strCache`, `c:strLit`: `<c:v>`, read
    since session 38; a chart title so was no marking), a line each."""
    if not _holds(xml, "chartSpace"):
        return _slide_xml(xml)
    return _xml_text(xml, rf"</{_NS}(?:p|pt)>", rf"<{_NS}(?:br|tab)\b[^<>]*/>", rf"{_NS}[tv]")


# A formula's string literal ("ลับ", a quote doubled inside).
_FORMULA = re.compile(rf"<{_NS}f(?:\s[^<>]*)?>([^<]*)<")
_FORMULA_STRING = re.compile(r'"((?:[^"]|"")*)"')


def _sheet_texts(xml: bytes) -> list[str]:
    """A worksheet's (or a macro or dialog sheet's) texts besides the shared strings: its
    printed header and footer, its inline strings and formulas' cached texts, and the
    string literals of its formulas, each formula's joined a line (and each apart): a
    formula `="ลับ"&"ที่สุด"` saved with no value (Excel computes it on opening) read as
    nothing until session 38. Looked for in UTF-16 too (until session 38 a sheet saved
    as UTF-16 had its inline strings left unread)."""
    out = _sheet_head_foot(xml)
    if _holds(xml, "inlineStr") or _holds(xml, '"str"') or _holds(xml, "'str'"):
        out.append(_sheet_strings(xml))
    if _holds(xml, "f>"):
        lines = []
        for m in _FORMULA.finditer(_xml_doc(xml)):
            found = [t.replace('""', '"') for t in _FORMULA_STRING.findall(_xml_unescape(m[1]))]
            if any(found):
                lines.append("".join(found))
                if len(found) > 1:
                    lines += [t for t in found if t]
        if lines:
            out.append(ends("\n".join(lines)))
    if _holds(xml, "prompt"):
        # A data validation's input message: Excel and LibreOffice show it beside the
        # cell as soon as it is selected, the cell selected on opening too (read as
        # nothing until session 39). Each title and message a line.
        found = [_xml_unescape(m[2]) for m in _VALIDATION_PROMPT.finditer(_xml_doc(xml))]
        if any(found):
            out.append(ends("\n".join(t for t in found if t)))
    return out


_VALIDATION_PROMPT = re.compile(r"""\sprompt(?:Title)?\s*=\s*(["'])(.*?)\1""", re.S)


# Parts that hold no text anyone is shown (styles, themes, settings, fonts, what a
# relationship or a content type is, a pivot table's cached records, a chart's colours),
# and those read elsewhere (custom XML, pictures, embedded objects): lower-case names.
_NOT_TEXT = re.compile(
    r"\[content_types\]\.xml|(?:.*/)?_rels/.*|.*/theme/[^/]*|(?:.*/)?(?:media|embeddings)/.*|customxml/.*"
    r"|word/(?:styles|styleswitheffects|settings|websettings|fonttable|numbering|people|commentsextended"
    r"|commentsids|commentsextensible|vbadata)\.xml|word/glossary/.*"
    r"|xl/(?:styles|calcchain)\.xml|xl/printersettings/.*|xl/pivotcache/pivotcacherecords[^/]*"
    r"|ppt/(?:presprops|viewprops|tablestyles|commentauthors|authors)\.xml|.*/charts/(?:colors|style)[^/]*")
# Their root elements, whatever the part's name.
_NOT_TEXT_ROOTS = {"styles", "styleSheet", "theme", "themeOverride", "themeFamily", "settings", "webSettings",
                   "fonts", "numbering", "Types", "Relationships", "calcChain", "presentationPr", "viewPr",
                   "tblStyleLst", "cmAuthorLst", "authorList", "people", "personList", "commentsEx", "commentsIds",
                   "commentsExtensible", "chartStyle", "colorStyle", "datastoreItem", "pivotCacheRecords",
                   "glossaryDocument", "vbaSuppData", "colorsDef", "styleDef", "layoutDef"}
_ROOT = re.compile(r"<(?:[\w.-]{1,64}:)?([\w.-]{1,64})(?=[\s/>])")
_PROPERTY = re.compile(rf"<({_NS}(?:title|subject|keywords|description|category|Company|Manager))(?:\s[^<>]*)?>([^<]*)<")


def _office_rest(kind: str, names: set[str], seen: dict[str, int], member: Callable[[str], bytes],
                 out: FileTexts) -> None:
    """Every other XML part of a Word, Excel or PowerPoint file, read by its root element
    as the part it is (a header, a slide, a layout, a notes page, a sheet, a macro sheet,
    a chart, comments), whatever its name and whether or not a relationship names it;
    the document's properties (docProps/core.xml title, subject, keywords, description,
    category; app.xml company, manager: a content control bound to them shows them);
    a part of a root not known, each element's text a line. Until session 38 a part was
    read only by its usual name or its main part's relationships: a layout, a notes page
    or a macro sheet named otherwise, a header whose stored name differed in case from
    the relationship's, a content control showing the title were no marking."""
    rest = sorted((n for n in names if n not in seen and not n.endswith("/")
                   and n.lower().endswith((".xml", ".vml")) and not _NOT_TEXT.fullmatch(n.lower())),
                  key=lambda n: (len(n), n))
    for n in rest:
        xml = member(n)
        if not xml:
            continue
        doc = _xml_doc(xml)
        root = _ROOT.search(doc, 0, 4096)
        name = root[1] if root else ""
        if name in _NOT_TEXT_ROOTS:
            continue
        if name in ("document", "hdr", "ftr", "footnotes", "endnotes") or (name == "comments" and kind == "word"):
            out.texts += _word_comments(xml) if name == "comments" else _word_texts(xml)
        elif name in ("sld", "sldLayout", "sldMaster", "notes", "notesMaster", "handoutMaster"):
            out.texts.append(_slide_xml(xml))
        elif name == "cmLst":
            out.texts += _slide_comments(xml)
        elif name in ("comments", "ThreadedComments"):
            out.texts += _sheet_comments(xml)
        elif name in ("worksheet", "macrosheet", "dialogsheet", "chartsheet"):
            out.texts += _sheet_texts(xml)
        elif name == "sst":
            out.texts.append(_sheet_strings(xml))
        elif name in ("chartSpace", "userShapes", "dataModel", "wsDr", "drawing"):
            out.texts.append(_drawn_xml(xml))
        elif name == "coreProperties" or (name == "Properties" and "extended-properties" in doc[:4096]):
            found = [_xml_unescape(m[2]).strip() for m in _PROPERTY.finditer(doc)]
            out.texts += [t for t in found if t]
        else:
            out.texts.append(_elements_text(xml))


def _related_anywhere(names: set[str], rels_of: Callable[[str], list[tuple[str, str]]], folder: str,
                      kinds: tuple[str, ...], usual: str) -> list[str]:
    """The parts named like `usual` (a regex), then those the relationships parts in
    `folder` name as one of `kinds` (a sheet's or a slide's comments, by any name):
    at most MAX_MEMBERS."""
    known = sorted(n for n in names if re.fullmatch(usual, n))
    found = {n for rels in sorted(n for n in names if n.startswith(folder) and n.endswith(".rels"))[:MAX_MEMBERS]
             for kind, n in rels_of(rels) if kind in kinds and n in names}
    return (known + sorted(found - set(known)))[:MAX_MEMBERS]


def _odf_document(folder: str, member: Callable[[str], bytes], names: set[str], out: FileTexts) -> None:
    """One OpenDocument document's texts (the package's own, `folder` "", or an
    embedded object's, `folder` "Object 1/"): page headers and footers, what its master
    pages draw, its body, its fields' values, its number formats' literal texts."""
    styles = member(folder + "styles.xml") if folder + "styles.xml" in names else b""
    content = member(folder + "content.xml") if folder + "content.xml" in names else b""
    out.texts += _odf_head_foot(styles)
    out.texts += _odf_masters(styles)
    if content:
        out.texts += _odf_body(content)
        out.texts += _odf_head_foot(content)
        out.texts += _odf_masters(content)
    # A field shows a value its declaration holds in an attribute (a user field,
    # a variable): each such value a line (session 33).
    # (`office:string-value=""`, an empty field of most LibreOffice templates, raised
    # TypeError until session 37: the file was "not read", the letter ลับ, uncertain.)
    values = [_xml_unescape(m[1] if m[1] is not None else m[2]) for xml in (content, styles)
              for m in _STRING_VALUE.finditer(_xml_doc(xml)) if xml]
    if values:
        out.texts.append("\n".join(values[:10_000]))
    labels = [shown for xml in (content, styles) if xml and (shown := _list_labels(xml))]
    if labels:  # list labels (session 51)
        out.texts.append("\n".join(labels))
    numbers = [line for xml in (content, styles) if xml for line in _odf_number_texts(xml)]
    if numbers:
        out.texts.append("\n".join(numbers))


def _odf_objects(names: set[str]) -> list[str]:
    """The folders of an OpenDocument package that hold an embedded object's document
    (`Object 1/`; one inside it too), outermost first."""
    found = {n.rsplit("/", 1)[0] + "/" for n in names
             if n.endswith(("/content.xml", "/styles.xml")) and not n.startswith("META-INF/")}
    return sorted(found, key=lambda n: (n.count("/"), len(n), n))


# A master page (OpenDocument's style:master-page) and the speaker notes inside one.
# Impress's handout master (style:handout-master, the handout view's page) is read as
# one (session 37).
_MASTER_PAGE = re.compile(rf"<({_NS}(?:master-page|handout-master))(?:\s[^<>]*)?>")
_NOTES = re.compile(rf"<({_NS}notes)(?:\s[^<>]*)?>")


def _odf_masters(xml: bytes) -> list[str]:
    """What each master page of an OpenDocument file draws (its text boxes, shapes and
    frames), each master page a text of its own, a line per paragraph: Impress and Draw
    show it on every slide or page of that master. Its speaker notes (presentation:
    notes), which are not shown on a slide, are left out. Until session 36 only a master
    page's header and footer (Writer's, `_odf_head_foot`) were read, and a ลับมาก text box
    on a presentation's master slide left the letter ordinary. One pass over the part:
    master pages do not nest, and a self-closed one holds nothing. Past MAX_MEMBERS
    master pages, the rest are one text."""
    if not _holds(xml, "master-page") and not _holds(xml, "handout-master"):
        return []
    doc = _xml_doc(xml)
    blocks: list[str] = []
    at = 0
    while (m := _MASTER_PAGE.search(doc, at)) is not None:
        at = m.end()
        if m[0].endswith("/>"):
            continue
        end = doc.find(f"</{m[1]}>", m.end())
        if end < 0:
            break
        blocks.append(_without_element(doc[m.end():end], _NOTES))
        at = end
    # The first ones a text each; the rest (a hostile file's thousands) one text, read
    # in one pass, each ending a paragraph.
    texts = [_odf_xml(b.encode("utf-8", "surrogatepass")) for b in blocks[:MAX_MEMBERS - 1]]
    if len(blocks) >= MAX_MEMBERS:
        texts.append(_odf_xml("</p>".join(blocks[MAX_MEMBERS - 1:]).encode("utf-8", "surrogatepass")))
    return [t for t in texts if t.strip()]


def _without_element(doc: str, start: re.Pattern, keep_unclosed: bool = False) -> str:
    """`doc` without the elements whose start tag `start` matches (its group 1 the
    tag's name), each to its end tag; one pass (an unclosed one runs to the end, or,
    with `keep_unclosed`, is left as it is with what follows it)."""
    out, at = [], 0
    while (m := start.search(doc, at)) is not None:
        out.append(doc[at:m.start()])
        if m[0].endswith("/>"):
            at = m.end()
            continue
        end = doc.find(f"</{m[1]}>", m.end())
        if end < 0:
            if keep_unclosed:
                out.append(doc[m.start():])
            return "".join(out)
        at = end + len(m[1]) + 3
    out.append(doc[at:])
    return "".join(out)


# The literal text of an OpenDocument number format (<number:text>, a currency symbol),
# shown in every cell the format is applied to.
_NUMBER_TEXT = re.compile(rf"<({_NS})(text|currency-symbol)(?:\s[^<>]*)?>([^<]*)</\1\2>")


def _odf_number_texts(xml: bytes) -> list[str]:
    """Each literal text of the number formats of an OpenDocument part a line (a sheet's
    cell formatted `"ลับมาก"` shows ลับมาก whatever its value)."""
    if b"number" not in xml and "number".encode("utf-16-le") not in xml and "number".encode("utf-16-be") not in xml:
        return []
    found = (_xml_unescape(m[3]).strip() for m in _NUMBER_TEXT.finditer(_xml_doc(xml)))
    return list(dict.fromkeys(t for t in found if t))


_STRING_VALUE = re.compile(r"""\bstring-value\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_MAIN_ROOT = re.compile(rb"<(?:[\w.-]{1,64}:)?(document|workbook|presentation)[\s>]")


# An Excel binary workbook (.xlsb, Excel's "Excel Binary Workbook", MS-XLSB): an OPC
# package like an .xlsx whose parts are BIFF12 records, not XML. Its workbook part
# begins with BrtBeginBook. Until session 56 its main part "could not be read": every
# .xlsb letter was sealed as ลับ, uncertain, and one whose cell said ลับที่สุด was taken
# with a 250 instead of refused.
_BIFF12_BOOK = b"\x83\x01"
_BIFF12_NOT_TEXT = re.compile(r"(?:.*/)?(?:embeddings|media|printersettings)/.*|(?:.*/)?vbaproject\.bin")
MAX_BIFF12_RECORDS = 5_000_000  # of a file; a sheet of 100,000 filled cells has ~120,000
_SHORTEST_STRING = 10  # bytes of a record that can hold a 3-character run: its count (4) and 6


def _biff12_strings(data: bytes, records: list[int]) -> bytes | None:
    """The data of each BIFF12 record of `data` that may hold a string, joined with NULs
    between them (at either byte alignment, a run of text never goes on from one record
    into the next: a record's header read as UTF-16 may be a Thai letter glued to the
    string before it). None when the records do not walk to the part's end (damaged).
    `records` (one count) bounds the work over the file's parts."""
    pieces, at, end = [], 0, len(data)
    while at < end:
        if records[0] <= 0:
            return None
        records[0] -= 1
        at += 2 if data[at] & 0x80 else 1  # the record type: one or two bytes
        size, shift = 0, 0
        for _ in range(4):  # the size: up to four bytes of seven bits
            if at >= end:
                return None
            byte = data[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            return None
        if at + size > end:
            return None
        if size >= _SHORTEST_STRING:
            pieces.append(data[at:at + size])
        at += size
    return b"\x00\x00\x00".join(pieces)


def _xlsb_texts(main: str, member: Callable[[str], bytes], names: set[str], what: str, out: FileTexts) -> bool:
    """An Excel binary workbook's texts into `out`, as the 97-2003 formats are read (its
    strings, UTF-16LE: each a line): every BIFF12 part (cells and shared strings, sheet
    names, printed headers and footers with their & codes read as an .xlsx's, notes,
    number formats), each record apart. False when `main` is no such workbook."""
    if not main.lower().endswith(".bin") or member(main)[:2] != _BIFF12_BOOK:
        return False
    records = [MAX_BIFF12_RECORDS]
    for name in sorted(n for n in names if n.lower().endswith(".bin") and not _BIFF12_NOT_TEXT.fullmatch(n.lower())):
        reading_goes_on()  # the letter's reading clock, between parts
        data = member(name)
        strings = _biff12_strings(data, records)
        if strings is None:
            if records[0] <= 0:
                out.unread.append(f"{what}: an Excel binary workbook of more records than are read")
                return True
            strings = data  # damaged: its runs of text as they stand, as a 97-2003 stream's
            out.unread.append(f"{what}: an Excel binary workbook part that could not be read whole (damaged)")
        for text in _wide_runs(strings):
            out.texts.append(text)
            if "&" in text:  # a printed header or footer: its codes read as an .xlsx's
                out.texts.append(_HEAD_FOOT_CODE.sub(
                    lambda t: {"&&": "&", "&L": "\n", "&C": "\n", "&R": "\n"}.get(t.group(0), ""), text))
    return True


def _office_elsewhere(main: str, member: Callable[[str], bytes], names: set[str], what: str, out: FileTexts) -> bool:
    if main not in names:
        out.unread.append(f"{what}: an office file whose main part is not in it")
        return True
    root = _MAIN_ROOT.search(_xml_doc(member(main))[:4096].encode("utf-8", "surrogatepass"))
    reader = {b"document": _word_xml, b"workbook": _sheet_strings, b"presentation": _slide_xml}.get(
        root[1] if root else b"")
    if reader is None and _xlsb_texts(main, member, names, what, out):
        reader = _sheet_strings  # its XML parts (docProps) as a workbook's
    if reader is None:
        out.unread.append(f"{what}: an office file whose main part could not be read")
        return True
    parts = sorted(n for n in names if n.endswith(".xml") and not n.startswith("[") and "/_rels/" not in n)
    for n in parts:  # past MAX_PARTS, `member` reads none and says so
        xml = member(n)
        if reader is _word_xml:
            out.texts += _word_texts(xml)
            if shown := _list_labels(xml):
                out.texts.append(shown)
            if _holds(xml, "comments"):  # the comments part's root, w:comments
                out.texts += _word_comments(xml)
        else:
            out.texts.append(reader(xml))
        if reader is _sheet_strings:
            out.texts += _sheet_head_foot(xml)
            out.texts += _sheet_names(xml)
            if _holds(xml, "omments"):  # the root of notes (comments) or threaded comments
                out.texts += _sheet_comments(xml)
            if shown := _number_formats(xml):
                out.texts.append(shown)
        if reader is _slide_xml and _holds(xml, "cmLst"):  # the root of a comments part
            out.texts += _slide_comments(xml)
    return True


# A list level's label (Word's `w:lvlText w:val`, Word 2003 XML's too; OpenDocument's
# `style:num-prefix`, `style:num-suffix` and LibreOffice's `loext:num-list-format`):
# shown before every paragraph of that list level, its number placeholders (`%1`,
# `%1%`) filled in.
_LIST_ATTRIBUTE = re.compile(r"""\b(?:num-prefix|num-suffix|num-list-format)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_LIST_TAG = re.compile(r"<(?:[\w.-]{1,64}:)?(?:lvlText|list-level-style-number|outline-level-style)\b[^<>]*>")
_LIST_PLACEHOLDER = re.compile(r"%\d%?")


def _list_labels(xml: bytes) -> str:
    """The literal text of each list level's label of a Word or OpenDocument part, a
    line each (used by a paragraph or not: a reading that errs towards a marking). A
    numbered list whose label is `ลับมาก` (Word's Define New Number Format, LibreOffice's
    Bullets and Numbering "Before"/"After") shows ลับมาก at the head of each of its
    paragraphs, an empty one too; until session 51 the numbering part was read as
    holding nothing shown, and a letter marked only so was ordinary and certain."""
    if not (_holds(xml, "lvlText") or _holds(xml, "num-prefix") or _holds(xml, "num-suffix")
            or _holds(xml, "num-list-format")):
        return ""
    lines: dict[str, None] = {}
    for tag in _LIST_TAG.finditer(_xml_doc(xml)):
        if len(lines) >= 10_000:
            break
        text = tag[0]
        if re.match(r"<(?:[\w.-]{1,64}:)?lvlText\b", text):
            m = re.search(r"""\bval\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""", text)
            found = [m] if m else []
        else:
            found = list(_LIST_ATTRIBUTE.finditer(text))
        for m in found:
            label = " ".join(_LIST_PLACEHOLDER.sub(" ", _xml_unescape(m[1] if m[1] is not None else m[2])).split())
            if label:
                lines[label] = None
    return "\n".join(lines)


# A number format of an Excel workbook's styles (xl/styles.xml; a cell style's, a
# conditional format's); its code may hold a raw ">" (`[>100]`).
_NUMBER_FORMAT = re.compile(rf"""<{_NS}numFmt\b[^<>]*?\bformatCode\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
# The pieces of a format code: a quoted literal, an escaped character, a bracket
# ([Red], [>100], [$-41E], or [$฿-41E] whose currency symbol is shown), a space the
# width of a character (_x) or a fill (*x), a section's end, anything else.
_FORMAT_PIECE = re.compile(r'"([^"]*)"?|\\(.)|\[(\$[^\]-]*)?[^\]]*\]?|[_*].?|(;)|(.)', re.S)
MAX_FORMAT_CODE = 1024  # characters of one format code read (Excel's own limit is 255)


def _number_formats(xml: bytes) -> str:
    """The literal text of each number format of an Excel workbook, each section of a
    format a line: Excel shows it in every cell the format is applied to (a format
    `"ลับมาก"`, `\\ล\\ั\\บ`, or `@" ลับ"` makes a cell show ลับมาก, ลับ whatever it holds).
    Quoted text, escaped characters, a currency symbol and any character that is not
    ASCII are literal; digit, date and text placeholders are not (`#,##0.00" บาท"`
    reads บาท). Every custom format is read, used by a cell or not: a reading that errs
    towards a marking. Until session 36 no format was read, and a sheet whose cells
    showed ลับมาก only through their format left the letter ordinary."""
    if b"numFmt" not in xml and "numFmt".encode("utf-16-le") not in xml and "numFmt".encode("utf-16-be") not in xml:
        return ""
    lines: dict[str, None] = {}
    for m in _NUMBER_FORMAT.finditer(_xml_doc(xml)):
        section: list[str] = []
        code = _xml_unescape(m[1] if m[1] is not None else m[2])[:MAX_FORMAT_CODE]
        for piece in _FORMAT_PIECE.finditer(code):
            quoted, escaped, currency, end, other = piece.groups()
            if end is not None:
                lines[" ".join("".join(section).split())] = None
                section = []
            elif quoted is not None or escaped is not None:
                section.append(quoted if quoted is not None else escaped)
            elif currency is not None:
                section.append(" " + currency[1:] + " ")
            elif other is not None:
                section.append(other if other == " " or not other.isascii() else " ")
        lines[" ".join("".join(section).split())] = None
    return "\n".join(line for line in lines if line)


MAX_ENTRIES = 10_000  # entries in an archive's directory: past this it is not opened


def _entries(data: bytes) -> int:
    """How many entries the archive's central directory says it has (0xFFFF: ZIP64)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    return int.from_bytes(data[at + 10:at + 12], "little") if at >= 0 else 0


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MAX_NAME = 160  # characters of a member's name shown


def member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as the clerk's unzip tool shows it. Without the UTF-8 flag the
    stdlib decodes it as CP437, which no Thai sender writes: 7-Zip and macOS write UTF-8
    without the flag, Windows' own "compressed folder" the OEM code page (874 on a Thai
    Windows). Until session 16 "ลับมาก.pdf" zipped on a Thai Windows read as "┼╤║┴╥╡.pdf"
    (no marking) and was shown so. Line breaks and direction marks are not shown: the
    name goes into the register and the folder copy's headers."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            raw = None
        if raw is not None:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                name = raw.decode("cp874", "replace")
    return shown_name(name)


def shown_name(name: str) -> str:
    name = _CONTROL.sub("?", name.encode("utf-8", "replace").decode("utf-8"))  # a tar name's lone surrogates too
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 1] + "…"


_ARCHIVE_TYPES = ("application/zip", "application/x-tar", "application/gzip", "application/x-gzip",
                  "application/x-bzip2", "application/x-xz")


def archived_pdfs(data: bytes, filename: str | None, sniffed: str, budget: Budget | None = None) -> FileTexts:
    """The PDFs inside an attached archive (ZIP, tar, gzip, bzip2, xz, and archives in
    them), unpacked within the same limits as its texts are read (`read_texts`); nothing
    is read of the PDFs."""
    name = (filename or "").lower()
    if name.endswith(".p7m") and is_cms(data):  # a signed file two deep (parse.py `_signed_file`)
        return member_texts(data, name, lambda _pdf: None, None, budget=budget)
    if sniffed not in _ARCHIVE_TYPES and not _is_tar(data, name) and not outlook.is_tnef(data) \
            and not zip_behind(data):
        return FileTexts()  # an office file is a ZIP too, and holds no PDF anyone verifies
    return read_texts(data, None, "", name, sniffed, pdf_reader=lambda _pdf: None, budget=budget)


def member_texts(data: bytes, name: str, pdf_reader: PdfReader, sniff: Callable[[bytes], str] | None,
                 what: str = "file", budget: Budget | None = None) -> FileTexts:
    """One file read as an archive's member named `name` is (`_any_file`: a PDF's pages,
    a signed file's content...): for what a signed file carries (parse.py `_signed_file`)."""
    out = FileTexts()
    _member_file(data, name, name.lower(), pdf_reader, sniff, 1, _fresh(budget), what, out)
    return out


def _zip(data: bytes, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None, depth: int,
         budget: Budget, what: str, out: FileTexts) -> None:
    if _entries(data) > MAX_ENTRIES:  # ZipFile would make an object of every entry first
        out.unread.append(f"{what}: an archive of more than {MAX_ENTRIES} entries")
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        if data.startswith(_LOCAL):
            # Its directory cut or damaged, its members are still there: Word offers to
            # recover such a file, 7-Zip and a streaming unzip show them. Until session 39
            # it was read as holding nothing, certain, and a ลับมาก DOCX cut short in
            # transfer was filed in plain.
            out.unread.append(f"{what}: archive or office file could not be opened (damaged)")
        return  # a ZIP's end record alone behind other bytes, unopened: no reader shows a file
    with zf:
        if _hidden_entries(data, infos, getattr(zf, "start_dir", len(data))):
            # A reader that walks the local headers (a streaming unzip) shows a file the
            # directory, which this reader and the clerk's Explorer read, does not list:
            # what the letter holds depends on the tool, so it is not said to be ordinary.
            out.unread.append(f"{what}: an archive with entries its directory does not list")
        names = {i.filename for i in infos}
        if any(name.lower().endswith(".iwa") for name in names):
            # Pages, Numbers and Keynote (since 2013) keep a document's text in Snappy-packed
            # protocol buffers (`Index/Document.iwa`), which nothing here unpacks: its
            # members were read as holding no text, and a ลับมาก .pages letter was ordinary
            # and certain until session 56. Unread, as a 7z archive is; its other members
            # (the preview picture, the files pasted into it under Data/) are read below.
            out.unread.append(f"{what}: {IWORK_NOT_READ}")

        def chunk(member: bytes, name: str) -> None:  # a file embedded in an office file
            _member_file(member, name, re.split(r"[/\\]", name)[-1], pdf_reader, sniff, depth, budget,
                         f"{what} part", out)

        if _office(zf, names, budget, what, out, chunk if depth <= MAX_DEPTH else None):
            return
        if depth > MAX_DEPTH:
            out.unread.append(f"{what}: archive nested past {MAX_DEPTH} levels")
            return
        for number, info in enumerate(infos, start=1):
            if info.is_dir():
                continue
            if budget.members <= 0:
                out.unread.append(f"{what}: members past the first {MAX_MEMBERS}")
                return
            budget.members -= 1
            name = member_name(info)
            # The name a person sees when opening the archive ("ลับมาก_2569_....pdf").
            base = re.split(r"[/\\]", name)[-1]
            shown = re.sub(r"[_.\-]+", " ", base).strip()
            if shown:
                out.texts.append(shown)
            member = _read_member(zf, info, budget, what, out)
            if not member:
                continue
            _member_file(member, name, base, pdf_reader, sniff, depth, budget, f"{what} member {number}", out)


IWORK_NOT_READ = "an Apple Pages, Numbers or Keynote document, whose text is not read"
_LOCAL = b"PK\x03\x04"
_END = b"PK\x05\x06"
_END_WINDOW = 65_557  # the end record and its longest comment


def _hidden_entries(data: bytes, infos: list[zipfile.ZipInfo], directory: int) -> bool:
    """Whether a local file header lies outside every entry the central directory lists
    (before the first, between two, after the last): a file one reader shows and
    another does not (session 18: two archives back to back, or an entry cut out of the
    directory, hid a ลับมาก PDF from the directory's readers)."""
    spans = []
    for info in infos:
        at = info.header_offset
        head = data[at:at + 30]
        if len(head) < 30 or not head.startswith(_LOCAL):
            continue  # opening it fails, and says so (`_read_member`)
        end = at + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little") \
            + info.compress_size
        spans.append((at, end + (24 if info.flag_bits & 0x8 else 0)))  # its data descriptor
    spans.sort()
    starts = [start for start, _ in spans]
    found = data.find(_LOCAL)
    while 0 <= found < directory:
        n = bisect.bisect_right(starts, found) - 1
        if n < 0 or found >= spans[n][1]:
            return True
        found = data.find(_LOCAL, spans[n][1])  # past the entry: a member's own bytes are its own
    return False


def zip_behind(data: bytes) -> bool:
    """A ZIP behind other bytes (a byte, a self-extractor's program): unzip, 7-Zip and
    Python open it by its end record and show its files. Until session 18 only a file
    that began as a ZIP was read as one, and a ลับมาก PDF in a ZIP behind one byte left
    the letter ordinary."""
    return not data.startswith((_LOCAL, _END)) and _END in data[-_END_WINDOW:] and _LOCAL in data


# --------------------------------------------------------------------------- any file

_OOXML_OR_ODF = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
                 "application/vnd.ms-word.", "application/vnd.ms-excel.", "application/vnd.ms-powerpoint.")
_TEXT_NAMES = (".txt", ".text", ".csv", ".tsv", ".htm", ".html", ".xhtml", ".md", ".log", ".svg",
               ".xml", ".fodt", ".fods", ".fodp", ".fodg", ".etx", ".rtx", ".ics", ".vcs", ".vcf", ".vcard", ".fpage",
               *_JSON_NAMES)


def pdf_texts(data: bytes, pdf_reader: PdfReader, what: str, out: FileTexts) -> None:
    from rules.markings import _pdf_unreadable

    info = pdf_reader(data)
    pages = tuple(getattr(info, "page_texts", ()) or ())
    if not pages and getattr(info, "text", None):
        pages = (info.text,)
    out.texts += [*pages, *(getattr(info, "viewer_page_texts", ()) or ()), *(getattr(info, "other_texts", ()) or ())]
    if getattr(info, "encrypted", False) and getattr(info, "pages", None) is None:
        out.unread.append(f"{what}: password-protected PDF")
    elif _pdf_unreadable(getattr(info, "error", None)):
        out.unread.append(f"{what}: PDF")


_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: old Office, and encrypted new Office
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # the stream of a password-protected DOCX/XLSX/PPTX
PGP_ARMOR = "-----BEGIN PGP MESSAGE-----"  # an OpenPGP message as text, in a file or a body
_PGP_TYPES = ("application/pgp-encrypted", "application/pgp", "application/x-pgp")


# The first packet of a binary OpenPGP message (RFC 4880 4.2, old and new formats): a
# public-key or symmetric-key encrypted session key, or symmetrically encrypted data.
_PGP_FIRST_PACKETS = frozenset({0x84, 0x85, 0x86, 0x87, 0x8c, 0x8d, 0x8e, 0x8f, 0xa4, 0xa5, 0xa6, 0xa7,
                                0xc1, 0xc3, 0xc9, 0xd2})


def encrypted(data: bytes, sniffed: str = "", filename: str = "") -> str | None:
    """What a file is encrypted as, when the gateway holds no key to it (a Word, Excel or
    PowerPoint file saved with a password, old or new, a 7z or RAR archive with a
    password, an OpenPGP message): such a file may hold a ลับ letter, encrypted as seed
    004 requires of one, and nobody can say it does not."""
    if data.startswith(_CFB) and (sniffed == "application/encrypted" or _ENCRYPTED_PACKAGE in data
                                  or _old_office_encrypted(data)):
        return "password-protected Office file"
    if data.startswith(_7Z) and _7z_encrypted(data):
        return "password-protected 7z archive"
    if (data.startswith(_RAR4) and _rar4_encrypted(data)) or (data.startswith(_RAR5) and _rar5_encrypted(data)):
        return "password-protected RAR archive"
    if sniffed in _PGP_TYPES or PGP_ARMOR.encode() in data[:65536]:
        return "OpenPGP-encrypted file"
    if filename.lower().endswith((".gpg", ".pgp")) and data[:1] and data[0] in _PGP_FIRST_PACKETS:
        return "OpenPGP-encrypted file"  # binary: libmagic names it only "data"
    return None


# --------------------------------------------------------------------------- encrypted containers
#
# Until session 15 only a new Office file's password (its EncryptedPackage stream) was
# seen: a Word 97-2003 .doc, an .xls or a .ppt saved with a password (RC4 or CryptoAPI,
# MS-OFFCRYPTO 2.3), a 7z or a RAR archive with a password were files of no text, and a
# ลับมาก letter inside one was registered as ordinary. Each reader below reads headers
# only, within the file's bytes (every offset checked, every walk bounded).

_CFB_END = 0xFFFFFFFA  # MS-CFB 2.1: sector numbers from here on are markers, not sectors
MAX_CFB_SECTORS = 1 << 20
MAX_MINI_STREAM = 4 * 1024 * 1024  # the mini stream holds streams under 4096 bytes each


def _cfb_streams(data: bytes, wanted: set[str], limit: int = 1 << 20) -> dict[str, bytes]:
    """The top (`limit` bytes) of each `wanted` stream of an OLE compound file (MS-CFB),
    in regular sectors or, under the cutoff (4096 bytes), in the mini stream."""
    if len(data) < 512:
        return {}
    shift = int.from_bytes(data[0x1E:0x20], "little")
    if shift not in (9, 12):
        return {}
    size = 1 << shift
    count = min(len(data) // size, MAX_CFB_SECTORS)

    def sector(n: int) -> bytes:
        return data[(n + 1) * size:(n + 2) * size] if n < count else b""

    fat_sectors = [n for n in struct.unpack_from("<109I", data, 0x4C) if n < _CFB_END]
    next_difat, seen = int.from_bytes(data[0x44:0x48], "little"), set()
    while next_difat < _CFB_END and next_difat not in seen and len(seen) < 1024:
        seen.add(next_difat)
        block = sector(next_difat)
        if len(block) < size:
            break
        entries = struct.unpack(f"<{size // 4}I", block)
        fat_sectors += [n for n in entries[:-1] if n < _CFB_END]
        next_difat = entries[-1]
    fat: list[int] = []
    for n in fat_sectors[:count]:
        block = sector(n)
        fat += struct.unpack(f"<{len(block) // 4}I", block[:len(block) // 4 * 4])

    def chain(start: int, limit: int) -> bytes:
        out, n, visited = [], start, set()
        while n < min(count, len(fat)) and n not in visited and len(out) * size < limit:
            visited.add(n)
            out.append(sector(n))
            n = fat[n]
        return b"".join(out)[:limit]

    found: dict[str, bytes] = {}
    cutoff = int.from_bytes(data[0x38:0x3C], "little")
    directory = chain(int.from_bytes(data[0x30:0x34], "little"), 128 * 65536)
    mini: list[bytes] = []  # the mini stream and its FAT, read when first wanted

    def mini_chain(start: int, length: int) -> bytes:
        """A stream smaller than the cutoff: in 64-byte sectors of the root's mini stream
        (MS-CFB 2.6.3). LibreOffice saves a short .doc's WordDocument there."""
        if not mini:
            root = directory[:128]
            mini.append(chain(int.from_bytes(root[116:120], "little"),
                              min(int.from_bytes(root[120:124], "little"), MAX_MINI_STREAM)))
            table = chain(int.from_bytes(data[0x3C:0x40], "little"), MAX_MINI_STREAM // 16)
            mini.append(table[:len(table) // 4 * 4])
        stream, table = mini
        minifat = struct.unpack(f"<{len(table) // 4}I", table)
        out, n, visited = [], start, set()
        while n < len(minifat) and n not in visited and len(out) * 64 < length:
            visited.add(n)
            out.append(stream[n * 64:(n + 1) * 64])
            n = minifat[n]
        return b"".join(out)[:length]

    for at in range(0, len(directory) - 127, 128):
        entry = directory[at:at + 128]
        length = min(int.from_bytes(entry[64:66], "little"), 64)
        name = entry[:max(length - 2, 0)].decode("utf-16-le", "replace")
        if entry[66] == 2 and name in wanted:
            stream_size = int.from_bytes(entry[120:124], "little")
            start = int.from_bytes(entry[116:120], "little")
            found[name] = (chain(start, min(stream_size, limit)) if stream_size >= cutoff
                           else mini_chain(start, min(stream_size, limit)))
    return found


_PPT_CRYPT_SESSION = b"\x0f\x00\x14\x2f"  # CryptSession10Container's record header (MS-PPT 2.3.7)


def _old_office_encrypted(data: bytes) -> bool:
    """A Word, Excel or PowerPoint 97-2003 file saved with a password (MS-OFFCRYPTO 2.3):
    Word sets fEncrypted in its FIB (MS-DOC 2.5.2), Excel writes a FILEPASS record after
    the workbook's BOF (MS-XLS 2.4.117), PowerPoint a CryptSession10Container and an
    EncryptedSummary stream (MS-PPT 2.3.7). A new Office file's EncryptionInfo counts too."""
    streams = _cfb_streams(data, {"WordDocument", "Workbook", "Book", "PowerPoint Document", "EncryptedSummary",
                                  "EncryptionInfo"})
    if "EncryptedSummary" in streams or "EncryptionInfo" in streams:
        return True
    word = streams.get("WordDocument", b"")
    if word[:2] == b"\xec\xa5" and int.from_bytes(word[0x0A:0x0C], "little") & 0x0100:
        return True
    book = streams.get("Workbook") or streams.get("Book") or b""
    at = 0
    for _ in range(64):  # FILEPASS follows the globals' BOF, before any sheet's data
        if at + 4 > len(book):
            break
        kind, length = int.from_bytes(book[at:at + 2], "little"), int.from_bytes(book[at + 2:at + 4], "little")
        if kind == 0x002F:
            return True
        if kind == 0x000A:  # EOF of the globals
            break
        at += 4 + length
    return _PPT_CRYPT_SESSION in streams.get("PowerPoint Document", b"")


_7Z = b"7z\xbc\xaf\x27\x1c"
_7Z_AES = b"\x06\xf1\x07\x01"  # the 7zAES coder's id (7-Zip's Methods.txt)
_7Z_LZMA = b"\x03\x01\x01"
MAX_7Z_HEADER = 16 * 1024 * 1024


def _7z_number(buf: bytes, at: int) -> tuple[int, int]:
    """A 7z variable-length number (7zFormat.txt "REAL_UINT64") at `at`: (value, next)."""
    first = buf[at]
    mask, value = 0x80, 0
    for i in range(8):
        if not first & mask:
            return value | ((first & (mask - 1)) << (8 * i)), at + 1 + i
        value |= buf[at + 1 + i] << (8 * i)
        mask >>= 1
    return value, at + 9


def _7z_encrypted(data: bytes) -> bool:
    """A 7z archive with a password: its header names the 7zAES coder, or (header
    encrypted too, `-mhe`) the coder of its encoded header is 7zAES. A header packed
    with LZMA, as 7-Zip writes it, is unpacked (at most MAX_7Z_HEADER bytes) to be read."""
    if len(data) < 32:
        return False
    offset, length = int.from_bytes(data[12:20], "little"), int.from_bytes(data[20:28], "little")
    header = data[32 + offset:32 + offset + min(length, MAX_7Z_HEADER)]
    if _7Z_AES in header:
        return True
    if header[:1] != b"\x17" or _7Z_LZMA not in header:  # kEncodedHeader
        return False
    try:  # StreamsInfo: kPackInfo packPos numPackStreams kSize size ..., then the LZMA coder's properties
        pack_pos, at = _7z_number(header, 2)
        _streams, at = _7z_number(header, at)
        packed_size, _ = _7z_number(header, at + 1)
        props = header[header.index(_7Z_LZMA) + 3:][:6]
        lc_lp_pb, dictionary = props[1], int.from_bytes(props[2:6], "little")
        packed = data[32 + pack_pos:32 + pack_pos + min(packed_size, MAX_7Z_HEADER)]
        decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
            "id": lzma.FILTER_LZMA1, "dict_size": max(dictionary, 4096), "lc": lc_lp_pb % 9,
            "lp": lc_lp_pb // 9 % 5, "pb": lc_lp_pb // 45}])
        return _7Z_AES in decoder.decompress(packed, MAX_7Z_HEADER)
    except (IndexError, ValueError, lzma.LZMAError):
        return True  # a header 7-Zip wrote that cannot be read: what it holds is unknown


_RAR4 = b"Rar!\x1a\x07\x00"
_RAR5 = b"Rar!\x1a\x07\x01\x00"
MAX_RAR_BLOCKS = 10_000


def _rar4_encrypted(data: bytes) -> bool:
    """RAR 1.5-4: the main header's MHD_PASSWORD (headers encrypted), or a file header's
    LHD_PASSWORD (technote.txt)."""
    at = len(_RAR4)
    for _ in range(MAX_RAR_BLOCKS):
        if at + 7 > len(data):
            return False
        kind, flags = data[at + 2], int.from_bytes(data[at + 3:at + 5], "little")
        size = int.from_bytes(data[at + 5:at + 7], "little")
        if kind == 0x73 and flags & 0x0080 or kind == 0x74 and flags & 0x0004:
            return True
        if size < 7:
            return False
        if flags & 0x8000 and at + 11 <= len(data):  # ADD_SIZE: the packed data that follows
            size += int.from_bytes(data[at + 7:at + 11], "little")
        at += size
    return False


def _rar5_number(buf: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        byte = buf[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise IndexError("vint too long")


def _rar5_encrypted(data: bytes) -> bool:
    """RAR 5: an archive encryption header (type 4: headers encrypted), or a file
    header whose extra area holds a file encryption record (type 0x01) (rarlab's
    "RAR 5.0 archive format")."""
    at = len(_RAR5)
    try:
        for _ in range(MAX_RAR_BLOCKS):
            if at + 4 >= len(data):
                return False
            size, body = _rar5_number(data, at + 4)
            end = body + size
            kind, cursor = _rar5_number(data, body)
            flags, cursor = _rar5_number(data, cursor)
            extra = data_size = 0
            if flags & 0x0001:
                extra, cursor = _rar5_number(data, cursor)
            if flags & 0x0002:
                data_size, cursor = _rar5_number(data, cursor)
            if kind == 4:
                return True
            if kind in (2, 3) and extra:
                record = end - extra
                while record < end:
                    record_size, inner = _rar5_number(data, record)
                    if _rar5_number(data, inner)[0] == 0x01:
                        return True
                    record = inner + max(record_size, 1)
            if kind == 5 or size == 0:  # end of archive
                return False
            at = end + data_size
    except IndexError:
        return False
    return False


# --------------------------------------------------------------------------- files without a reader of their own
#
# Until the session-15 follow-up a file that is not encrypted but that no reader here
# opened (a Word, Excel or PowerPoint 97-2003 file, a tar, gzip, bzip2 or xz file, a 7z
# or RAR archive) was read as no text: a ลับมาก in it was never seen and the letter was
# ordinary. What the standard library opens is now read; what it does not makes the
# letter at least ลับ, uncertain (docs/secrecy.md "Where in the letter").

_OLD_OFFICE = {"WordDocument": "Word", "Workbook": "Excel", "Book": "Excel", "PowerPoint Document": "PowerPoint"}
_WORD_TABLES = ("1Table", "0Table")  # a Word 97-2003 file's table stream, by its FIB's fWhichTblStm
MAX_OLD_OFFICE = 8 * 1024 * 1024  # bytes of one main stream scanned; a typed letter's are a few hundred KB
# A run of what a person reads (Thai, ASCII, no-break and zero-width spaces): each one a
# line. Binary records break the runs; Word's paragraph marks (\r) end lines as they should.
_TEXT_RUN = re.compile(r"[\u0e01-\u0e5b\u0020-\u007e\u00a0\u200b]{3,}")


def _runs(text: str) -> str:
    return ends("\n".join(_TEXT_RUN.findall(text)))


def _cfb_cut_short(data: bytes) -> bool:
    """An OLE compound file whose directory lies past its end: cut short."""
    shift = int.from_bytes(data[0x1E:0x20], "little")
    if len(data) < 512 or shift not in (9, 12):
        return len(data) < 512
    return (int.from_bytes(data[0x30:0x34], "little") + 2) << shift > len(data)


def _old_office(data: bytes, what: str, out: FileTexts) -> None:
    """A Word, Excel or PowerPoint 97-2003 file (an OLE compound file that is not
    encrypted): its main stream scanned for text. Their text is UTF-16LE (Word's and
    PowerPoint's text, Excel's strings, at either byte alignment: Excel packs a string
    after a 3-byte header) or 8-bit (Word 6/95 in the Thai code page): each reading's runs
    of text are read as lines, which finds a marking wherever the file holds it, headers
    and footers too (they are in the same stream). A compound file of another kind (an
    Outlook .msg, a Visio or Publisher file) is not read: uncertain."""
    # Word's table stream too (below), found in the same walk of the file's directory.
    streams = _cfb_streams(data, {*_OLD_OFFICE, *_WORD_TABLES}, MAX_OLD_OFFICE)
    main = next((name for name in _OLD_OFFICE if name in streams), None)
    if main is None:
        # Its directory names a Word, Excel or PowerPoint stream that could not be found
        # (a file cut short, its allocation table damaged): the registrar is told which
        # kind of file to open, where until session 39 they were sent looking for an
        # Outlook item or a Visio drawing.
        main = next((name for name in _OLD_OFFICE if name.encode("utf-16-le") in data), None)
        if _cfb_cut_short(data):
            out.unread.append(f"{what}: compound file (Word, Excel, PowerPoint 97-2003...) cut short (damaged)")
        elif main is not None:
            out.unread.append(f"{what}: {_OLD_OFFICE[main]} 97-2003 file that could not be read (damaged)")
        else:
            out.unread.append(f"{what}: compound file of a kind not read (Outlook .msg, Visio, Publisher)")
        return
    stream = streams[main]
    if not stream:
        out.unread.append(f"{what}: {_OLD_OFFICE[main]} 97-2003 file whose text could not be found")
    elif len(stream) >= MAX_OLD_OFFICE:
        out.unread.append(f"{what}: {_OLD_OFFICE[main]} 97-2003 file past what is read")
    out.texts += [*_wide_runs(stream), _runs(stream.decode("cp874", "replace"))]
    if main in ("Workbook", "Book") and b"<\x00" in stream:  # a CONTINUE record's type, 0x003C, somewhere
        # Excel cuts a record longer than 8,224 bytes into CONTINUE records (MS-XLS
        # 2.4.58), a shared string too, mid-string, where the CONTINUE's header and an
        # option byte stand between two of its characters: `ลับ` and `มาก` read as two
        # runs, and a ลับมาก cell so cut read ลับ (session 51). The records' data joined
        # (each CONTINUE's first byte, that option byte, left out) is read as well.
        out.texts += _wide_runs(_biff_joined(stream))
    if main == "WordDocument":
        # The table stream (1Table, or 0Table) holds each list level's label (an LVL's
        # xst), which Word shows before every paragraph of that level: a numbered list
        # labelled ลับมาก was read as nothing until session 51. Its runs of text are read
        # as the main stream's are, as a text of their own (style and font names, the
        # document's title and authors are there too: names, no marking alone).
        for table in (streams[name] for name in _WORD_TABLES if name in streams):
            if len(table) >= MAX_OLD_OFFICE:
                out.unread.append(f"{what}: Word 97-2003 file past what is read")
            out.texts += _wide_runs(table)


def _wide_runs(data: bytes) -> list[str]:
    """The runs of text of UTF-16LE bytes read at both byte alignments."""
    return [_runs(data.decode("utf-16-le", "replace")), _runs(data[1:].decode("utf-16-le", "replace"))]


def _biff_joined(stream: bytes) -> bytes:
    """A BIFF workbook stream's records' data, one after another without their headers;
    a CONTINUE record's first byte (the option byte of a string it goes on with) left out."""
    parts, at = [], 0
    while at + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, at)
        data = stream[at + 4:at + 4 + size]
        parts.append(data[1:] if kind == 0x003C else data)
        at += 4 + size
    return b"".join(parts)


_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
_UNPACKERS: dict[bytes, Callable[[], object]] = {
    _GZIP: lambda: zlib.decompressobj(wbits=31), _BZIP2: bz2.BZ2Decompressor,
    _XZ: lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)}
# Packed kinds no reader here unpacks (7z and RAR: the encrypted ones are `encrypted`'s).
_NOT_UNPACKED = ((_7Z, "7z archive"), (_RAR4, "RAR archive"), (_RAR5, "RAR archive"),
                 (b"MSCF\0\0\0\0", "CAB archive"), (b"\x28\xb5\x2f\xfd", "zstd file"),
                 (b"LZIP", "lzip file"), (b"\x04\x22\x4d\x18", "LZ4 file"), (b"\x1f\x9d", "Unix compress file"))


def _is_tar(data: bytes, filename: str) -> bool:
    return data[257:262] == b"ustar" or (filename.endswith(".tar") and len(data) >= 512)


def _unpacked(data: bytes, magic: bytes, budget: Budget, what: str, out: FileTexts) -> bytes | None:
    """A gzip, bzip2 or xz file's content (every stream of it, as gunzip reads them),
    within the letter's budget and MAX_RATIO; None (and a phrase) when not."""
    limit = min(budget.unpacked, max(RATIO_FLOOR, MAX_RATIO * len(data)))
    content = bytearray()
    try:
        while data[:len(magic)] == magic and len(content) <= limit:
            unpacker = _UNPACKERS[magic]()
            content += unpacker.decompress(data, limit + 1 - len(content))
            if not unpacker.eof:
                if len(content) <= limit:
                    # Cut short: what is there is read, but not the rest, where a marking
                    # at the foot stands, and bzip2 gives nothing before its block's end
                    # (bunzip2recover gives it). Until session 39, read as certain.
                    out.unread.append(f"{what}: compressed file cut short (damaged)")
                break  # past the limit: checked below
            data = unpacker.unused_data
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        out.unread.append(f"{what}: compressed file could not be unpacked ({why_unread(exc)})")
        return None
    if len(content) > limit:
        out.unread.append(f"{what}: compressed file past the limits of what is unpacked")
        return None
    budget.unpacked -= len(content)
    return bytes(content)


def _tar(data: bytes, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None, depth: int,
         budget: Budget, what: str, out: FileTexts) -> None:
    """A tar archive's members as a ZIP's are read (`_zip`): names, then contents."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
        out.unread.append(f"{what}: tar archive could not be opened ({why_unread(exc)})")
        return
    number = 0
    try:
        while (info := archive.next()) is not None:
            number += 1
            if number > MAX_ENTRIES:  # headers of empty entries cost a parse each
                out.unread.append(f"{what}: an archive of more than {MAX_ENTRIES} entries")
                return
            if not info.isfile():
                continue
            if budget.members <= 0:
                out.unread.append(f"{what}: members past the first {MAX_MEMBERS}")
                return
            budget.members -= 1
            name = shown_name(info.name)
            base = re.split(r"[/\\]", name)[-1]
            shown = re.sub(r"[_.\-]+", " ", base).strip()
            if shown:
                out.texts.append(shown)
            if info.size > budget.unpacked:
                out.unread.append(f"{what}: member past the {MAX_UNPACKED // 2**20} MB read")
                continue
            handle = archive.extractfile(info)
            member = handle.read(info.size) if handle is not None else b""
            budget.unpacked -= len(member)
            if member:
                _member_file(member, name, base, pdf_reader, sniff, depth, budget, f"{what} member {number}", out)
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
        out.unread.append(f"{what}: tar archive could not be read to its end ({why_unread(exc)})")


def _without_reader(data: bytes, filename: str, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None,
                    depth: int, budget: Budget, what: str, out: FileTexts) -> bool:
    """Old Office files, tar, gzip, bzip2 and xz files read; 7z, RAR and the other packed
    kinds of `_NOT_UNPACKED` noted as not read. False when the file is none of these."""
    if data.startswith(_CFB):
        _old_office(data, what, out)
        return True
    kind = next((name for magic, name in _NOT_UNPACKED if data.startswith(magic)), None)
    if kind is not None:
        out.unread.append(f"{what}: {kind}")
        return True
    magic = next((m for m in _UNPACKERS if data.startswith(m)), None)
    is_tar = magic is None and _is_tar(data, filename)
    if magic is None and not is_tar:
        return False
    if depth > MAX_DEPTH:
        out.unread.append(f"{what}: archive nested past {MAX_DEPTH} levels")
        return True
    if is_tar:
        _tar(data, pdf_reader, sniff, depth, budget, what, out)
        return True
    content = _unpacked(data, magic, budget, what, out)
    if content:
        inner = re.sub(r"\.t[gbx]z2?$", ".tar", filename)
        inner = re.sub(r"\.(?:gz|bz2|xz)$", "", inner)
        _any_file(content, None, "", inner, pdf_reader, sniff, depth + 1, budget, what, out)
    return True


_PDF_HEADER = re.compile(rb"%PDF-\d")


def pdf_for_lenient_viewers(data: bytes) -> bytes | None:
    """The PDF poppler's viewers (Evince, Okular, pdftotext) show in bytes that PDFium and
    Acrobat refuse, its header past the first 1024 bytes or missing: from its first
    `%PDF-`, or behind a header put in front of its objects (PDFium then rebuilds the
    cross-reference table, as poppler does); None when the bytes hold no PDF object.
    Whole when the header is in the first 1024 bytes, where PDFium finds it: a
    signature's byte ranges count from the file's first byte."""
    at = data.find(b"%PDF-")
    if 0 <= at < 1024:
        return data
    if at > 0:
        return data[at:]
    if at < 0 and b"endobj" in data and b"obj" in data[:65536]:
        return b"%PDF-1.7\n" + data
    return None


def file_kind(data: bytes) -> str | None:
    """What a file's bytes are, as the program that opens them knows them, whatever its
    name or declared type says: "pdf", "zip", "tnef" (winmail.dat), "cms" (signed or
    encrypted, .p7m), "rtf", "ole" (Office 97-2003, an encrypted Office file, an Outlook
    item), "packed" (gzip, bzip2, xz, tar, 7z, RAR and the other kinds of
    `_NOT_UNPACKED`), "picture" (a scan OCR reads, scanned_pages.py), "message" (a MIME
    message: a header block that names its content), or None (text, anything else: then
    the name and the type decide how it is read). Until session 19 a file went down the branch of what it claimed to be: a ZIP
    or a 7z archive named `x.eml`, a PDF sent as message/rfc822 or as an unnamed
    text/plain part, a message named `x.pdf` were each read as nothing, and the ลับมาก
    letter in them left the letter ordinary, certain, filed in plain text."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith((_LOCAL, _END)):
        return "zip"
    if outlook.is_tnef(data):
        return "tnef"
    if cms_der(data) is not None:
        return "cms"
    if is_rtf(data):
        return "rtf"
    if data.startswith(_CFB):
        return "ole"
    if data.startswith((*_UNPACKERS, *(magic for magic, _ in _NOT_UNPACKED))) or data[257:262] == b"ustar":
        return "packed"
    if scanned_pages.is_picture(data):
        return "picture"
    # Behind stray bytes (viewers look through the first 1024), with a PDF's end: a
    # text that only quotes a PDF header is not one.
    if _PDF_HEADER.search(data[:1024]) and (b"%%EOF" in data[-2048:] or b"startxref" in data[-2048:]):
        return "pdf"
    if zip_behind(data):
        return "zip"
    if begins_as_message(data):
        return "message"
    return None


def _member_file(member: bytes, name: str, base: str, pdf_reader: PdfReader | None,
                 sniff: Callable[[bytes], str] | None, depth: int, budget: Budget, what: str,
                 out: FileTexts) -> None:
    """An archive's member read as any file one level down, its path (`out.where`) kept
    for the PDFs found in it (archive/member, gateway/signatures/check.py)."""
    reading_goes_on()  # 100 members of each of the letter's 500 files
    out.where.append(name)
    try:
        _any_file(member, None, "", base.lower(), pdf_reader, sniff, depth + 1, budget, what, out)
    finally:
        out.where.pop()


def _any_file(data: bytes, charset: str | None, declared: str, filename: str, pdf_reader: PdfReader | None,
              sniff: Callable[[bytes], str] | None, depth: int, budget: Budget, what: str, out: FileTexts) -> None:
    if (found := encrypted(data, filename=filename)) is not None:
        out.unread.append(f"{what}: {found}")
        return
    # By its bytes first; the name (or a type) only for bytes that say nothing (`file_kind`).
    kind = file_kind(data)
    if kind is None and (filename.endswith(".pdf") or declared == "application/pdf") \
            and (shown := pdf_for_lenient_viewers(data)) is not None:
        # Its header late or missing: read as poppler's viewers show it (parse.py reads
        # the letter's own files so since session 50).
        data, kind = shown, "pdf"
    if kind == "pdf":
        if pdf_reader is not None and depth > 0:  # the letter's own PDFs are read by parse.py
            out.pdfs.append(("/".join(out.where) or filename, data))
            pdf_texts(data, pdf_reader, what, out)
        return
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        _zip(data, pdf_reader, sniff, depth, budget, what, out)
        return
    if kind == "tnef":
        _tnef(data, pdf_reader, sniff, depth, budget, what, out)
        return
    if kind == "cms" or (kind is None and filename.endswith(".p7m")):
        _p7m(data, filename, pdf_reader, sniff, depth, budget, what, out)
        return
    if kind == "picture":
        _picture_into(data, budget, what, out)
        return
    if kind == "rtf":
        _rtf_into(data, what, out, charset)
        return
    if kind == "message":
        _message(data, pdf_reader, depth, budget, what, out)
        return
    if _without_reader(data, filename, pdf_reader, sniff, depth, budget, what, out):
        return
    sniffed = sniff(data) if sniff is not None else ""
    if (declared.startswith("text/") or sniffed.startswith("text/") or filename.endswith(_TEXT_NAMES)
            or _SVG in (declared, sniffed) or _is_json(declared, filename, sniffed)
            or data[:2] in (b"\xff\xfe", b"\xfe\xff") or charsets.utf16_codec(data) is not None):
        read = text_file(data, charset, declared, filename, sniffed, out.unread, what)
        out.texts.extend(read)
        if read and depth <= MAX_DEPTH:
            _uuencoded_into(read[0], pdf_reader, sniff, depth, budget, what, out)
    if zip_behind(data):
        _zip(data, pdf_reader, sniff, depth, budget, what, out)


# Reads a message found inside an archive or a signed file: parse.py `archived_message`,
# set here by parse.py when it is imported (it imports this module; the other way round
# would be an import circle). Every process that reads letters loads parse.py (the
# PDF-reading child too: gateway/pipeline/pdf_pool.py); where it is not loaded, such a
# message is said unread: the letter is ลับ, uncertain.
message_reader: Callable[..., tuple[list[str], list, list[str]]] | None = None


def _message(data: bytes, pdf_reader: PdfReader | None, depth: int, budget: Budget, what: str,
             out: FileTexts) -> None:
    """A message inside an archive or a signed file (a forwarded letter saved as `.eml`
    and zipped): read as one attached to the letter is, its header blocks with the
    letter's own. Until session 19 it was read as text at most (a base64 body as base64),
    and a ลับมาก letter zipped so left the letter ordinary."""
    if depth > MAX_DEPTH:
        out.unread.append(f"{what}: archive nested past {MAX_DEPTH} levels")
        return
    if budget.messages <= 0:
        out.unread.append(f"{what}: messages in archives past the first {MAX_ARCHIVED_MESSAGES}")
        return
    budget.messages -= 1
    if message_reader is None:
        out.unread.append(f"{what}: a message inside an archive (not read here)")
        return
    texts, headers, unread = message_reader(data, pdf_reader, what, budget)
    out.texts += texts
    out.headers += headers
    out.unread += unread


def _tnef(data: bytes, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None, depth: int,
          budget: Budget, what: str, out: FileTexts) -> None:
    """Outlook's winmail.dat inside an archive or a message file: its body, and its files
    as an archive's members (`_zip`). One attached to the letter itself is unpacked into
    the letter's files instead (gateway/pipeline/parse.py)."""
    if depth > MAX_DEPTH:
        out.unread.append(f"{what}: archive nested past {MAX_DEPTH} levels")
        return
    found = outlook.read_tnef(data)
    out.texts += found.texts + ([rtf_text(found.rtf)] if found.rtf else [])
    if found.problem:
        out.unread.append(f"{what}: Outlook TNEF file (winmail.dat) {found.problem}")
    for number, (name, member) in enumerate(found.files, start=1):
        if budget.members <= 0:
            out.unread.append(f"{what}: members past the first {MAX_MEMBERS}")
            return
        budget.members -= 1
        name = shown_name(name or f"file {number}")
        shown = re.sub(r"[_.\-]+", " ", name).strip()
        if shown:
            out.texts.append(shown)
        if len(member) > budget.unpacked:
            out.unread.append(f"{what}: member past the {MAX_UNPACKED // 2**20} MB read")
            continue
        budget.unpacked -= len(member)
        if member:
            _member_file(member, name, name, pdf_reader, sniff, depth, budget, f"{what} member {number}", out)


# A CMS ContentInfo (RFC 5652): SEQUENCE, then the OID 1.2.840.113549.1.7.x (signed
# data is .2, enveloped .3) within its first bytes, whatever the file is named.
_CMS_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"
MAX_SIGNED_LAYERS = 3  # a file signed, the signed file signed again...: more is not a letter


def is_cms(data: bytes) -> bool:
    return data[:1] == b"\x30" and _CMS_OID in data[2:16]


_PEM_CMS = re.compile(rb"\A\s*-----BEGIN (?:PKCS7|CMS|PKCS #7 SIGNED DATA)-----(.*?)-----END ", re.S)


def cms_der(data: bytes) -> bytes | None:
    """A CMS file's DER: as it is, or from the PEM or bare base64 that `openssl smime
    -outform PEM` and some signing tools save (`letter.p7s` beginning "-----BEGIN PKCS7-----",
    which a signing tool opens as the DER one; read as a text of base64, a ลับมาก PDF
    signed so left the letter ordinary). None when it is no CMS."""
    if is_cms(data):
        return data
    head = data[:80].lstrip()
    if head.startswith(b"-----BEGIN "):
        found = _PEM_CMS.match(data[:MAX_UNPACKED])
        body = found.group(1) if found else b""
    elif head[:3] == b"MII":  # base64 of a DER SEQUENCE with a long length
        body = data[:MAX_UNPACKED]
    else:
        return None
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
    except (ValueError, binascii.Error):
        return None
    return der if is_cms(der) else None


def _p7m(data: bytes, filename: str, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None,
         depth: int, budget: Budget, what: str, out: FileTexts) -> None:
    """A signed file inside an archive (`letter.pdf.p7m`): the file it carries, read as
    the member itself would be, and the signed file kept (`out.signed`) for the signature
    step. Until session 17 it was read as no text; until session 18 its signature was not
    verified, and a signed file inside a signed file was unwrapped as deep as its name
    was long. One attached to the letter itself is unwrapped by parse.py. Layers that do
    not open (encrypted, detached, not DER) or past MAX_SIGNED_LAYERS are said unread:
    the letter is at least ลับ, uncertain."""
    from asn1crypto import cms

    pushed = 0
    try:
        for _ in range(MAX_SIGNED_LAYERS):
            try:
                info = cms.ContentInfo.load(cms_der(data) or data)
                content = info["content"]["encap_content_info"]["content"].native \
                    if info["content_type"].native == "signed_data" else None
            except Exception:  # noqa: BLE001 - hostile DER: not read, and said so
                content = None
            if not isinstance(content, bytes) or not content:
                out.unread.append(f"{what}: a signed or encrypted file (.p7m) that could not be opened")
                return
            out.signed.append(("/".join(out.where) or filename, data))
            data = content
            filename = filename[:-4] if filename.endswith(".p7m") else filename
            out.where.append(filename)
            pushed += 1
            if not (is_cms(data) or (filename.endswith(".p7m") and file_kind(data) is None)):
                _any_file(data, None, "", filename, pdf_reader, sniff, depth, budget, what, out)
                return
        out.unread.append(f"{what}: a file signed more than {MAX_SIGNED_LAYERS} times over")
    finally:
        del out.where[len(out.where) - pushed:]


def _picture_into(data: bytes, budget: Budget, what: str, out: FileTexts) -> None:
    """A scan sent as a picture: the secrecy stamp at its head and foot, read by OCR
    (gateway/pipeline/scanned_pages.py), when it has a page's shape."""
    try:
        out.texts.extend(scanned_pages.picture_marking_lines(data, budget))
    except scanned_pages.NotRead as exc:
        out.unread.append(f"{what}: {exc}")


def is_rtf(data: bytes) -> bool:
    """Whether Word opens the bytes as RTF: it looks at `{\\rt` alone, so `{\\rtx` and
    `{\\rt0` open as RTF too (a trick of malicious documents, which file(1) and checks
    of `{\\rtf` miss). Until session 50 such a file, named `.doc` or `.rtf`, was read as
    plain text, its Thai in `\\'xx` and `\\uN` escapes unread: a ลับมาก letter so saved
    was ordinary and certain (tests/secrecy/test_rtf_short_header_session50.py).

    Behind a UTF-8 byte order mark too (an editor or a script that writes one): which
    program shows such a file as RTF and which as its source, the gateway cannot tell, so
    it reads what the RTF shows. Until session 51 it was read as text, its Thai in
    escapes unread, and a ลับมาก letter so saved was ordinary and certain
    (tests/secrecy/test_rtf_bom_session51.py)."""
    return data[:64].removeprefix(_UTF8_BOM).lstrip()[:4] == b"{\\rt"


_UTF8_BOM = b"\xef\xbb\xbf"


def _rtf_into(data: bytes, what: str, out: FileTexts, charset: str | None = None) -> None:
    text, complete = _rtf(data)
    out.texts.append(text)
    if not data.startswith(b"{\\rtf"):
        # `{\rt` without the f, or a byte order mark or blanks first: Word opens it as
        # RTF and LibreOffice, which wants `{\rtf` at the first byte, shows its source,
        # where Thai typed into it as UTF-8 reads as Thai. Both readings; the higher
        # marking counts.
        out.texts.extend(text_file(data, charset, "text/plain", "", "text/plain", out.unread, what))
    if not complete:
        out.unread.append(f"{what}: RTF past what is read")


def _fresh(budget: Budget | None) -> Budget:
    """The letter's byte budget (a new one when none is shared), members counted anew:
    the member limit is one attached file's."""
    budget = budget or Budget()
    budget.members = MAX_MEMBERS
    return budget


def read_texts(data: bytes, charset: str | None, declared_type: str, filename: str | None,
               sniffed_type: str, pdf_reader: PdfReader | None = None,
               sniff: Callable[[bytes], str] | None = None, what: str = "file",
               budget: Budget | None = None) -> FileTexts:
    """The texts a person reads in one attached file and what could not be read (each
    phrase begins with `what`, e.g. "file 2": never a name, which may be the letter's words).
    A PDF attached to the letter itself is not read here (parse.py reads it)."""
    reading_goes_on()  # each file's reading is bounded, their sum is not
    out = FileTexts()
    name = (filename or "").lower()
    declared = (declared_type or "").lower()
    if not data:
        return out
    if (found := encrypted(data, sniffed_type, name)) is not None:
        out.unread.append(f"{what}: {found}")
    elif is_rtf(data):
        _rtf_into(data, what, out, charset)
    elif data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        _zip(data, pdf_reader, sniff, 1, _fresh(budget), what, out)
    elif outlook.is_tnef(data):  # inside another: one the letter carries is unpacked by parse.py
        _tnef(data, pdf_reader, sniff, 1, _fresh(budget), what, out)
    elif scanned_pages.is_picture(data):
        _picture_into(data, _fresh(budget), what, out)
    elif sniffed_type != "application/pdf" and _without_reader(data, name, pdf_reader, sniff, 1,
                                                              _fresh(budget), what, out):
        pass
    elif sniffed_type != "application/pdf" and (
            declared.startswith("text/") or sniffed_type.startswith("text/") or name.endswith(_TEXT_NAMES)
            or _SVG in (declared, sniffed_type) or _is_json(declared, name, sniffed_type)
            or data[:2] in (b"\xff\xfe", b"\xfe\xff") or charsets.utf16_codec(data) is not None):
        read = text_file(data, charset, declared, name, sniffed_type, out.unread, what)
        out.texts.extend(read)
        if read:
            _uuencoded_into(read[0], pdf_reader, sniff, 1, _fresh(budget), what, out)
    if sniffed_type != "application/pdf" and zip_behind(data):
        _zip(data, pdf_reader, sniff, 1, _fresh(budget), what, out)
    return out
