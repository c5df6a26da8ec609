"""Read what the rules need from a PDF: is it one, is it encrypted, how many pages,
and the text layer of its first pages (where ที่, วันที่ and เรื่อง are printed).

Hostile PDFs (circular page trees, endless object streams) can make a parser spin or
balloon, so callers run this in a child process with a timeout and a memory cap
(gateway/pipeline/pdf_pool.py) rather than in the pipeline's own loop.
"""
from __future__ import annotations

import dataclasses
import html
import io
import logging
import re
from dataclasses import dataclass

import structlog

from gateway.pipeline.pdf_forms import FORM_DRAWS_CAP, draws_of
from gateway.pipeline.unread_words import why_unread
from rules.model import EMBEDDED_NOT_READ, NOT_READ_IN_TIME, SCAN_NOT_READ
from rules.markings import may_hold_marking
from rules.thai_text import THAI_MARKS, repair_sara_am


TEXT_PAGES = 3  # the cover letter's header is on page 1; 3 is generous
MAX_TEXT = 200_000
# A classification is printed at the top and bottom of every page: the first
# MARKING_PAGES and the last MARKING_LAST pages are read for it (rules/markings.py).
# A bundle of 220 pages is read whole (20 and 5 until session 33: a ลับมาก annex on
# pages 21-35 of a 40-page bundle was not read; 60 and 10 until session 34: one on
# pages 61-90 of 100). 220 dense Thai pages take ~0.4 s of CPU.
MARKING_PAGES = 200
MARKING_LAST = 20
# The pages between them are read too, for their text layer alone, by PDFium (~0.5 ms a
# dense page against ~6.5 for pypdf; no OCR, no annotations): until session 35 a marking
# only on pages 201 to n-20 of a longer PDF was not read. What is left of them after
# MIDDLE_TIME seconds makes the PDF not read (at least ลับ, uncertain).
MIDDLE_TIME = 5.0
# Of them, the pages that draw annotations are read in full, as the others (at most this
# many; past them the PDF is not read).
MIDDLE_ANNOTATED = 100
EDGE_LINES = 12  # lines kept from each end of a page
# What a viewer shows beside the page's own text in stream order (`_other_text`):
MAX_ANNOTS = 200  # annotations read per page; a hostile page may hold thousands
MAX_ANNOT_TEXT = 2_000  # characters kept of one annotation's or field's own text
# Lines of annotations read between a page's head and foot (each a line of markings alone
# may be: ~0.1 s for 2,000); past them the page is not read whole, the letter at least ลับ.
# It was 200, the rest dropped: 150 FreeText notes of three short lines above a ลับที่สุด
# stamp in the middle of the page left the letter ordinary (session 46).
MAX_OTHER_LINES = 2_000
MAX_OPTIONS = 100_000  # a PDF's choice fields' options looked at for the ones shown
MAX_FIELD_DEPTH = 20  # a widget's field and its ancestors, for what it inherits
MAX_LINE = 1_000  # characters kept of a line
ROW_TOLERANCE = 3.0  # points: lines whose baselines differ by less share a row

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # pypdf warns per broken object


@dataclass(frozen=True)
class PdfInfo:
    text: str | None
    pages: int | None
    encrypted: bool
    error: str | None
    page_texts: tuple[str, ...] = ()  # top and bottom lines of each page read
    # The same pages as a viewer's reader (PDFium, Chrome's) reads them, top and bottom
    # lines: markings are looked for in both readings (rules/markings.py), since the
    # two disagree on real letters (`_viewer_texts`).
    viewer_page_texts: tuple[str, ...] = ()
    # What a viewer shows that neither reading above holds in reading order: per page,
    # its head and foot lines by their place, its annotations' and form fields' text.
    other_texts: tuple[str, ...] = ()


def info_fields(info: PdfInfo) -> dict:
    """A PdfInfo as JSON-able data: what a reading child answers (gateway/pipeline/
    pdf_pool.py) and what the DATA check keeps for the pipeline (pdf_readings.py)."""
    return {"text": info.text, "pages": info.pages, "encrypted": info.encrypted,
            "error": info.error, "page_texts": list(info.page_texts),
            "viewer_page_texts": list(info.viewer_page_texts), "other_texts": list(info.other_texts)}


def _is_text(value: object, optional: bool = True) -> bool:
    return isinstance(value, str) or (optional and value is None)


def info_from_fields(fields: object) -> PdfInfo:
    """`info_fields` read back, every type checked; ValueError for anything else. The
    data comes from a process that parsed the sender's file: it is data, never code."""
    if not isinstance(fields, dict):
        raise ValueError("not a PDF reading")
    text, pages, encrypted, error, page_texts, viewer, other = (fields.get(k) for k in (
        "text", "pages", "encrypted", "error", "page_texts", "viewer_page_texts", "other_texts"))
    if not (_is_text(text) and _is_text(error) and isinstance(encrypted, bool)
            and (pages is None or (isinstance(pages, int) and not isinstance(pages, bool)))
            and all(isinstance(texts, list) and all(isinstance(t, str) for t in texts)
                    for texts in (page_texts, viewer, other))):
        raise ValueError("not a PDF reading")
    return PdfInfo(text, pages, encrypted, error, tuple(page_texts), tuple(viewer), tuple(other))


def _edges(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 2 * EDGE_LINES:
        lines = lines[:EDGE_LINES] + lines[-EDGE_LINES:]
    return "\n".join(lines)


def inspect_pdf(data: bytes, timeout: float | None = None, _depth: int = 0) -> PdfInfo:
    """In this process; `timeout` is the pool's business (gateway/pipeline/pdf_pool.py).
    `_depth`: for a PDF embedded in the one being read (`_embedded`)."""
    from gateway.pipeline.pypdf_import import import_pypdf, with_cryptography

    import_pypdf()  # without `cryptography` (~8.6 MiB) until a PDF is encrypted
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    from gateway.pipeline import pypdf_fixes  # noqa: F401 - pypdf's codec tables built once

    try:
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
        except DependencyError:
            # pypdf tries the empty password of an AES-256 file (R5, R6) as it opens it.
            with_cryptography()
            reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # An empty user password opens "owner-only" protection; anything else is
            # a password-protected letter the gateway cannot read.
            with_cryptography()
            try:
                opened = reader.decrypt("")
            except Exception:
                opened = 0
            if not opened:
                return PdfInfo(text=None, pages=None, encrypted=True, error=None)
            encrypted = True
        else:
            encrypted = False
        pages = len(reader.pages)
        wanted = pages_read(pages)
        if draws_of(reader, wanted) > FORM_DRAWS_CAP:
            structlog.get_logger("gateway.pipeline.pdf_inspect").warning(
                "pdf_not_read", reason="form_draws", cap=FORM_DRAWS_CAP)
            return PdfInfo(text=None, pages=pages, encrypted=encrypted,
                           error=f"{NOT_READ_IN_TIME}: its pages draw more than {FORM_DRAWS_CAP} forms")
        read: list[str] = []
        for n in wanted:
            try:
                read.append(reader.pages[n].extract_text() or "")
            except Exception:  # one broken page must not hide the others
                read.append("")
        texts = dict(zip(wanted, repair_sara_am(read)))
        # PDFium refusing what pypdf opened (a trailer whose /Root names no object: pypdf
        # finds the catalog, PDFium gives up) leaves the scans unread by OCR, the
        # annotations and the middle pages unread: not read, said so (until session 50
        # a scanned ลับมาก letter so damaged was ordinary and certain).
        _, viewer, other, unread = _viewer_texts(data, wanted, reader) or (
            pages, {}, {}, _scan_error("the viewer's reader could not open it"))
        info = _info(pages, texts, encrypted=encrypted, error="; ".join(unread) or None, viewer=viewer, other=other)
        return _with_embedded(_with_document(info, _document_texts(reader), len(wanted)), reader, wanted, _depth)
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, AssertionError, OSError, NotImplementedError) as exc:
        if _raised_by_encryption(exc):
            # Encrypted by a handler pypdf does not have (a certificate: Acrobat's "Encrypt
            # with Certificate", /Adobe.PubSec, what seed 004 asks of a ลับ letter; a DRM
            # plug-in's), or an encryption dictionary it cannot take: no viewer without the
            # key reads it either. Until session 39 it was a PDF no reader opens, judged
            # without its text: a ลับ letter encrypted to the registrar was ordinary.
            return PdfInfo(text=None, pages=None, encrypted=True, error=None)
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return _read_repaired(data, error) or PdfInfo(text=None, pages=None, encrypted=False, error=error)


