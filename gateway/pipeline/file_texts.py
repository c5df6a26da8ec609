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
  `MAX_RATIO` times its packed size (a zip bomb) is noted as not read.

Nothing is written to disk; XML is read with regular expressions (no entity expansion).
"""
from __future__ import annotations

import codecs
import html
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Callable

from gateway.pipeline import charsets

MAX_DEPTH = 2  # an archive inside an archive is read; one level further is not
MAX_MEMBERS = 100
MAX_UNPACKED = 50 * 1024 * 1024  # bytes unpacked from one attached file in all
MAX_RATIO = 100  # unpacked/packed size of one member past which it is a bomb, not a file
RATIO_FLOOR = 1024 * 1024  # a member smaller than this unpacked is never a bomb
MAX_TEXT = 1_000_000  # characters of one text kept: its beginning and its end
MAX_RTF = 20 * 1024 * 1024
MAX_RTF_TOKENS = 500_000  # ~1 s; a typed letter has tens of thousands (a Thai character is one)

PdfReader = Callable[[bytes], object]


@dataclass
class FileTexts:
    texts: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


@dataclass
class Budget:
    """What is left to unpack: bytes for the whole letter (every archive and office
    file in it, those in attached messages too), members for one attached file."""

    unpacked: int = MAX_UNPACKED
    members: int = MAX_MEMBERS


MAX_MIDDLE_LINES = 2_000  # short lines kept from the middle of a text cut by `ends`


def ends(text: str, keep: int = MAX_TEXT // 2) -> str:
    """A long text's beginning and end (where a marking is printed) and, from what is
    cut between them, the short lines that hold a ล: a line made only of markings counts
    anywhere (rules/markings.py), and a ลับที่สุด alone in the middle of a body of more
    than a million characters was cut with the middle (leak red team, 30 Nov 2026)."""
    if len(text) <= 2 * keep:
        return text
    middle = [line for line in text[keep:-keep].splitlines() if "ล" in line and len(line.strip()) <= 60]
    return "\n".join([text[:keep], *middle[:MAX_MIDDLE_LINES], text[-keep:]])



# --------------------------------------------------------------------------- text files

def _is_html(declared: str, filename: str, sniffed: str) -> bool:
    return (declared == "text/html" or sniffed == "text/html"
            or filename.endswith((".html", ".htm", ".xhtml")))


def text_file(data: bytes, charset: str | None, declared: str, filename: str, sniffed: str) -> list[str]:
    """A text file's readings: its text, or an HTML file's (`html_readings`)."""
    from rules.markings import html_readings

    text = charsets.decode_bytes(data[:4 * MAX_TEXT] if len(data) > 8 * MAX_TEXT else data, charset)
    if len(data) > 8 * MAX_TEXT:
        text += "\n" + charsets.decode_bytes(data[-4 * MAX_TEXT:], charset)
    if _is_html(declared, filename, sniffed):
        return [ends(reading) for reading in html_readings(text)]
    return [ends(text)]


# --------------------------------------------------------------------------- RTF

_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)", re.S)
# Destinations whose text is not shown.
_RTF_HIDDEN = {b"fonttbl", b"colortbl", b"stylesheet", b"info", b"pict", b"object", b"datafield",
               b"themedata", b"colorschememapping", b"latentstyles", b"datastore", b"xmlnstbl",
               b"listtable", b"listoverridetable", b"rsidtbl", b"generator", b"bkmkstart", b"bkmkend",
               b"fldinst", b"filetbl", b"revtbl", b"pgptbl", b"mmathPr", b"wgrffmtfilter", b"nonshppict"}
_RTF_BREAKS = {b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n",
               b"tab": "\t", b"cell": "\t", b"emspace": " ", b"enspace": " ", b"qmspace": " ",
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

    def flush() -> None:
        if pending:
            if not hidden:
                out.append(bytes(pending).decode(codec, "replace"))
            pending.clear()

    for count, m in enumerate(_RTF_TOKEN.finditer(data)):
        if count >= MAX_RTF_TOKENS:
            complete = False
            break
        word, arg, hexbyte, symbol, brace, plain = m.groups()
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
                first_in_group = False
            continue
        if word is not None:
            if skip:
                skip -= 1
                continue
            if first_in_group and word in _RTF_HIDDEN:
                hidden = True
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


def _xml_doc(xml: bytes) -> str:
    """An XML part as the text an XML parser reads: UTF-16 too (OPC allows it, and Word
    and LibreOffice open it), CDATA sections as escaped text. Until session 14 a part
    saved as UTF-16, or a `<w:t><![CDATA[ลับมาก]]></w:t>`, read as no text."""
    if xml[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        doc = xml.decode("utf-16", "replace")
    elif xml[:2] in (b"<\0", b"\0<"):  # UTF-16 without its byte order mark
        doc = xml.decode("utf-16-le" if xml[:1] == b"<" else "utf-16-be", "replace")
    else:
        doc = xml.decode("utf-8-sig", "replace")
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


def _xml_text(xml: bytes, paragraph: str, breaks: str, text_tags: str | None = None) -> str:
    """The text of an XML part, a line per paragraph: `paragraph` the regex of a
    paragraph's end tag, `breaks` that of tags shown as a line break or a tab,
    `text_tags` (if given) the element whose content alone is text (w:t, a:t). Every
    pattern stops at the next "<" (XML escapes it in text): linear in the part's size."""
    doc = _xml_doc(xml)
    doc = re.sub(paragraph, "\n", doc)
    doc = re.sub(breaks, lambda m: "\t" if "tab" in m.group(0) else ("\n" if "br" in m.group(0) or "break" in m.group(0) else " "), doc)
    if text_tags:
        keep = re.compile(rf"<(?:{text_tags})(?:\s[^<>]*)?>([^<]*)<|(\n)|(\t)")
        doc = "".join(m.group(1) or m.group(2) or m.group(3) or "" for m in keep.finditer(doc))
    else:
        doc = _TAG.sub("", doc)
    return ends(_xml_unescape(doc))


