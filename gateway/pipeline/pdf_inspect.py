"""Read what the rules need from a PDF: is it one, is it encrypted, how many pages,
and the text layer of its first pages (where ที่, วันที่ and เรื่อง are printed).

Hostile PDFs (circular page trees, endless object streams) can make a parser spin or
balloon, so callers run this in a child process with a timeout and a memory cap
(gateway/pipeline/pdf_pool.py) rather than in the pipeline's own loop.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from rules.thai_text import repair_sara_am


TEXT_PAGES = 3  # the cover letter's header is on page 1; 3 is generous
MAX_TEXT = 200_000
# A classification is printed at the top and bottom of every page: the first
# MARKING_PAGES and the last MARKING_LAST pages are read for it (rules/markings.py).
MARKING_PAGES = 20
MARKING_LAST = 5
EDGE_LINES = 12  # lines kept from each end of a page

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


def inspect_pdf(data: bytes, timeout: float | None = None) -> PdfInfo:
    """In this process; `timeout` is the pool's business (gateway/pipeline/pdf_pool.py)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # An empty user password opens "owner-only" protection; anything else is
            # a password-protected letter the gateway cannot read.
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
        wanted = _wanted(pages)
        read: list[str] = []
        for n in wanted:
            try:
                read.append(reader.pages[n].extract_text() or "")
            except Exception:  # one broken page must not hide the others
                read.append("")
        texts = dict(zip(wanted, repair_sara_am(read)))
        _, viewer = _viewer_texts(data, wanted) or (pages, {})
        return _info(pages, texts, encrypted=encrypted, error=None, viewer=viewer)
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, AssertionError, OSError, NotImplementedError) as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return _read_repaired(data, error) or PdfInfo(text=None, pages=None, encrypted=False, error=error)


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
    pages, texts = read
    # Its page_texts are PDFium's already: no second reading to keep beside them.
    return _info(pages, texts, encrypted=False, error=error)


def _info(pages: int, texts: dict[int, str], *, encrypted: bool, error: str | None,
          viewer: dict[int, str] | None = None) -> PdfInfo:
    """The PdfInfo of the pages read (`texts`, in page order): the first TEXT_PAGES for
    the rules, the top and bottom lines of each for the markings."""
    text = "\n".join(t for n, t in texts.items() if n < TEXT_PAGES).strip()[:MAX_TEXT]
    edges = tuple(_edges(t) for t in texts.values())
    seen = tuple(_edges(t) for t in (viewer or {}).values())
    return PdfInfo(text=text or None, pages=pages, encrypted=encrypted, error=error,
                   page_texts=edges if any(edges) else (), viewer_page_texts=seen if any(seen) else ())


def _wanted(pages: int) -> list[int]:
    """The pages read: the first MARKING_PAGES and the last MARKING_LAST (0-based)."""
    return sorted(set(range(min(pages, MARKING_PAGES))) | set(range(max(0, pages - MARKING_LAST), pages)))


def _viewer_texts(data: bytes, wanted: list[int] | None = None) -> tuple[int, dict[int, str]] | None:
    """(page count, the text of pages `wanted` in page order) as PDFium reads the file,
    or None when it cannot open it; `wanted` None: the pages `_wanted` picks.

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
    try:
        count = len(document)
        for n in _wanted(count) if wanted is None else wanted:
            try:
                page = document[n] if n < count else None
                text = page.get_textpage().get_text_range() if page is not None else ""
                texts[n] = text.replace("\r\n", "\n").replace("\r", "\n")
            except Exception:  # noqa: BLE001 - one broken page must not hide the others
                texts[n] = ""
    finally:
        document.close()
    return count, texts