def _raised_by_encryption(exc: BaseException) -> bool:
    """Whether pypdf raised this while reading the file's encryption dictionary."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(("pypdf/_encryption.py", "pypdf\\_encryption.py")):
            return True
        tb = tb.tb_next
    return False


MAX_OUTLINE = 2_000  # bookmarks read (the outline pane); past them the PDF is not read
MAX_OUTLINE_DEPTH = 50  # bookmarks nested in bookmarks
MAX_XMP = 1_000_000  # characters of the XMP metadata looked at for its title
_XMP_TITLE = re.compile(r"<(?:[\w.-]{1,64}:)?title(?:\s[^<>]*)?>(.*?)</(?:[\w.-]{1,64}:)?title\s*>", re.S)
_XMP_ITEM = re.compile(r"<(?:[\w.-]{1,64}:)?li(?:\s[^<>]*)?>([^<]*)<")


def _with_document(info: PdfInfo, read: tuple[list[str], str | None], wanted: int) -> PdfInfo:
    """`info` with what a viewer shows of the document beside its pages, after the
    pages' own in `other_texts`: its title (/Info /Title, and the XMP metadata's
    dc:title), each a text of its own, and the bookmarks' titles (the outline pane,
    which /PageMode /UseOutlines opens) as one text, a bookmark a line in the pane's
    order. A title is the window's (/DisplayDocTitle) and the author's word on the
    document, whether shown or not: read as a line alone, as a DOCX's core title is
    (rules/markings.py `secrecy_in_letter`: a marking alone, or starting or ending it,
    or bracketed, counts; ลับ inside a word does not). The outline is read as a page
    is: a bookmark that is a marking alone counts wherever it is (past the first and
    last, not in a run of different levels: a regulation's chapters), one starting or
    ending with one among the first and last bookmarks. Until session 39 neither was
    read: a ลับมาก PDF opening on its bookmarks, or with its title bar saying so, was
    ordinary (leak red team, findings 6 and 7). `read`: what `_document_texts` (pypdf)
    or `_repaired_document_texts` (PDFium) found."""
    texts, unread = read
    if not texts and not unread:
        return info
    pages = max(len(info.page_texts), len(info.viewer_page_texts)) or wanted
    aligned = info.other_texts or ("",) * pages  # "page n" still names page n
    error = "; ".join(filter(None, (info.error, f"{NOT_READ_IN_TIME}: {unread}" if unread else None)))
    return dataclasses.replace(info, other_texts=aligned + tuple(texts), error=error or None)


def _document_texts(reader) -> tuple[list[str], str | None]:
    """(the document's titles and its bookmarks' titles, what of them was not read)."""
    texts: list[str] = []
    try:
        root = reader.trailer["/Root"].get_object()
    except Exception:  # noqa: BLE001 - no catalog: no outline a viewer shows either
        root = {}
    try:
        info = reader.trailer.get("/Info")
        info = info.get_object() if info is not None else None
        if hasattr(info, "get"):
            texts.append(_text_of(info.get("/Title")))
    except Exception:  # noqa: BLE001 - a broken /Info: its title is not shown either
        pass
    try:
        metadata = root.get("/Metadata")
        if metadata is not None:
            xml = metadata.get_object().get_data()[:MAX_XMP].decode("utf-8", "replace")
            for title in _XMP_TITLE.findall(xml):
                items = _XMP_ITEM.findall(title) or [title]
                texts += [html.unescape(item)[:MAX_ANNOT_TEXT] for item in items]
    except Exception:  # noqa: BLE001 - metadata that cannot be decoded: no title from it
        pass
    outline: list[str] = []
    unread = None
    try:
        outlines = root.get("/Outlines")
        outlines = outlines.get_object() if outlines is not None else None
        first = outlines.get("/First") if hasattr(outlines, "get") else None
        # Depth first, as the pane lists them; a bookmark met twice (a loop through
        # /Next or /First) is not followed again.
        stack, seen = [(first, 0)], set()
        while stack:
            item, depth = stack.pop()
            if item is None:
                continue
            key = (item.idnum, item.generation) if hasattr(item, "idnum") else id(item)
            item = item.get_object()
            if key in seen or not hasattr(item, "get"):
                continue
            seen.add(key)
            if len(outline) == MAX_OUTLINE or depth > MAX_OUTLINE_DEPTH:
                unread = (f"bookmarks past the first {MAX_OUTLINE:,}" if len(outline) == MAX_OUTLINE
                          else f"bookmarks nested past {MAX_OUTLINE_DEPTH} levels")
                break
            outline.append(_text_of(item.get("/Title")))
            stack.append((item.get("/Next"), depth))
            stack.append((item.get("/First"), depth + 1))
    except Exception:  # noqa: BLE001 - a broken outline: what was read of it stands
        pass
    return _titles_and_outline(texts, outline), unread


def _titles_and_outline(titles: list[str], outline: list[str]) -> list[str]:
    """Each title a text, then the outline's titles one text, a line each."""
    titles = [t for t in (" ".join(t.split()) for t in titles) if t]
    outline = [t for t in (" ".join(t.split()) for t in outline) if t]
    return titles + (["\n".join(outline)] if outline else [])


def _repaired_document_texts(data: bytes) -> tuple[list[str], str | None]:
    """`_document_texts` of a PDF only PDFium opens (`_read_repaired`): its /Info title
    and its bookmarks, through PDFium's API (no XMP: PDFium gives none)."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 - opened a moment ago: nothing more to read
        return [], None
    try:
        def text(get, *args) -> str:
            size = get(*args, None, 0)  # bytes, UTF-16LE + NUL
            if size <= 2:
                return ""
            buffer = (ctypes.c_ushort * (size // 2))()
            get(*args, buffer, size)
            return bytes(buffer)[:-2].decode("utf-16-le", "replace")[:MAX_ANNOT_TEXT]

        titles = [text(pdfium_c.FPDF_GetMetaText, document.raw, b"Title")]
        outline: list[str] = []
        unread = None
        stack, seen = [(pdfium_c.FPDFBookmark_GetFirstChild(document.raw, None), 0)], set()
        while stack:
            item, depth = stack.pop()
            key = ctypes.cast(item, ctypes.c_void_p).value
            if not key or key in seen:
                continue  # the end of a list, or a loop through /Next or /First
            seen.add(key)
            if len(outline) == MAX_OUTLINE or depth > MAX_OUTLINE_DEPTH:
                unread = (f"bookmarks past the first {MAX_OUTLINE:,}" if len(outline) == MAX_OUTLINE
                          else f"bookmarks nested past {MAX_OUTLINE_DEPTH} levels")
                break
            outline.append(text(pdfium_c.FPDFBookmark_GetTitle, item))
            stack.append((pdfium_c.FPDFBookmark_GetNextSibling(document.raw, item), depth))
            stack.append((pdfium_c.FPDFBookmark_GetFirstChild(document.raw, item), depth + 1))
        return _titles_and_outline(titles, outline), unread
    except Exception:  # noqa: BLE001 - what was read of it stands, as with pypdf
        return [], None
    finally:
        document.close()


MAX_EMBEDDED = 20  # files embedded in one PDF that are read
MAX_EMBEDDED_BYTES = 50 * 1024 * 1024  # of them all, once decoded
MAX_EMBEDDED_DEPTH = 2  # a PDF in a PDF in the letter's PDF is read; one further is not


def _with_embedded(info: PdfInfo, reader, wanted: list[int], depth: int) -> PdfInfo:
    """`info` with the texts of the files embedded in the PDF (its attachments pane, a
    PDF Portfolio's documents, a paperclip on a page: what the clerk's viewer opens from
    it) after the pages' own in `other_texts`, each a text of its own. A ลับมาก letter
    sent as a PDF inside an unmarked cover PDF was read as the cover alone (leak red
    team, 30 Nov 2026). What cannot be read of them (a password, past the limits) is
    said in `error` (EMBEDDED_NOT_READ, which `rules.markings._pdf_unreadable` counts):
    the letter is at least ลับ, and the clerk is told to open the file."""
    texts, unread = _embedded(_attached(reader, wanted), depth)
    if not texts and not unread:
        return info
    aligned = info.other_texts or ("",) * len(wanted)  # "page n" still names page n
    return dataclasses.replace(info, other_texts=aligned + tuple(texts),
                               error=f"{EMBEDDED_NOT_READ} ({unread})" if unread else info.error)


def _attached(reader, wanted: list[int]) -> list:
    """A function giving (name, bytes) for each file embedded: in the document's
    /EmbeddedFiles (the attachments pane, a Portfolio), then in a FileAttachment
    annotation of a page read (Acrobat's Attach File comment); MAX_EMBEDDED + 1 at most."""
    found: list = []
    try:
        names = reader.trailer["/Root"].get_object().get("/Names")
        if names is not None and "/EmbeddedFiles" in names.get_object():
            for entry in reader.attachment_list:
                found.append(lambda entry=entry: (str(entry.name or ""), entry.content))
                if len(found) > MAX_EMBEDDED:
                    return found
    except Exception:  # noqa: BLE001 - a broken name tree: no file a viewer lists either
        pass
    for n in wanted:
        try:
            annots = reader.pages[n].get("/Annots")
            annots = list(annots.get_object() if annots is not None else ())[:MAX_ANNOTS]
        except Exception:  # noqa: BLE001 - one broken page must not hide the others
            continue
        for annot in annots:
            # One entry at a time: a null or a number in /Annots, which viewers skip,
            # ended the page's reading, and a paperclip after it holding a ลับมาก PDF
            # was not read (until session 50: the letter ordinary and certain).
            try:
                annot = annot.get_object()
                if not hasattr(annot, "get") or annot.get("/Subtype") != "/FileAttachment":
                    continue
            except Exception:  # noqa: BLE001 - an entry no viewer draws either
                continue
            found.append(lambda annot=annot: _annotation_file(annot))
            if len(found) > MAX_EMBEDDED:
                return found
    return found


def _annotation_file(annot) -> tuple[str, bytes]:
    spec = annot["/FS"].get_object()
    streams = spec["/EF"].get_object()
    stream = streams.get("/UF") or streams["/F"]
    return str(spec.get("/UF") or spec.get("/F") or ""), stream.get_object().get_data()


def _embedded(files: list, depth: int) -> tuple[list[str], str | None]:
    """(the texts of the files `_attached` found, what of them was not read)."""
    if not files:
        return [], None  # nearly every PDF
    from gateway.pipeline import file_texts
    from rules.markings import SECRECY_TH, _pdf_unreadable, classification_of_headers

    texts: list[str] = []
    total = 0
    for n, get in enumerate(files):
        if n == MAX_EMBEDDED:
            return texts, f"more than {MAX_EMBEDDED} files"
        try:
            name, data = get()
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file the gateway cannot take out of it
            return texts, f"file {n + 1}: {why_unread(exc)}"
        total += len(data)
        if total > MAX_EMBEDDED_BYTES:
            return texts, f"past {MAX_EMBEDDED_BYTES // 2**20} MB"
        shown = re.sub(r"[_.\-]+", " ", name).strip()
        if shown:
            texts.append(shown)  # "ลับมาก_2569_....pdf" in the attachments pane
        if b"%PDF-" in data[:1024]:
            if depth + 1 > MAX_EMBEDDED_DEPTH:
                return texts, f"file {n + 1}: a PDF nested past {MAX_EMBEDDED_DEPTH} levels"
            inner = inspect_pdf(data, _depth=depth + 1)
            texts += [*(inner.page_texts or ((inner.text,) if inner.text else ())), *inner.viewer_page_texts,
                      *inner.other_texts]
            if inner.encrypted and inner.pages is None:
                return texts, f"file {n + 1}: password-protected"
            if _pdf_unreadable(inner.error):
                return texts, f"file {n + 1}: {inner.error[:100]}"
        else:
            # Read as an archive's member is: by its bytes (a message, a signed file...).
            found = file_texts.member_texts(data, name, lambda pdf: inspect_pdf(pdf, _depth=depth + 1), None,
                                            what=f"file {n + 1}")
            texts += found.texts
            # A forwarded letter (.eml) in the PDF's attachments pane: its header block is
            # read as the letter's own is, its marking carried as the word a page would
            # show (a ลับมาก Subject: alone left the letter ordinary until session 20).
            texts += [SECRECY_TH[level] for block in found.headers
                      if (level := classification_of_headers(block).level) in SECRECY_TH]
            if found.unread:
                return texts, found.unread[0]
    return texts, None


def _read_repaired(data: bytes, error: str) -> PdfInfo | None:
    """The text of a PDF pypdf could not open, as a viewer shows it, or None if no
    viewer could open it either.

    Viewers repair what pypdf refuses (a damaged cross-reference table, a wrong
    startxref: one byte is enough): the clerk's viewer would show a page, and a ลับ on
    it, that the classification did not read, and the letter would be registered in
    plain text. PDFium (Chrome's reader, pypdfium2) repairs as viewers do; it runs here
    only for such files, in the PDF reader's bounded child. The letter's `pdf_error`
    keeps pypdf's account, so the sender is still told the file is damaged."""
    read = _viewer_texts(data)
    if read is None:
        return None  # no viewer opens it: nothing readable is on it
    pages, texts, other, unread = read
    # Its page_texts are PDFium's already: no second reading to keep beside them. Its
    # error stays pypdf's (the sender is told the file is damaged), the scan's said after.
    error = "; ".join((error, *unread))
    return _with_document(_info(pages, texts, encrypted=False, error=error, other=other),
                          _repaired_document_texts(data), len(texts))


def _scan_error(unread: str | None) -> list[str]:
    return [f"{SCAN_NOT_READ}: {unread}"] if unread else []


def _info(pages: int, texts: dict[int, str], *, encrypted: bool, error: str | None,
          viewer: dict[int, str] | None = None, other: dict[int, str] | None = None) -> PdfInfo:
    """The PdfInfo of the pages read (`texts`, in page order): the first TEXT_PAGES for
    the rules, the top and bottom lines of each for the markings."""
    text = "\n".join(t for n, t in texts.items() if n < TEXT_PAGES).strip()[:MAX_TEXT]
    if viewer and viewer.keys() != texts.keys():
        # The viewer's reader read pages pypdf did not (`_middle_pages`): each reading
        # gets an entry per page of either, so that "page n" is the page's number.
        texts = {n: texts.get(n, "") for n in sorted(texts.keys() | viewer.keys())}
        viewer = {n: viewer.get(n, "") for n in texts}
    edges = tuple(_edges(t) for t in texts.values())
    seen = tuple(_edges(t) for t in (viewer or {}).values())
    # One entry per page read, in the same order as the readings above ("" where the
    # page shows nothing they do not hold), so that "page n" names the same page.
    shown = tuple((other or {}).get(n, "") for n in texts) if other else ()
    return PdfInfo(text=text or None, pages=pages, encrypted=encrypted, error=error,
                   page_texts=edges if any(edges) else (), viewer_page_texts=seen if any(seen) else (),
                   other_texts=shown if any(shown) else ())


def pages_read(pages: int) -> list[int]:
    """The pages read: the first MARKING_PAGES and the last MARKING_LAST (0-based)."""
    return sorted(set(range(min(pages, MARKING_PAGES))) | set(range(max(0, pages - MARKING_LAST), pages)))


# TIS-620's Thai bytes (0xA1-0xFB) as a font without a /ToUnicode map gives them: the
# Latin-1 letters of the same codes (WinAnsi), "ÅÑºÁÒ¡" for ลับมาก. Old Thai fonts and
# templates (the 8-bit "PSL" and "AngsanaUPC"-era ones) draw Thai so; every viewer
# shows the Thai, the text layer holds the Latin letters, and a ลับมาก letter so typed
# was ordinary until session 41 (its red team). Such a page is also read as TIS-620.
_LEGACY_THAI = str.maketrans({chr(code): bytes([code]).decode("cp874", "replace") for code in range(0xA1, 0xFC)})
_LEGACY_CODES = re.compile("[\u00a1-\u00fb]")
LEGACY_LEAST, LEGACY_SHARE = 3, 0.5


def legacy_thai_reading(text: str) -> str | None:
    """The lines of `text` whose Latin-1 letters are at least LEGACY_SHARE of their
    characters (and at least LEGACY_LEAST: a French or German line holds a few), read
    as the TIS-620 Thai of the same codes, the other lines as they are; None when no
    line is so. By line: a stamp line drawn in the old font on a page typed in another
    is a line of its own."""
    if not _LEGACY_CODES.search(text):
        return None
    lines = text.split("\n")
    changed = False
    for i, line in enumerate(lines):
        high = len(_LEGACY_CODES.findall(line))
        if high >= LEGACY_LEAST and high >= LEGACY_SHARE * len(line.replace(" ", "").replace("\t", "")):
            lines[i] = line.translate(_LEGACY_THAI)
            changed = True
    return "\n".join(lines) if changed else None


def _viewer_texts(data: bytes, wanted: list[int] | None = None, reader=None
                  ) -> tuple[int, dict[int, str], dict[int, str], list[str]] | None:
    """(page count, the text of every page in page order, what each page of `wanted`
    shows beside that text: `_other_text`, and the markings OCR read on scanned pages
    (gateway/pipeline/scanned_pages.py); what could not be read, as `pdf_error`s) as
    PDFium reads the file, or None when it cannot open it; `wanted` None: the pages
    `pages_read` picks. The pages not wanted are read for their text alone
    (`_middle_pages`). `reader`: pypdf's, when it opened the file: the form fields'
    entries PDFium does not give are read through it (`_Fields.shown`).

    A second reading, not a replacement: pypdf and PDFium disagree on real letters.
    LibreOffice subsets a Thai font so that the glyph of า (SARA AA), once used inside
    ำ (SARA AM), has no Unicode of its own in the file's map; pypdf then reads every
    later า as U+0003, so "ลับมาก" on the line after "สำนักงาน..." reads "ลับม\x03ก" and
    was no marking. PDFium falls back on the font's own tables, as viewers do, and reads
    "ลับมาก". (It joins some single-spaced Thai lines that pypdf keeps apart, so it does
    not replace pypdf's reading either: a marking is looked for in both.)"""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 - PDFium cannot open it: pypdf's reading stands alone
        return None
    texts: dict[int, str] = {}
    other: dict[int, str] = {}
    fields = _Fields(data, reader)
    scans = _Scans()
    def read_page(n: int) -> None:
        page = textpage = None
        try:
            if n < count:
                page = document[n]
                textpage = page.get_textpage()
                raw = textpage.get_text_range()
            else:
                # pypdf counts a page PDFium does not (a /Count short of the pages in
                # /Kids): read by pypdf's text alone, its scan and annotations not.
                scans.unread = scans.unread or _not_loaded(n)
                raw = ""
            texts[n] = raw.replace("\r\n", "\n").replace("\r", "\n")
        except Exception:  # noqa: BLE001 - one broken page must not hide the others
            texts[n] = ""
            if n < count:
                scans.unread = scans.unread or _not_loaded(n)
            return
        if page is None:
            return
        # The scan first: `_other_text` may flatten the page's annotations into it.
        scanned = scans.page(n, page, textpage, raw) + scans.stamps(n, page)
        try:
            other[n] = _other_text(document, n, page, textpage, raw, fields)
        except OtherLinesPast as exc:  # a marking may be among the lines not read
            other[n] = ""
            scans.unread = scans.unread or f"page {n + 1}: {exc}"
        except Exception as exc:  # noqa: BLE001 - the other pages are read all the same
            # Its stamps, notes and form fields are what the viewer shows and were not
            # read: fail closed, as for the lines past those read. Until session 50 the
            # page was read as showing nothing more, the letter ordinary and certain.
            other[n] = ""
            scans.unread = scans.unread or f"page {n + 1}: its annotations, form fields and lines in place could not be read " \
                f"({why_unread(exc)})"
        if scanned:
            other[n] = "\n".join(filter(None, (other[n], *scanned)))
        if (legacy := legacy_thai_reading(raw)) is not None:
            other[n] = "\n".join(filter(None, (other[n], legacy)))
        # Last: its annotations are now drawn into the page when it had any.
        flattened = page.raw is None
        scans.drawings(n, document[n] if flattened else page, other, flattened)

    try:
        count = len(document)
        for n in pages_read(count) if wanted is None else wanted:
            read_page(n)
        failed: list[int] = []
        middle, annotated = _middle_pages(document, count, texts, failed)
        if failed:
            scans.unread = scans.unread or _not_loaded(failed[0])
        # A page between them that draws annotations is read as the others are: a
        # ลับที่สุด stamp annotation on page 250 of 300 left the letter ordinary and
        # certain (session 35's second red team).
        for n in annotated[:MIDDLE_ANNOTATED]:
            read_page(n)
        if len(annotated) > MIDDLE_ANNOTATED and not middle:
            middle = f"pages with annotations past the first {MIDDLE_ANNOTATED} between the pages read"
        scans.last(document, other)
    finally:
        fields.close()
        document.close()
    # What was not read, the pages' time first (the clerk's warning reads the first).
    return count, texts, other, [*([f"{NOT_READ_IN_TIME}: {middle}"] if middle else []),
                                 *([f"{NOT_READ_IN_TIME}: {fields.unread}"] if fields.unread else []),
                                 *_scan_error(scans.unread)]


def _not_loaded(n: int) -> str:
    """Page `n` (0-based), which PDFium cannot load: poppler's viewers (Evince,
    Okular) show a page whose /Type is not /Page (/Template, /Pages), and a ลับมาก on
    it, where pypdf skips it and PDFium fails; or one pypdf counts and PDFium does not.
    Until session 50 such a page was read as empty, the letter ordinary and certain."""
    return f"page {n + 1}: a page the viewer's reader could not load"


def _middle_pages(document, count: int, texts: dict[int, str], failed: list[int]) -> tuple[str | None, list[int]]:
    """(what could not be read of them in MIDDLE_TIME seconds, the pages among them that
    draw annotations) of the pages `texts` does not hold yet, whose text layer is added
    to it in page order; those that could not be loaded are added to `failed`. A
    classification is printed on every page, but an annex marked ลับมาก may sit on pages
    300-340 of a bundle of 800."""
    import time

    import pypdfium2.raw as pdfium_c

    left = [n for n in range(count) if n not in texts]
    annotated: list[int] = []
    if not left:
        return None, annotated
    end = time.monotonic() + MIDDLE_TIME
    unread = None
    for n in left:
        if time.monotonic() > end:
            unread = f"pages {n + 1} to {left[-1] + 1} of {count} (more than {MIDDLE_TIME:.0f} s)"
            break
        page = textpage = None
        try:
            page = document[n]
            textpage = page.get_textpage()
            texts[n] = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
            annotations = pdfium_c.FPDFPage_GetAnnotCount(page.raw)
            if annotations and (annotations > MAX_ANNOTS or _draws_annotations(page.raw, 0, annotations)):
                annotated.append(n)
        except Exception:  # noqa: BLE001 - one broken page must not hide the others
            texts[n] = ""
            failed.append(n)
        finally:
            for handle in (textpage, page):
                if handle is not None:
                    handle.close()
    ordered = dict(sorted(texts.items()))
    texts.clear()
    texts.update(ordered)
    return unread, annotated


def _draws_annotations(page, start: int, stop: int) -> bool:
    """Among a page's annotations `start` to `stop`, one a viewer draws (not a link, a
    popup or a hidden one)."""
    import pypdfium2.raw as pdfium_c

    for i in range(start, stop):
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) not in (pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP) \
                    and not pdfium_c.FPDFAnnot_GetFlags(annot) & pdfium_c.FPDF_ANNOT_FLAG_HIDDEN:
                return True
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return False


MAX_ANNOTS_LOOKED = 20_000  # annotations of a page whose kind is looked at (~1 us each)


def _drawn_annotations_past(page, count: int) -> str:
    """What of a page's annotations past MAX_ANNOTS a viewer draws ("" when none: links
    and popups draw nothing, hidden ones are not drawn)."""
    if count > MAX_ANNOTS_LOOKED:
        return f"more than {MAX_ANNOTS_LOOKED:,} annotations"
    return f"annotations past the first {MAX_ANNOTS} drawn" if _draws_annotations(page, MAX_ANNOTS, count) else ""


class _Scans:
    """The scanned pages of one PDF read by OCR: the first OCR_PAGES - 1 met and the
    last (`scanned_pages`), their markings added to what the page shows."""

    def __init__(self) -> None:
        from gateway.pipeline import scanned_pages

        self.read = 0
        self.stamped = 0  # stamp annotations drawn from a picture, read
        self.left: tuple[int, tuple[bool, bool]] | None = None  # the last scanned page not read yet
        self.unread: str | None = None
        self.bands: tuple[bool, bool] = (False, False)  # the page's bands read as a scan
        self.drawn: object = None  # scanned_pages.Drawings, once a page draws or stamps something
        self.objects: object = None  # scanned_pages.PageObjects of the page being read
        self.walk = [scanned_pages.MAX_PDF_OBJECTS]  # objects left to look at in the PDF

    def page(self, n: int, page, textpage, raw: str) -> list[str]:
        """The markings OCR read on page `n` (now, or at `last`)."""
        from gateway.pipeline import scanned_pages

        if not self.unread and self.walk[0] <= 0:
            # A dense Word page holds ~2,000 objects: the 220 pages read ~440,000. A path
            # costs ~2.6 us to look at, a text object ~0.75.
            self.unread = f"page {n + 1}: more than {scanned_pages.MAX_PDF_OBJECTS:,} objects drawn in the pages read"
        try:
            self.objects = None if self.unread else scanned_pages.page_objects(page, self.walk)
        except Exception as exc:  # noqa: BLE001 - a page PDFium cannot list: fail closed, read the others
            self.objects = None
            self.unread = f"page {n + 1}: its objects could not be listed ({why_unread(exc)})"
        if self.objects is not None and self.objects.unseen:
            self.unread = f"page {n + 1}: {self.objects.unseen}"
        bands = () if self.unread else scanned_pages.scanned_bands(page, textpage, raw, self.objects)
        if not self.unread and not any(bands) and scanned_pages.text_unreadable(raw):
            # Glyphs drawn with no Unicode behind them (an embedded font without its
            # /ToUnicode map): the text layer is control characters, and the page is read
            # from its pixels as a scan is (until session 33: no marking, certain).
            bands = (True, True)
        elif not self.unread and not any(bands):
            bands = scanned_pages.unreadable_bands(page, textpage, raw)
        self.bands = tuple(bands) if bands else (False, False)
        if not any(bands):
            return []
        if self.read < scanned_pages.OCR_PAGES - 1:
            return self._read(n, page, bands)
        self.left = (n, bands)
        return []

    def stamps(self, n: int, page) -> list[str]:
        """The markings OCR reads on the page's stamps drawn as pictures (an image
        stamp annotation on a typed letter), MAX_STAMP_PICTURES at most a PDF."""
        import pypdfium2.raw as pdfium_c

        from gateway.pipeline import scanned_pages

        count = pdfium_c.FPDFPage_GetAnnotCount(page)
        if self.unread or count <= 0:  # an ordinary page has none: no cost
            return []
        if count > MAX_ANNOTS and (past := _drawn_annotations_past(page, count)):
            # Those past MAX_ANNOTS are neither read nor flattened: 200 Links then a
            # Square drawing a ลับมาก picture read as nothing (session 34's red team).
            self.unread = f"page {n + 1}: {past}"
            return []
        rects = scanned_pages.stamp_pictures(page)
        room = scanned_pages.MAX_STAMP_PICTURES - self.stamped
        if len(rects) > room:
            self.unread = f"page {n + 1}: picture stamps past the first {scanned_pages.MAX_STAMP_PICTURES}"
            rects = rects[:max(0, room)]
        if not rects:
            return []
        self.stamped += len(rects)
        try:
            # Read as a drawing is (remembered, its frame taken off, turned back): one
            # mechanism for every crop OCR reads on a typed page.
            return self._drawings().add(page, [scanned_pages.Crop(rect) for rect in rects], self.objects)
        except scanned_pages.NotRead as exc:
            self.unread = f"page {n + 1}: {exc}"
            return []

    def drawings(self, n: int, page, other: dict[int, str], flattened: bool) -> None:
        """What the head and foot of page `n` draw besides text, read by OCR
        (`scanned_pages.band_drawings`), those bands not read as a scan: the markings
        found added to what the page shows."""
        from gateway.pipeline import scanned_pages

        if self.unread or all(self.bands):
            return
        try:
            # Flattened, the page is another: its annotations' drawings are its own now.
            objects = scanned_pages.page_objects(page, self.walk) if flattened else self.objects
            if objects.unseen:
                raise scanned_pages.NotRead(objects.unseen)
            boxes = scanned_pages.band_drawings(page, (not self.bands[0], not self.bands[1]), objects)
            if boxes:
                found = self._drawings().add(page, boxes, objects)
                if found:
                    other[n] = "\n".join(filter(None, (other.get(n, ""), *found)))
        except scanned_pages.NotRead as exc:
            self.unread = f"page {n + 1}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a page PDFium cannot list or draw: fail closed
            self.unread = f"page {n + 1}: its head or foot could not be looked at ({why_unread(exc)})"

    def _drawings(self):
        from gateway.pipeline import scanned_pages

        if self.drawn is None:
            self.drawn = scanned_pages.Drawings()
        return self.drawn

    def last(self, document, other: dict[int, str]) -> None:
        if self.left is not None and not self.unread:
            n, bands = self.left
            found = self._read(n, document[n], bands)
            if found:
                other[n] = "\n".join(filter(None, (other.get(n, ""), *found)))

    def _read(self, n: int, page, bands: tuple[bool, bool]) -> list[str]:
        from gateway.pipeline import scanned_pages

        self.read += 1
        try:
            return scanned_pages.marking_lines(page, bands)
        except scanned_pages.NotRead as exc:
            self.unread = f"page {n + 1}: {exc}"
            return []


# ------------------------------------------------------------------ what a viewer shows
#
# A page's text layer read in stream order misses two things a viewer shows (red-team
# findings F1 and F9, tests/secrecy/test_pdf_hidden_markings.py):
#
# * text printed at the head or the foot of the page but drawn in the middle of the
#   content stream (a text box anchored to a later paragraph): `_edges` keeps the first
#   and last lines of the stream. The page's lines sorted by their place, top to bottom
#   as the page is shown (/Rotate, the crop box), hold it in their head or foot.
# * text that is not in the page's content at all: annotations (a Stamp or FreeText, as
#   Acrobat's stamp and add-text tools make them) and form fields, drawn from their
#   appearance streams. PDFium flattens them into the page (a copy in memory: the
#   document was opened from bytes) as a viewer draws them (FLAT_NORMALDISPLAY: not the
#   Hidden ones); the lines flattening added are read wherever they are on the page
#   (between the head and the foot a line counts if it is markings alone).
#   What a viewer draws without an appearance stream is read from the annotation, with
#   one or not (fail closed: the appearance may not carry the text's Unicode): a
#   FreeText's /Contents, a text or choice field's value (/V, inherited from its field),
#   placed at the annotation's /Rect. And since session 39 what a viewer shows of a field
#   that is not its value (`_Fields.shown`): a button's caption (/MK /CA, and the
#   rollover and down captions /RC, /AC), a combo or list box's display text of each
#   option selected (/Opt [export display], selected by /V or /I); a form tool leaves
#   them without an appearance (/NeedAppearances true) and PDFium, as Chrome's viewer,
#   draws them at the page's head: a ลับมาก caption was read as nothing. Not read: a
#   Hidden annotation (one flagged NoView is: it may still be printed), and comments (a
#   Text "sticky note" or any annotation's /Contents other than a FreeText's): a viewer
#   shows them only in a popup the reader opens, and a reviewer's note is not a marking
#   on the letter. Links and popups draw no text. At most MAX_ANNOTS annotations of a page are read, and flattened. A page
#   without annotations (a cheap check: the length of its /Annots) only has its lines
#   placed: ~0.1 ms a typed page (bench/side_by_side.py `typed_pdf`), ~0.8 ms more with
#   a stamp to flatten, ~15 ms a page of 10,000 stamps.


def _other_text(document, n: int, page, textpage, raw: str, fields: "_Fields") -> str:
    """What page `n` shows that its text in stream order (`raw`, PDFium's) does not hold
    in its head and foot: its lines in their place, top to bottom, and the text of its
    annotations and form fields; "" when that is the stream's own reading. The head
    and foot (EDGE_LINES each) of the lines in place, with the annotations' lines that
    fall between them in between: rules/markings.py counts a marking starting or
    ending a head or foot line, and a line of markings alone anywhere."""
    import pypdfium2.raw as pdfium_c

    rotation = page.get_rotation() % 360
    box = page.get_bbox()  # the crop box within the media box: what is shown
    starts: dict[int, int] = {}
    lines = _placed_lines(textpage, raw, box, starts)
    annotations = pdfium_c.FPDFPage_GetAnnotCount(page)  # the /Annots array's length
    if annotations > 0:  # an ordinary letter's page has none: only its lines are placed
        own, drawn = _annotation_texts(page, n, annotations, fields)
        if drawn:
            flat = _flattened_lines(document, n, page, textpage, annotations, box)
            # The page's own lines are in the flattened page again: the others are
            # what its annotations drew.
            left: dict[str, int] = {}
            for _, _, text, _ in lines + own:
                left[text] = left.get(text, 0) + 1
            for x, y, text, _ in flat or ():
                if left.get(text, 0) > 0:
                    left[text] -= 1
                else:
                    own.append((x, y, text, True))
        lines += own
    ordered = _as_drawn(textpage, _in_place(lines, rotation), starts)
    if not any(annotation for *_, annotation in ordered):
        stream = [line.strip()[:MAX_LINE] for line in raw.split("\r\n") if line.strip()]
        if [text for _, _, text, _ in ordered] == stream:
            return ""  # in place as in the stream: the viewer reading holds it already
    return _head_and_foot(ordered)


Line = tuple  # (x, y, text, from an annotation): a line's start in user space


def _placed_lines(textpage, raw: str, box, starts: dict[int, int] | None = None) -> list[Line]:
    """The lines of PDFium's reading, each with the origin of its first character (user
    space), those a viewer does not show (outside the crop box) left out. `starts`, if
    given, gets where each line starts in PDFium's text (by the line's id)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    x, y = ctypes.c_double(), ctypes.c_double()
    left, bottom, right, top = box
    out: list[Line] = []
    at = 0
    for line in raw.split("\r\n"):
        text = line.strip()
        if text:
            start = at + len(line) - len(line.lstrip())
            index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, start)
            if index >= 0 and pdfium_c.FPDFText_GetCharOrigin(textpage, index, x, y) and (
                    left - ROW_TOLERANCE <= x.value <= right + ROW_TOLERANCE
                    and bottom - ROW_TOLERANCE <= y.value <= top + ROW_TOLERANCE):
                out.append((x.value, y.value, text[:MAX_LINE], False))
                if starts is not None:
                    starts[id(out[-1])] = start
        at += len(line) + 2
    return out


def _as_drawn(textpage, ordered: list[Line], starts: dict[int, int]) -> list[Line]:
    """`ordered` with the page's own head and foot lines (EDGE_LINES each, those
    `_head_and_foot` keeps) read as drawn (`_gapped`), where a word starts like a
    marking. Only those: the page's other lines are not where a marking stands apart,
    and every line of a dense page cost 3.7 s a page (session 42's second red team)."""
    edges = range(len(ordered)) if len(ordered) <= 2 * EDGE_LINES else \
        [*range(EDGE_LINES), *range(len(ordered) - EDGE_LINES, len(ordered))]
    out = list(ordered)
    for n in edges:
        x, y, text, annotation = ordered[n]
        start = starts.get(id(ordered[n]))
        if start is not None and _WORD_STARTS_LIKE_A_MARKING.search(text) and may_hold_marking(text):
            out[n] = (x, y, _gapped(textpage, start, text), annotation)
    return out


# A ล or ด that starts a word: a marking's column does, "กลับ" (to return) does not.
_WORD_STARTS_LIKE_A_MARKING = re.compile("(?<![\u0e01-\u0e4e])[ลด\u0ea5\u0e94]")
WIDE_GAP = 1.0  # ems of the smaller of two words a blank parts: wider, they stand apart to a reader
NO_GAP = 0.15  # ems: a blank narrower than this shows no space (a space is a quarter of an em and more)
_SPACES = re.compile("[ \u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def _gapped(textpage, start: int, text: str) -> str:
    """`text` (PDFium's line from text index `start`) as a reader sees it drawn:

    * each blank between two characters drawn more than WIDE_GAP ems apart a tab: the
      columns of a page's head (a reference number at the left, the date at the right)
      and a marking drawn between them. PDFium reads them as one line with a space
      between, and a ลับมาก in its middle was read as no marking (until session 42):
      rules/markings.py reads each column of a head or foot line as a line of its own
      (`_cells`);
    * a cluster drawn again over what is already drawn, the same letters, left out:
      Chromium's PDF of a table cell in Noto Sans Thai draws สุ twice, and PDFium reads
      "ลับที่สุดสุ", which a viewer shows as ลับที่สุด (session 42's red team). Upright
      text only, where "over" is "left of the pen";
    * a blank between two characters closer than NO_GAP ems left out: no space shows
      (PDFium puts one where a cluster drawn again jumped back: "ด่วด่ น").

    An em is the character's font size times the scale its matrix draws it at:
    FPDFText_GetFontSize gives the size set by `Tf` alone, and Quartz and Distiller set
    `1 Tf` and scale the text matrix (every word gap was then "wide"), others a large
    `Tf` scaled down. The smaller word's em: a ลับมาก stamp in 48 points 80 points from
    a 16-point reference stands apart, whatever its own size."""
    import ctypes
    import math

    import pypdfium2.raw as pdfium_c

    edges = [ctypes.c_double() for _ in range(4)]  # left, right, bottom, top
    matrix = pdfium_c.FS_MATRIX()

    def box(i: int) -> tuple[float, float, float, float, float] | None:
        index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, start + i)
        if index < 0 or not pdfium_c.FPDFText_GetCharBox(textpage, index, *edges):
            return None
        scale = (math.sqrt(abs(matrix.a * matrix.d - matrix.b * matrix.c))
                 if pdfium_c.FPDFText_GetMatrix(textpage, index, matrix) else 1.0)
        return (edges[0].value, edges[1].value, edges[2].value, edges[3].value,
                pdfium_c.FPDFText_GetFontSize(textpage, index) * scale)

    boxes: dict[int, tuple | None] = {}  # each character's box, asked once and only if needed

    def placed(i: int) -> tuple[float, float, float, float, float] | None:
        if i not in boxes:
            boxes[i] = box(i)
        return boxes[i]

    def upright() -> bool:
        """Drawn unturned, and read left to right (PDFium reads the lines of a page
        shown turned by /Rotate 180 from their right end)."""
        first = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, start)
        angle = pdfium_c.FPDFText_GetCharAngle(textpage, first) if first >= 0 else -1.0
        ends = placed(0), placed(len(text) - 1)
        return ((0 <= angle < 0.05 or angle > 2 * math.pi - 0.05) and None not in ends
                and ends[1][0] > ends[0][0])

    out: list[str] = []
    letters: list[int] = []  # where each cluster kept that starts with a letter (not a stray mark) is
    at = 0
    while at < len(text):
        if blank := _SPACES.match(text, at):
            # From the last letter: a mark PDFium reads after a blank sits over a letter
            # before it ("ทัวไป ่").
            before = placed(letters[-1]) if letters else None
            # A mark after the blank is drawn over a letter before it: no gap to measure.
            after = placed(blank.end()) if blank.end() < len(text) and not _THAI_MARK.match(text, blank.end()) \
                else None
            if before is None or after is None:
                out.append(blank[0])
            else:
                # Along the line, whichever way it runs (a page's text may be turned).
                gap = max(after[0] - before[1], before[0] - after[1], after[2] - before[3], before[2] - after[3])
                em = min(before[4], after[4])
                out.append("\t" if gap > WIDE_GAP * em else "" if gap < NO_GAP * em else blank[0])
            at = blank.end()
            continue
        end = at + 1
        while end < len(text) and _THAI_MARK.match(text, end):
            end += 1
        if letters and text[at:end] in "".join(out[-8:]) and (drawn := placed(at)) is not None:
            reach = max((b[1] for i in letters[-8:] if (b := placed(i)) is not None), default=-math.inf)
            if drawn[1] < reach - 0.5 and upright():
                at = end  # drawn over what is there: the same letters again
                continue
        if not _THAI_MARK.match(text, at):
            letters.append(at)
        out.append(text[at:end])
        at = end
    return "".join(out)