# Word's watermark (Design > Watermark, "ลับ" across every page) is a VML shape in the
# page header whose text is the `string` attribute of its v:textpath, not a w:t: it was
# not read, and a letter whose only marking was its watermark was registered in plain.
_TEXTPATH = re.compile(r"""<v:textpath\b[^<>]*?\sstring\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")


def _word_xml(xml: bytes) -> str:
    text = _xml_text(xml, r"</w:p>", r"<w:(?:tab|br|cr)\b[^<>]*/>", "w:t")
    if b"textpath" not in xml and b"t\0e\0x\0t\0p\0a\0t\0h" not in xml:
        return text
    drawn = [_xml_unescape(m.group(1) or m.group(2) or "")
             for m in _TEXTPATH.finditer(_xml_doc(xml))]
    # Each drawn text a line of its own, before the part's paragraphs: a watermark is
    # read as a line made only of markings, wherever the page has it.
    return "\n".join([*(d for d in drawn if d.strip()), text])


def _slide_xml(xml: bytes) -> str:
    return _xml_text(xml, r"</a:p>", r"<a:(?:br|tab)\b[^<>]*/>", "a:t")


def _sheet_strings(xml: bytes) -> str:
    return _xml_text(xml, r"</si>|</is>|</c>", r"<(?:x:)?br\b[^<>]*/>", "t|x:t")


def _sheet_head_foot(xml: bytes) -> list[str]:
    """A sheet's printed header and footer (&L/&C/&R sections, & codes dropped)."""
    doc = _xml_doc(xml)
    out = []
    for m in re.finditer(r"<(?:odd|even|first)(?:Header|Footer)>([^<]*)<", doc):
        text = _xml_unescape(m.group(1))
        text = re.sub(r"&\"[^\"]*\"|&[0-9]+|&[LCRPNDTFAZGBIUSEXYK&]", lambda t: "&" if t.group(0) == "&&" else "\n", text)
        out.append(text)
    return out


def _odf_xml(xml: bytes) -> str:
    return _xml_text(xml, r"</text:(?:p|h)>", r"<text:(?:tab|line-break|s)\b[^<>]*/>")


def _odf_head_foot(xml: bytes) -> list[str]:
    """The page headers and footers of an OpenDocument file's master pages."""
    doc = _xml_doc(xml)
    out = []
    for tag in ("header", "footer", "header-left", "footer-left", "header-first", "footer-first"):
        start, close = f"<style:{tag}>", f"</style:{tag}>"
        at = doc.find(start)
        while at >= 0 and len(out) < MAX_MEMBERS:
            end = doc.find(close, at)
            if end < 0:
                break
            out.append(_odf_xml(doc[at:end].encode()))
            at = doc.find(start, end)
    return out


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
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError,
            zipfile.LargeZipFile) as exc:
        out.unread.append(f"{what}: member could not be unpacked ({type(exc).__name__})")
        return None
    if len(data) > budget.unpacked or (len(data) > RATIO_FLOOR and len(data) > MAX_RATIO * max(info.compress_size, 1)):
        out.unread.append(f"{what}: member past the limits of what is unpacked")
        return None
    budget.unpacked -= len(data)
    return data


