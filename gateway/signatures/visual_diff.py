"""Does the file, as a viewer shows it, still show what the signer signed?

pyHanko judges a later revision by the objects its cross-reference sections list. Three
ways past that reading were found (red team, 2026-11-30):

* an update that only changes /Info but carries, unlisted, a new copy of a page's
  content stream, with cross-reference entries PDFium refuses: PDFium rebuilds the table
  by scanning and shows the forged page (pyHanko: "signatures_added");
* a later signature, by anyone holding a certificate of a trusted CA, whose widget is
  opaque and painted over the signed text with new text (pyHanko: "signatures_added");
* an empty signature field or a blank text field (planted before signing) given an
  opaque appearance after signing ("filled in after signing").

So for a signature with bytes after its signed revision, each page of the signed
revision (the file up to the end of the signature's /ByteRange: the file as it was
signed) is rendered by PDFium (Chrome's and Edge's viewer) and so is the same page of
the whole file, both as a viewer draws them (annotations and form fields included),
at DPI, grayscale. Signed ink that the final file shows clearly lighter is signed
content covered or changed: a pixel of the signed rendering at most INK_MAX dark that
is at least LIGHTER lighter now. Ink added on blank paper (a second signer's widget in
free space, a form field filled in, the gateway's own receive stamp, which keeps 4 pt
clear of anything) never counts, nor does ink drawn over ink. More than GLYPH_PIXELS
such pixels on a page is a change to what was signed.

Also a change: a page count that differs, a page of the final file PDFium cannot
render. At most MAX_PAGES pages are compared, within TIME_BUDGET_S; the rest is said
to be not compared (the signature is then flagged for review, not failed).

Not seen: ink covered by ink at least as dark (a black bar over black text shows as
a bar, not as other text); a mark lighter than MARK_MAX (a watermark at grey 0.8)
covered by white.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.signatures.page_space import INK_LEVEL

DPI = 100
INK_MAX = 160  # 0 = black, 255 = white: a signed pixel this dark or darker is ink
LIGHTER = 96  # ...and counts when the final file shows it at least this much lighter
# A lighter mark (orange ~173, cyan ~179, grey 0.7) counts when the final file shows it
# paper-white: a signed pixel darker than MARK_MAX, now PAPER or lighter. MARK_MAX is the
# ink level the stamp's placement keeps clear of in a scan (page_space.INK_LEVEL), so
# the gateway's own opaque stamp never whitens such a pixel. Until session 52 only ink
# counted, and an opaque widget over a mark in orange passed.
MARK_MAX = INK_LEVEL - 1
PAPER = 245
# Measured at 50 dpi: a Thai or Latin glyph of a 14 pt letter is 12-30 such pixels
# (the digit "2" of "ว 276" alone, 14); every genuine file of the signature trial, the
# pyHanko corpus and the project's own signed and stamped letters scores 0.
GLYPH_PIXELS = 8
MAX_PAGES = 20
TIME_BUDGET_S = 8.0  # wall clock for one file's comparisons (the worker's deadline is longer)
MAX_PIXELS = 4_000_000  # a huge page is rendered smaller, never larger than this

# The clerk's sentences (Thai, English), as verify.PROBLEMS: never the library's words.
TEXTS: dict[str, tuple[str, str]] = {
    "covered": ("ข้อความที่ลงลายมือชื่อไว้ในหน้า {pages} ถูกปิดทับหรือเปลี่ยนไปหลังลงลายมือชื่อ",
                "the signed content of page {pages} is covered or changed in the file as a viewer shows it"),
    "page_count": ("จำนวนหน้าของไฟล์ ({now}) ไม่เท่ากับเมื่อลงลายมือชื่อ ({signed})",
                   "the file has {now} pages as a viewer shows it, {signed} when signed"),
    "unrenderable": ("แสดงหน้า {pages} ของไฟล์ไม่ได้",
                     "page {pages} of the file cannot be displayed"),
    "signed_unreadable": ("แสดงฉบับที่ลงลายมือชื่อไว้ไม่ได้ จึงเทียบกับที่ไฟล์แสดงอยู่ไม่ได้",
                          "the signed version of the file cannot be displayed to compare it with the file"),
    "not_compared": ("ยังไม่ได้เทียบหน้า {pages} กับฉบับที่ลงลายมือชื่อไว้",
                     "page {pages} was not compared with the signed version"),
}


def sentence(kind: str, **values) -> str:
    """One line: the English, then the Thai (the verdict's message is read by both)."""
    thai, english = TEXTS[kind]
    return f"{english.format(**values)} ({thai.format(**values)})"


@dataclass(frozen=True)
class Comparison:
    """What a viewer shows now against what was signed."""

    covered: tuple[tuple[int, int], ...] = ()  # (page, 1-based; signed ink pixels now lighter)
    page_counts: tuple[int, int] | None = None  # (when signed, now) when they differ
    unrenderable: tuple[int, ...] = ()  # pages (1-based) the final file cannot render
    signed_unreadable: bool = False
    not_compared: tuple[int, ...] = ()  # pages left out (MAX_PAGES, TIME_BUDGET_S)
    scores: tuple[tuple[int, int], ...] = field(default=(), compare=False)  # every page: (page, pixels)

    @property
    def changed(self) -> bool:
        """What was signed is not what is shown: the signature does not hold."""
        return bool(self.covered or self.page_counts or self.unrenderable or self.signed_unreadable)

    @property
    def incomplete(self) -> bool:
        return bool(self.not_compared)

    def sentences(self) -> list[str]:
        out = []
        if self.covered:
            out.append(sentence("covered", pages=_pages(p for p, _ in self.covered)))
        if self.page_counts:
            out.append(sentence("page_count", signed=self.page_counts[0], now=self.page_counts[1]))
        if self.unrenderable:
            out.append(sentence("unrenderable", pages=_pages(self.unrenderable)))
        if self.signed_unreadable:
            out.append(sentence("signed_unreadable"))
        if self.not_compared:
            out.append(sentence("not_compared", pages=_pages(self.not_compared)))
        return out


def _pages(pages) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    runs: list[list[int]] = []
    for p in sorted(set(pages)):
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class FinalFile:
    """The whole file as PDFium shows it, its pages rendered once for every signature
    compared with it. Close it when done (PDFium's memory is not Python's)."""

    def __init__(self, data: bytes):
        self._document = _open(data)
        self.pages = len(self._document) if self._document is not None else None
        # False: PDFium found the cross-reference table unusable and rebuilt it by scanning
        # the file (what Chrome and Edge then show may be objects no table lists).
        self.xref_ok = _xref_ok(self._document) if self._document is not None else None
        self._rendered: dict[int, object] = {}
        self.started = time.monotonic()

    def page(self, index: int):
        """The rendered page (PIL image, mode L), or None when PDFium cannot render it."""
        if index not in self._rendered:
            self._rendered[index] = _render(self._document, index)
        return self._rendered[index]

    def close(self) -> None:
        self._rendered.clear()
        if self._document is not None:
            self._document.close()
            self._document = None


def compare(final: FinalFile, signed: bytes, *, max_pages: int | None = None,
            budget_s: float | None = None) -> Comparison:
    """Compare `signed` (the file up to the end of a signature's /ByteRange) with the
    whole file, page by page (at most `max_pages`, MAX_PAGES by default, within
    `budget_s` of the first comparison of the file, TIME_BUDGET_S by default)."""
    max_pages = MAX_PAGES if max_pages is None else max_pages
    budget_s = TIME_BUDGET_S if budget_s is None else budget_s
    if final.pages is None:
        return Comparison(unrenderable=(1,))
    document = _open(signed)
    if document is None:
        return Comparison(signed_unreadable=True)
    try:
        count = len(document)
        page_counts = (count, final.pages) if count != final.pages else None
        covered, unrenderable, scores, skipped = [], [], [], []
        for index in range(min(count, final.pages)):
            if index >= max_pages or time.monotonic() - final.started > budget_s:
                skipped.append(index + 1)
                continue
            before = _render(document, index)
            if before is None:
                # the signed version itself cannot be shown: nothing on it to cover
                scores.append((index + 1, 0))
                continue
            after = final.page(index)
            if after is None:
                unrenderable.append(index + 1)
                continue
            pixels = covered_pixels(before, after)
            scores.append((index + 1, pixels))
            if pixels > GLYPH_PIXELS:
                covered.append((index + 1, pixels))
        return Comparison(covered=tuple(covered), page_counts=page_counts, unrenderable=tuple(unrenderable),
                          not_compared=tuple(skipped), scores=tuple(scores))
    finally:
        document.close()


def covered_pixels(before, after) -> int:
    """Pixels that are ink in `before` and at least LIGHTER lighter in `after`, or a
    mark in `before` (MARK_MAX) that is paper-white in `after` (both mode L images).
    Pages of another size: every ink pixel of the signed page."""
    from PIL import ImageChops

    ink = before.point(lambda v: 255 if v <= INK_MAX else 0)
    if before.size != after.size:
        return ink.histogram()[255]
    lighter = ImageChops.subtract(after, before).point(lambda v: 255 if v >= LIGHTER else 0)
    erased = ImageChops.darker(before.point(lambda v: 255 if v <= MARK_MAX else 0),
                               after.point(lambda v: 255 if v >= PAPER else 0))
    return ImageChops.lighter(ImageChops.darker(ink, lighter), erased).histogram()[255]


def xref_usable(data: bytes) -> bool | None:
    """Whether PDFium reads the file through its cross-reference table (None: cannot open it)."""
    document = _open(data, forms=False)
    if document is None:
        return None
    try:
        return _xref_ok(document)
    finally:
        document.close()


def _xref_ok(document) -> bool:
    import pypdfium2.raw as pdfium_c

    return bool(pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(document.raw))


def annotation_text(data: bytes, page: int = 0) -> str:
    """The text a page's annotations and form fields show (their appearances flattened
    into the page, in memory only, as a viewer draws them): what flattening added to
    the page's own text. "" when there is none or PDFium cannot read the page."""
    document = _open(data, forms=False)
    if document is None:
        return ""
    try:
        import pypdfium2.raw as pdfium_c

        handle = document[page]
        textpage = handle.get_textpage()
        before = textpage.get_text_range()
        textpage.close()
        pdfium_c.FPDFPage_Flatten(handle.raw, pdfium_c.FLAT_NORMALDISPLAY)
        handle.close()
        handle = document[page]  # the flattened page, loaded again
        textpage = handle.get_textpage()
        after = textpage.get_text_range()
        textpage.close()
        handle.close()
        return after[len(before):] if after.startswith(before) else after
    except Exception:  # noqa: BLE001 - no text: the caller's sentence goes without it
        return ""
    finally:
        document.close()


def _open(data: bytes, forms: bool = True):
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
        if forms:
            document.init_forms()  # widgets drawn as a viewer draws them (FPDF_FFLDraw)
        return document
    except Exception:  # noqa: BLE001 - PDFium cannot open it: said by the caller
        return None


def _render(document, index: int):
    try:
        page = document[index]
        try:
            width, height = page.get_size()
            scale = DPI / 72
            if width * height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / max(width * height, 1.0)) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True, draw_annots=True, may_draw_forms=True)
            image = bitmap.to_pil().convert("L")
            bitmap.close()
            return image
        finally:
            page.close()
    except Exception:  # noqa: BLE001 - one page PDFium cannot draw
        return None