_THAI_MARK = re.compile(f"[{THAI_MARKS}]")


def _in_place(lines: list[Line], rotation: int) -> list[Line]:
    """`lines` top to bottom as the page is shown (turned by /Rotate, clockwise), those
    on one row (baselines within ROW_TOLERANCE) left to right."""
    # (across the page from the top, along a row from the left) in user space
    key = {0: lambda x, y: (-y, x), 90: lambda x, y: (x, y),
           180: lambda x, y: (y, -x), 270: lambda x, y: (-x, -y)}.get(rotation, lambda x, y: (-y, x))
    placed = sorted(((key(x, y), line) for line in lines for x, y in [line[:2]]), key=lambda p: p[0][0])
    out: list[Line] = []
    row: list = []
    for place, line in placed:
        if row and place[0] - row[0][0][0] > ROW_TOLERANCE:
            out += [line for _, line in sorted(row, key=lambda p: p[0][1])]
            row = []
        row.append((place, line))
    out += [line for _, line in sorted(row, key=lambda p: p[0][1])]
    return out


class OtherLinesPast(Exception):
    """A page's annotations draw more lines between its head and foot than are read."""


def _head_and_foot(ordered: list[Line]) -> str:
    """The first and last EDGE_LINES of `ordered`, and between them the annotations'
    lines that are short enough to be markings alone. Raises OtherLinesPast when they
    are more than MAX_OTHER_LINES."""
    if len(ordered) <= 2 * EDGE_LINES:
        return "\n".join(text for _, _, text, _ in ordered)
    middle = [text for _, _, text, annotation in ordered[EDGE_LINES:-EDGE_LINES]
              if annotation and len(text) <= 200]
    if len(middle) > MAX_OTHER_LINES:
        raise OtherLinesPast(f"annotation lines past the first {MAX_OTHER_LINES:,} between its head and foot")
    return "\n".join([text for _, _, text, _ in ordered[:EDGE_LINES]] + middle
                      + [text for _, _, text, _ in ordered[-EDGE_LINES:]])