def _office(zf: zipfile.ZipFile, names: set[str], budget: Budget, what: str, out: FileTexts) -> bool:
    """An OOXML or OpenDocument file's texts into `out`; False when it is neither."""
    infos = {i.filename: i for i in zf.infolist()}

    def member(name: str) -> bytes:
        data = _read_member(zf, infos[name], budget, what, out)
        return data or b""

    def numbered(prefix: str, suffix: str = ".xml") -> list[str]:
        found = [n for n in names if n.startswith(prefix) and n.endswith(suffix)]
        return sorted(found, key=lambda n: (len(n), n))

    if "word/document.xml" in names:
        heads = numbered("word/header")
        feet = numbered("word/footer")
        out.texts += [_word_xml(member(n)) for n in heads]
        out.texts.append(_word_xml(member("word/document.xml")))
        for extra in ("word/footnotes.xml", "word/endnotes.xml"):
            if extra in names:
                out.texts.append(_word_xml(member(extra)))
        out.texts += [_word_xml(member(n)) for n in feet]
        return True
    if "xl/workbook.xml" in names or "xl/sharedStrings.xml" in names:
        if "xl/sharedStrings.xml" in names:
            out.texts.append(_sheet_strings(member("xl/sharedStrings.xml")))
        for n in numbered("xl/worksheets/sheet")[:MAX_MEMBERS]:
            xml = member(n)
            out.texts += _sheet_head_foot(xml)
            if b"inlineStr" in xml:
                out.texts.append(_sheet_strings(xml))
        return True
    if "ppt/presentation.xml" in names:
        for n in (numbered("ppt/slides/slide") + numbered("ppt/notesSlides/notesSlide")
                  + numbered("ppt/slideMasters/slideMaster") + numbered("ppt/slideLayouts/slideLayout"))[:MAX_MEMBERS]:
            out.texts.append(_slide_xml(member(n)))
        return True
    if "content.xml" in names and ("mimetype" in names or "META-INF/manifest.xml" in names):
        if "META-INF/manifest.xml" in names and b"encryption-data" in member("META-INF/manifest.xml"):
            # Saved with a password: content.xml is ciphertext, read as no text at all.
            out.unread.append(f"{what}: password-protected OpenDocument file")
            return True
        if "styles.xml" in names:
            out.texts += _odf_head_foot(member("styles.xml"))
        content = member("content.xml")
        out.texts.append(_odf_xml(content))
        out.texts += _odf_head_foot(content)
        return True
    return False


MAX_ENTRIES = 10_000  # entries in an archive's directory: past this it is not opened