def _annotation_texts(page, n: int, annotations: int, fields: "_Fields") -> tuple[list[Line], bool]:
    """(the lines a viewer draws from the first MAX_ANNOTS annotations' own entries: a
    FreeText's /Contents, a field's value; whether any of them has an appearance stream
    to flatten)."""
    import pypdfium2.raw as pdfium_c

    hidden = pdfium_c.FPDF_ANNOT_FLAG_HIDDEN
    not_drawn = (pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP)
    lines: list[Line] = []
    drawn = False
    for i in range(min(annotations, MAX_ANNOTS)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            flags = pdfium_c.FPDFAnnot_GetFlags(annot)
            kind = pdfium_c.FPDFAnnot_GetSubtype(annot)
            if flags & hidden or kind in not_drawn:
                continue
            drawn = drawn or bool(pdfium_c.FPDFAnnot_HasKey(annot, b"AP"))
            if kind == pdfium_c.FPDF_ANNOT_FREETEXT:
                text = _annot_string(annot, b"Contents")
            elif kind == pdfium_c.FPDF_ANNOT_WIDGET:
                text = "\n".join(filter(None, (_field_value(annot, n, i, fields), *fields.shown(n, i))))
            else:
                continue
            if text.strip():
                rect = pdfium_c.FS_RECTF()
                if not pdfium_c.FPDFAnnot_GetRect(annot, rect):
                    continue
                for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                    if line.strip():
                        lines.append((min(rect.left, rect.right), max(rect.top, rect.bottom),
                                      line.strip()[:MAX_LINE], True))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return lines, drawn


def _annot_string(annot, key: bytes) -> str:
    """A text string entry of an annotation's dictionary (MAX_ANNOT_TEXT characters)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    if pdfium_c.FPDFAnnot_GetValueType(annot, key) != pdfium_c.FPDF_OBJECT_STRING:
        return ""
    size = pdfium_c.FPDFAnnot_GetStringValue(annot, key, None, 0)  # bytes, UTF-16LE + NUL
    if size <= 2:
        return ""
    buffer = (ctypes.c_ushort * (size // 2))()
    pdfium_c.FPDFAnnot_GetStringValue(annot, key, buffer, size)
    return bytes(buffer)[:-2].decode("utf-16-le", "replace")[:MAX_ANNOT_TEXT]


def _field_value(widget, n: int, i: int, fields: "_Fields") -> str:
    """A widget's field value (/V) as a viewer draws it when it makes the appearance
    itself: a text (text and choice fields; a check box's is a name), the widget's own
    or, for a widget that is a kid of its field, the field's (`_Fields`)."""
    import pypdfium2.raw as pdfium_c

    if pdfium_c.FPDFAnnot_HasKey(widget, b"V"):
        return _annot_string(widget, b"V")
    if pdfium_c.FPDFAnnot_HasKey(widget, b"Parent"):
        return fields.value(n, i)
    return ""


class _Fields:
    """The values of fields whose widgets are their kids, read through PDFium's form
    API on a second copy of the document, opened only for a page that has such a
    widget: PDFium gives no other way up a widget's /Parent, and its form environment
    costs ~10 ms a document, which letters without such fields (signed ones included:
    a signature widget is its field) do not pay."""

    def __init__(self, data: bytes, reader=None):
        self.data = data
        self.reader = reader  # pypdf's, for the entries PDFium gives no way to (`shown`)
        self.document = None
        self.pages: dict[int, object] = {}
        self.options = MAX_OPTIONS  # a choice field's options left to look at in the PDF
        self.unread: str | None = None

    def shown(self, n: int, i: int) -> list[str]:
        """What widget `i` of page `n` shows beside its field's value: a button's
        captions (/MK /CA /RC /AC), a choice field's display text of each option
        selected (/Opt pairs [export display], by the field's /V or /I, inherited);
        MAX_ANNOT_TEXT characters of each. PDFium's API reads neither: pypdf's reader
        does, when it opened the file (a file only PDFium repairs: not read)."""
        if self.reader is None:
            return []
        try:
            annots = self.reader.pages[n].get("/Annots")
            widget = annots.get_object()[i].get_object() if annots is not None else None
            if not hasattr(widget, "get"):
                return []
            out = []
            captions = widget.get("/MK")
            captions = captions.get_object() if captions is not None else None
            if hasattr(captions, "get"):
                out += [_text_of(captions.get(key)) for key in ("/CA", "/RC", "/AC")]
            out += self._selected(widget)
            return [text for text in out if text.strip()]
        except Exception:  # noqa: BLE001 - a broken field: PDFium's reading stands
            return []

    def _selected(self, widget) -> list[str]:
        # A field's entries are inherited from its ancestors (/Parent); the nearest wins.
        chain: list = []
        node = widget
        while hasattr(node, "get") and len(chain) < MAX_FIELD_DEPTH and all(node is not n for n in chain):
            chain.append(node)
            parent = node.get("/Parent")
            node = parent.get_object() if parent is not None else None

        def entry(key: str):
            return next((n[key] for n in chain if key in n), None)

        # The kind first: a signature field's /V is its signature, ~8 ms to parse.
        options = entry("/Opt") if entry("/FT") == "/Ch" else None
        if not isinstance(options, list):
            return []
        field = {"/V": entry("/V"), "/I": entry("/I")}
        value = field.get("/V")
        values = {_text_of(v) for v in (value if isinstance(value, list) else (value,)) if v is not None}
        chosen = field.get("/I")
        indices = {v for v in chosen if isinstance(v, int)} if isinstance(chosen, list) else set()
        if len(options) > self.options:
            self.unread = f"form fields' options past the first {MAX_OPTIONS:,}"
        looked = options[:max(0, self.options)]
        self.options -= len(looked)
        out = []
        for index, option in enumerate(looked):
            option = option.get_object()
            if isinstance(option, list) and len(option) >= 2:
                export, display = _text_of(option[0]), _text_of(option[1])
                if (export in values or index in indices) and display not in values:
                    out.append(display)
            elif index in indices:
                out.append(_text_of(option))
        return out

    def value(self, n: int, i: int) -> str:
        import ctypes

        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        try:
            if self.document is None:
                self.document = pdfium.PdfDocument(self.data)
                self.document.init_forms()
            if n not in self.pages:
                self.pages[n] = self.document[n]
        except Exception:  # noqa: BLE001 - the widget's own entries are read all the same
            return ""
        if not self.document.formenv:
            return ""
        annot = pdfium_c.FPDFPage_GetAnnot(self.pages[n], i)
        if not annot:
            return ""
        try:
            form = self.document.formenv
            if pdfium_c.FPDFAnnot_GetFormFieldType(form, annot) not in (
                    pdfium_c.FPDF_FORMFIELD_TEXTFIELD, pdfium_c.FPDF_FORMFIELD_COMBOBOX,
                    pdfium_c.FPDF_FORMFIELD_LISTBOX):
                return ""
            size = pdfium_c.FPDFAnnot_GetFormFieldValue(form, annot, None, 0)
            if size <= 2:
                return ""
            buffer = (ctypes.c_ushort * (size // 2))()
            pdfium_c.FPDFAnnot_GetFormFieldValue(form, annot, buffer, size)
            return bytes(buffer)[:-2].decode("utf-16-le", "replace")[:MAX_ANNOT_TEXT]
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)

    def close(self) -> None:
        if self.document is not None:
            for page in self.pages.values():
                page.close()
            self.document.close()


def _text_of(value) -> str:
    """A text string of pypdf's (its own decoding), MAX_ANNOT_TEXT characters; "" for
    anything else."""
    value = value.get_object() if value is not None else None
    return value[:MAX_ANNOT_TEXT] if isinstance(value, str) else ""


def _flattened_lines(document, n: int, page, textpage, annotations: int, box) -> list[Line] | None:
    """The lines of page `n` with its annotations flattened into it as a viewer draws
    them (the first MAX_ANNOTS: the others are taken off the page first), or None.
    The page and its text page are closed: flattening changes the document's page."""
    import pypdfium2.raw as pdfium_c

    for i in range(annotations - 1, MAX_ANNOTS - 1, -1):
        pdfium_c.FPDFPage_RemoveAnnot(page, i)
    invisible = pdfium_c.FPDF_ANNOT_FLAG_INVISIBLE
    for i in range(min(annotations, MAX_ANNOTS)):
        # Invisible hides only an annotation of a kind the viewer does not know: PDFium
        # and poppler draw a Square so flagged, and flattening left it out (red team of
        # session 34: a ลับมาก picture Square read as nothing).
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if annot:
            flags = pdfium_c.FPDFAnnot_GetFlags(annot)
            if flags & invisible and pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_UNKNOWN:
                pdfium_c.FPDFAnnot_SetFlags(annot, flags & ~invisible)
            pdfium_c.FPDFPage_CloseAnnot(annot)
    done = pdfium_c.FPDFPage_Flatten(page, pdfium_c.FLAT_NORMALDISPLAY)
    textpage.close()
    page.close()
    if done != pdfium_c.FLATTEN_SUCCESS:
        return None
    page = document[n]  # the flattened page, loaded again (PDFium's own advice)
    try:
        flat = page.get_textpage()
        try:
            return _placed_lines(flat, flat.get_text_range(), box)
        finally:
            flat.close()
    finally:
        page.close()