def _entries(data: bytes) -> int:
    """How many entries the archive's central directory says it has (0xFFFF: ZIP64)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    return int.from_bytes(data[at + 10:at + 12], "little") if at >= 0 else 0


def _zip(data: bytes, pdf_reader: PdfReader | None, sniff: Callable[[bytes], str] | None, depth: int,
         budget: Budget, what: str, out: FileTexts) -> None:
    if _entries(data) > MAX_ENTRIES:  # ZipFile would make an object of every entry first
        out.unread.append(f"{what}: an archive of more than {MAX_ENTRIES} entries")
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return  # no reader opens it: no text anyone reads (as a PDF no viewer opens)
    with zf:
        names = {i.filename for i in infos}
        if _office(zf, names, budget, what, out):
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
            name = info.filename
            # The name a person sees when opening the archive ("ลับมาก_2569_....pdf").
            base = name.rsplit("/", 1)[-1]
            shown = re.sub(r"[_.\-]+", " ", base).strip()
            if shown:
                out.texts.append(shown)
            member = _read_member(zf, info, budget, what, out)
            if member is None or not member:
                continue
            _any_file(member, None, "", base.lower(), pdf_reader, sniff, depth + 1, budget,
                      f"{what} member {number}", out)


# --------------------------------------------------------------------------- any file

_OOXML_OR_ODF = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
                 "application/vnd.ms-word.", "application/vnd.ms-excel.", "application/vnd.ms-powerpoint.")
_TEXT_NAMES = (".txt", ".text", ".csv", ".tsv", ".htm", ".html", ".xhtml", ".md", ".log")


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
_TNEF = b"\x78\x9f\x3e\x22"  # TNEF's signature, 0x223E9F78 little-endian (MS-OXTNEF 2.1.3)


# The first packet of a binary OpenPGP message (RFC 4880 4.2, old and new formats): a
# public-key or symmetric-key encrypted session key, or symmetrically encrypted data.
_PGP_FIRST_PACKETS = frozenset({0x84, 0x85, 0x86, 0x87, 0x8c, 0x8d, 0x8e, 0x8f, 0xa4, 0xa5, 0xa6, 0xa7,
                                0xc1, 0xc3, 0xc9, 0xd2})


def encrypted(data: bytes, sniffed: str = "", filename: str = "") -> str | None:
    """What a file is encrypted as, when the gateway holds no key to it (a Word, Excel or
    PowerPoint file saved with a password, an OpenPGP message): such a file may hold a
    ลับ letter, encrypted as seed 004 requires of one, and nobody can say it does not."""
    if data.startswith(_CFB) and (sniffed == "application/encrypted" or _ENCRYPTED_PACKAGE in data):
        return "password-protected Office file"
    if sniffed in _PGP_TYPES or PGP_ARMOR.encode() in data[:65536]:
        return "OpenPGP-encrypted file"
    if filename.lower().endswith((".gpg", ".pgp")) and data[:1] and data[0] in _PGP_FIRST_PACKETS:
        return "OpenPGP-encrypted file"  # binary: libmagic names it only "data"
    if data.startswith(_TNEF):
        # Outlook's winmail.dat: the letter's own files and body, packed in a format no
        # reader here unpacks; Outlook shows them to the clerk as the letter.
        return "Outlook TNEF file (winmail.dat) whose files are not read"
    return None


def _any_file(data: bytes, charset: str | None, declared: str, filename: str, pdf_reader: PdfReader | None,
              sniff: Callable[[bytes], str] | None, depth: int, budget: Budget, what: str, out: FileTexts) -> None:
    head = data[:1024]
    if (found := encrypted(data, filename=filename)) is not None:
        out.unread.append(f"{what}: {found}")
        return
    if b"%PDF-" in head and (filename.endswith(".pdf") or data.startswith(b"%PDF-") or declared == "application/pdf"):
        if pdf_reader is not None and depth > 0:  # the letter's own PDFs are read by parse.py
            pdf_texts(data, pdf_reader, what, out)
        return
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        _zip(data, pdf_reader, sniff, depth, budget, what, out)
        return
    if data[:64].lstrip()[:5] == b"{\\rtf":
        _rtf_into(data, what, out)
        return
    sniffed = sniff(data) if sniff is not None else ""
    if (declared.startswith("text/") or sniffed.startswith("text/") or filename.endswith(_TEXT_NAMES)
            or data[:2] in (b"\xff\xfe", b"\xfe\xff")):
        out.texts.extend(text_file(data, charset, declared, filename, sniffed))


def _rtf_into(data: bytes, what: str, out: FileTexts) -> None:
    text, complete = _rtf(data)
    out.texts.append(text)
    if not complete:
        out.unread.append(f"{what}: RTF past what is read")


def read_texts(data: bytes, charset: str | None, declared_type: str, filename: str | None,
               sniffed_type: str, pdf_reader: PdfReader | None = None,
               sniff: Callable[[bytes], str] | None = None, what: str = "file",
               budget: Budget | None = None) -> FileTexts:
    """The texts a person reads in one attached file and what could not be read (each
    phrase begins with `what`, e.g. "file 2": never a name, which may be the letter's words).
    A PDF attached to the letter itself is not read here (parse.py reads it)."""
    out = FileTexts()
    name = (filename or "").lower()
    declared = (declared_type or "").lower()
    if not data:
        return out
    if (found := encrypted(data, sniffed_type, name)) is not None:
        out.unread.append(f"{what}: {found}")
    elif data[:64].lstrip()[:5] == b"{\\rtf":
        _rtf_into(data, what, out)
    elif data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        budget = budget or Budget()
        budget.members = MAX_MEMBERS
        _zip(data, pdf_reader, sniff, 1, budget, what, out)
    elif sniffed_type != "application/pdf" and (
            declared.startswith("text/") or sniffed_type.startswith("text/") or name.endswith(_TEXT_NAMES)
            or data[:2] in (b"\xff\xfe", b"\xfe\xff")):
        out.texts.extend(text_file(data, charset, declared, name, sniffed_type))
    return out
