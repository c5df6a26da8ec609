"""Where on page 1 the receive stamp can go: the page as a reader sees it, and what is on it.

A clerk's rubber stamp goes in the top right corner of the first page, on blank paper.
The electronic stamp does the same: the page's visible area (/CropBox within /MediaBox,
both inheritable from the page tree, turned by /Rotate, scaled by /UserUnit), the boxes
of everything drawn on it (text, images, vector graphics; PDFium's list of the page's
objects) and of every annotation (above all the senders' signature widgets),
then the free rectangle nearest the top right corner. Scanned letters are one big image:
there the ink is found in the image's pixels, so the stamp lands on white paper.

All boxes are (x0, y0, x1, y1) in the page's default user space unless named "display".
"""
from __future__ import annotations

import io
from dataclasses import dataclass

Box = tuple[float, float, float, float]

INHERITABLE = ("/MediaBox", "/CropBox", "/Rotate", "/Resources")
PAD = 4.0  # points kept clear around the page's content
STEP = 6.0  # points between candidate positions
BACKGROUND_SHARE = 0.6  # a vector shape covering more of the page than this is a background
SCAN_SHARE = 0.25  # an image covering more than this is searched for ink pixel by pixel
INK_LEVEL = 200  # grey level (0-255) below which a pixel is ink
INK_CELL_PT = 4.0
# An image with more pixels than this is not read pixel by pixel: its whole box counts.
# An A4 page scanned at 600 dpi is 35 million; a few kilobytes of Flate can declare
# 400 million (1.2 GB decoded as RGB), past the stamping child's memory cap.
MAX_INK_PIXELS = 40_000_000
# A page holding a shape larger than BACKGROUND_SHARE is rendered (about this many
# pixels, whatever its size) to find where that shape's ink is (_rendered_ink).
RENDER_PIXELS = 125_000  # ~36 dpi on A4
RENDER_CELL_PX = 2  # pixels a side of a rendered ink cell (INK_CELL_PT on A4)
INK_TOLERANCE = 16  # a rendered pixel this far from the paper's colour (0-255, any channel) is ink


@dataclass(frozen=True)
class PageGeometry:
    visible: Box  # CropBox clipped to MediaBox, user space
    rotate: int  # 0, 90, 180, 270 (clockwise, as displayed)
    user_unit: float  # points per user-space unit

    @property
    def display_size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.visible
        w, h = x1 - x0, y1 - y0
        return (h, w) if self.rotate in (90, 270) else (w, h)

    def to_display(self, box: Box) -> Box:
        return _norm(*self._pt_to_display(box[0], box[1]), *self._pt_to_display(box[2], box[3]))

    def to_user(self, box: Box) -> Box:
        return _norm(*self._pt_to_user(box[0], box[1]), *self._pt_to_user(box[2], box[3]))

    def _pt_to_display(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.visible
        w, h = x1 - x0, y1 - y0
        u, v = x - x0, y - y0
        return {0: (u, v), 90: (v, w - u), 180: (w - u, h - v), 270: (h - v, u)}[self.rotate]

    def _pt_to_user(self, dx: float, dy: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.visible
        w, h = x1 - x0, y1 - y0
        u, v = {0: (dx, dy), 90: (w - dy, dx), 180: (w - dx, h - dy), 270: (dy, h - dx)}[self.rotate]
        return u + x0, v + y0


def _norm(ax: float, ay: float, bx: float, by: float) -> Box:
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def inherited(page, key: str):
    """A page attribute, looked up the page tree as the PDF specification (7.7.3.4) says."""
    node, depth = page, 0
    while node is not None and depth < 64:
        value = node.get(key)
        if value is not None:
            return value.get_object() if hasattr(value, "get_object") else value
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        depth += 1
    return None


# How each reader kind tells a page in a page tree: PDFium (Chrome, and the stamp's
# reading of the page) takes any node without /Kids; poppler (Evince, Okular,
# pdftotext) a node of /Type /Page even when it has /Kids.
_READERS = (lambda node: "/Kids" not in node,  # PDFium
            lambda node: node.get("/Type") == "/Page" or "/Kids" not in node)  # poppler
_PAST_LIMIT = object()  # what `_pages` yields last when it stopped at its limit


def _pages(pages_root, is_page, limit: int):  # noqa: ANN001, ANN202 - pyHanko's objects
    """The references of the pages of a page tree in their order, as `is_page` tells a
    page, walking at most `limit` nodes (then `_PAST_LIMIT`). A node seen twice (a loop)
    or that is no dictionary (a dangling reference reads as null) is passed over."""
    stack, seen = [(None, pages_root)], set()
    while stack:
        if len(seen) >= limit:
            yield _PAST_LIMIT
            return
        ref, node = stack.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if not hasattr(node, "get") or (ref is not None and ref in seen):
            continue
        seen.add(ref)
        if ref is not None and is_page(node):
            yield ref
            continue
        kids = node.get("/Kids")
        kids = kids.get_object() if hasattr(kids, "get_object") else kids
        refs = [kids.raw_get(i) for i in range(len(kids))] if hasattr(kids, "raw_get") else []
        stack.extend((getattr(kid, "reference", None), kid) for kid in reversed(refs))


def first_page_refs(pages_root, limit: int = 10_000) -> set:
    """The reference of the first page of a page tree as each reader kind finds it.

    Readers disagree on a tree that lies (`_READERS`); pyHanko, which adds the stamp's
    widget, trusts each node's /Count to skip it and goes by /Type. One set of one
    reference when the tree is sound; more (or none) when readers would put the stamp
    on one page and find its free place on another."""
    found = set()
    for is_page in _READERS:
        first = next(_pages(pages_root, is_page, limit), _PAST_LIMIT)
        if first is not _PAST_LIMIT:
            found.add(first)
    return found


def readers_pages_differ(pages_root, limit: int = 64) -> bool:
    """Whether PDFium (Chrome, Edge) and poppler (Evince, Okular, pdftotext) find other
    pages, or the same pages in another order, in a page tree (`_READERS`, over the
    whole tree). A tree past `limit` nodes is not looked through (False): pyHanko
    resolves each object of an object stream afresh, so the walk costs ~0.15 ms a page
    up to 20 pages and grows as their square beyond (~370 ms for 200)."""
    lists = [list(_pages(pages_root, is_page, limit)) for is_page in _READERS]
    if any(_PAST_LIMIT in found for found in lists):
        return False
    return lists[0] != lists[1]


def _box(value) -> Box | None:
    try:
        value = value.get_object() if hasattr(value, "get_object") else value
        # Each number may be an indirect object too ([380 700 6 0 R 820]): PDFium and
        # poppler resolve it and draw the annotation; until session 52 such a /Rect was
        # no box, and the stamp was printed over what it showed.
        a, b, c, d = (float(v.get_object() if hasattr(v, "get_object") else v) for v in value)
    except (TypeError, ValueError):
        return None
    return _norm(a, b, c, d)


def page_geometry(page) -> PageGeometry:
    """The visible area, rotation and unit of a page dictionary (pyHanko or pypdf).
    Raises ValueError for a page without a usable /MediaBox anywhere in its tree."""
    media = _box(inherited(page, "/MediaBox"))
    if media is None or media[2] - media[0] < 1 or media[3] - media[1] < 1:
        raise ValueError("the first page has no usable /MediaBox")
    crop = _box(inherited(page, "/CropBox")) or media
    visible = (max(media[0], crop[0]), max(media[1], crop[1]), min(media[2], crop[2]), min(media[3], crop[3]))
    if visible[2] - visible[0] < 1 or visible[3] - visible[1] < 1:
        visible = media  # a crop box outside the media box: readers fall back to the media box
    raw = inherited(page, "/Rotate") or 0
    try:
        rotate, whole = int(raw) % 360, isinstance(raw, int)  # a real (90.0): poppler shows 0, PDFium 90
    except (TypeError, ValueError):
        rotate, whole = 0, True  # not a number: every reader shows the page unturned
    if rotate not in (0, 90, 180, 270) or (rotate and not whole):
        # The specification allows only integer multiples of 90, and readers differ on
        # any other: PDFium (Chrome) shows /Rotate 135 turned by 90 and 90.0 by 90,
        # poppler by 135 and by 0. The stamp cannot be upright for all of them.
        raise OddRotation(f"the first page's /Rotate {raw} is not a whole multiple of 90 degrees")
    try:
        unit = float(page.get("/UserUnit", 1.0))  # not inheritable
    except (TypeError, ValueError):
        unit = 1.0
    return PageGeometry(visible=visible, rotate=rotate, user_unit=unit if unit > 0 else 1.0)


# ----------------------------------------------------------------------------- content


def content_boxes(data: bytes, page_index: int = 0, *, max_objects: int = 20000) -> list[Box]:
    """Boxes of what the page draws: runs of inked glyphs, images (their ink, for
    scans), vector shapes and shadings other than page backgrounds. User space. Raises
    ValueError (PageTooBusy among them) on a page it cannot measure.

    PDFium (pypdfium2) reads the page: its C++ parser measures a typed letter's page in
    ~5 ms, where pdfminer.six's Python one took ~73 ms (most of the stamp's time on
    every real letter). It runs where the stamp runs, in the stamping child, under its
    deadline and memory cap: a parser fault there costs a receipt, never the runner."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"the PDF cannot be read ({exc})") from None
    try:
        if page_index >= len(document):
            raise ValueError(f"the PDF has no page {page_index + 1}")
        page = document[page_index]
        page_area = max(_area(_box(page.get_mediabox()) or (0.0, 0.0, 0.0, 0.0)), 1.0)
        textpage = page.get_textpage()
        out = _text_runs(textpage, max_objects)
        big_shape = False  # a shape larger than BACKGROUND_SHARE of the page: its ink is read off the render
        if not (pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(document.raw)
                and pdfium_c.FPDF_GetTrailerEnds(document.raw, None, 0) <= 1):
            # Revisions on top of revisions, or a cross-reference table PDFium had to
            # rebuild: where shadow attacks live, and where readers disagree on what the
            # page is (the Shadow Attack demo "hide-v1 manipulated-a" shows one text in
            # PDFium, another in poppler, a page-sized image in pdfminer). The stamp then
            # keeps clear of what either of two readers sees.
            second, big_shape = _pdfminer_boxes(data, page_index, max_objects=max_objects)
            out += second
        # Objects inside a Form XObject come in its own space (its /Matrix applied, not
        # the matrix that placed it): placed[level - 1] takes a box at `level` to the page.
        placed: list[tuple[float, ...]] = []
        drawn = [pdfium_c.FPDF_PAGEOBJ_FORM, pdfium_c.FPDF_PAGEOBJ_IMAGE,
                 pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING]
        # pypdfium2 yields levels up to max_depth - 1: one past ours, to know it is there.
        for obj in page.get_objects(filter=drawn, max_depth=MAX_DEPTH + 2):
            if len(out) > max_objects or obj.level > MAX_DEPTH:
                # Half a list of obstacles would let the stamp cover the other half.
                raise PageTooBusy(f"page {page_index + 1} holds too much to find a free place")
            del placed[obj.level:]
            to_page = placed[-1] if placed else _IDENTITY
            if obj.type == pdfium_c.FPDF_PAGEOBJ_FORM:
                placed.append(_compose(tuple(obj.get_matrix().get()), to_page))
                continue  # what it draws comes next, one level down
            box = _transform(obj.get_bounds(), to_page)
            if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                inked = None
                if _area(box) / page_area > SCAN_SHARE:
                    inked = _image_ink(obj, _compose(tuple(obj.get_matrix().get()), to_page))
                out.extend(inked if inked is not None else [box])
            elif _area(box) / page_area <= BACKGROUND_SHARE:
                out.append(box)
            else:
                # A page-sized fill is the paper's colour, a frame its edge: neither is
                # content in the top right corner. But text converted to outlines (print
                # drivers, Ghostscript -dNoOutputFonts) or a form's grid is one path too,
                # as large as the page: where its ink is, is read off the page's render.
                big_shape = True
        if big_shape or _text_inks_past_its_boxes(page, textpage, max_objects):
            out.extend(_rendered_ink(page))
        return out
    finally:
        document.close()


# Text rendering modes (Tr) that paint no outline: fill (0), invisible (3), fill and
# clip (4), clip alone (7). Every other one strokes the glyphs' outlines.
_NO_OUTLINE_MODES = frozenset((0, 3, 4, 7))


def _text_inks_past_its_boxes(page, textpage, max_objects: int) -> bool:
    """The page (its forms included) writes text whose ink reaches past the glyph boxes
    of the text layer, which is all `_text_runs` gives: such a page's ink is read off its
    render too.

    - Text in a Type 3 font: glyphs the file draws itself, whose ink may reach past the
      box their `d1` declares. PDFium draws that ink, poppler clips it: a stamp put
      beside the box covered text Chrome shows, and the sender's signature then failed
      on the stamped copy (session 35's red team). A Type 3 font is the one PDFium
      calls embedded without a font program.
    - Text whose outline is stroked (rendering modes 1, 2, 5, 6): the stroke spreads
      half the line width around every glyph, `2 Tr 60 w` 30 pt, and the stamp went on
      it (session 44's red team, "sig F4"). The width cannot be measured from here:
      PDFium hands over the line width as written and the text matrix with the CTM
      folded in, so `10 0 0 10 0 0 cm 6 w` with a `0.1 ... Tm` reads as 6 units under
      a matrix of 1 and paints 60 pt (PDFium's own box of the object grows by 3), and a
      miter join reaches further still. The render shows what is painted.
    - Text the text layer leaves out: PDFium's text page drops a text object that
      repeats the previous one's text where their boxes overlap (apparently its test for text
      drawn twice to look bold), so of five lines "URGENT - REPLY BY 10 DEC" turned by
      30 degrees, whose upright boxes overlap, it kept the first, while it draws them
      all, as poppler does; the stamp went on the lines left out (session 53's red
      team). Such an object has a box but no text in the text page.

    One ctypes walk of the objects, each font looked at once: ~1 us an object."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    fonts: dict[int, bool] = {}
    size = ctypes.c_size_t()
    # Asking a text object for its text walks the whole text page (quadratic over a
    # page), so only one whose box overlaps one of the five text objects before it, as
    # PDFium's test for a bold twin requires, is asked.
    text_of, get_bounds = pdfium_c.FPDFTextObj_GetText, pdfium_c.FPDFPageObj_GetBounds
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    refs = tuple(ctypes.byref(v) for v in (left, bottom, right, top))
    recent: list[Box] = []
    text, form = pdfium_c.FPDF_PAGEOBJ_TEXT, pdfium_c.FPDF_PAGEOBJ_FORM
    render_mode = pdfium_c.FPDFTextObj_GetTextRenderMode
    stack = [(None, i) for i in range(pdfium_c.FPDFPage_CountObjects(page.raw) - 1, -1, -1)]
    looked = 0
    while stack:
        parent, index = stack.pop()
        looked += 1
        if looked > max_objects:
            return True  # not looked through: read the render, as for a big shape
        obj = (pdfium_c.FPDFPage_GetObject(page.raw, index) if parent is None
               else pdfium_c.FPDFFormObj_GetObject(parent, index))
        if not obj:
            continue
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == form and len(stack) < max_objects:
            stack += [(obj, i) for i in range(pdfium_c.FPDFFormObj_CountObjects(obj) - 1, -1, -1)]
        elif kind == text:
            if render_mode(obj) not in _NO_OUTLINE_MODES:
                return True
            get_bounds(obj, *refs)
            box = (left.value, bottom.value, right.value, top.value)
            if box[2] > box[0] and box[3] > box[1]:
                if recent and _bold_twin(box, recent) and text_of(obj, textpage.raw, None, 0) <= 2:
                    return True  # drawn, but not in the text layer (2 bytes: the terminator alone)
                recent.append(box)
                if len(recent) > 5:
                    del recent[0]
            font = pdfium_c.FPDFTextObj_GetFont(obj)
            key = ctypes.cast(font, ctypes.c_void_p).value or 0
            if key not in fonts:
                fonts[key] = bool(font) and bool(pdfium_c.FPDFFont_GetIsEmbedded(font)) and (
                    pdfium_c.FPDFFont_GetFontData(font, None, 0, ctypes.byref(size)) and size.value == 0)
            if fonts[key]:
                return True
    return False


def _bold_twin(box: Box, before: list[Box]) -> bool:
    """Whether PDFium's text page may take a text object of `box` for a copy of one of
    the text objects just `before` it drawn again to look bold, and leave it out: their
    boxes overlap over at least half its width (CPDF_TextPage's same-text-object test,
    which also wants the same text and size)."""
    x0, y0, x1, y1 = box
    half = (x1 - x0) / 2
    for b in before:
        width = min(x1, b[2]) - max(x0, b[0])
        if width > 0 and min(y1, b[3]) > max(y0, b[1]) and x1 - x0 - width <= half:
            return True
    return False


def _text_runs(textpage, max_objects: int) -> list[Box]:
    """Boxes of the page's text, glyph by glyph (the ink, in page space, forms and
    their matrices included), joined into runs along a line.

    Not the text objects' own bounds: a producer writes a line and its right-aligned
    marking ("สำนักงานเขตบางรัก ... ด่วนที่สุด") as one object that spans the blank
    between them, where the stamp belongs. A glyph is blank by its box, not by the
    character it claims to be: a font without a Unicode map shows its letters as tabs
    and line breaks (EU DSS's "pdf-signed-original"), and a hostile one can call any
    glyph a space."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    handle = textpage.raw
    count = pdfium_c.FPDFText_CountChars(handle)
    if count > max_objects:
        raise PageTooBusy("page holds too much text to find a free place")
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    where = (ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
    runs: list[list[float]] = []
    run: list[float] | None = None
    for index in range(count):
        if not pdfium_c.FPDFText_GetCharBox(handle, index, *where):
            continue
        x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            continue  # a glyph without ink (a space, a character PDFium generated)
        reach = max(y1 - y0, 2.0)
        if (run is not None and y0 < run[3] and run[1] < y1
                and run[0] - reach <= x0 <= run[2] + reach):
            run[0], run[1], run[2], run[3] = min(run[0], x0), min(run[1], y0), max(run[2], x1), max(run[3], y1)
        else:
            run = [x0, y0, x1, y1]
            runs.append(run)
    return [(r[0], r[1], r[2], r[3]) for r in runs]


def _pdfminer_boxes(data: bytes, page_index: int, *, max_objects: int) -> tuple[list[Box], bool]:
    """The same boxes as pdfminer.six's layout analysis reads them (text lines, images
    and their ink, vector shapes; of a shape larger than BACKGROUND_SHARE of the page,
    the boxes of its segments): the second reader, for files readers may disagree on,
    and whether it saw such a large shape (then the page's render is read for ink as
    well, as for PDFium's). Pure Python: ~73 ms for a typed letter's page."""
    from pdfminer.layout import LAParams, LTCurve, LTFigure, LTImage, LTTextBox, LTTextLine
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    manager = PDFResourceManager(caching=True)
    # Only the lines' boxes are used, never the reading order: boxes_flow=None skips the
    # hierarchical grouping of text boxes (a third of the layout time on a typed letter,
    # quadratic in the number of boxes), and leaves the lines and boxes themselves as
    # they are.
    device = PDFPageAggregator(manager, laparams=LAParams(boxes_flow=None))
    interpreter = PDFPageInterpreter(manager, device)
    for index, page in enumerate(PDFPage.get_pages(io.BytesIO(data), maxpages=page_index + 1)):
        if index != page_index:
            continue
        page.rotate = 0  # measure in the page's own user space; rotation is ours to apply
        media = _box(page.mediabox) or (0.0, 0.0, 0.0, 0.0)
        interpreter.process_page(page)
        layout = device.get_result()
        page_area = max((media[2] - media[0]) * (media[3] - media[1]), 1.0)
        # pdfminer places the media box's lower left corner at (0, 0).
        ox, oy = media[0], media[1]
        out: list[Box] = []
        big_shape = False

        def add(b: Box) -> None:
            out.append((b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy))

        def walk(items, matrix, depth: int) -> None:
            nonlocal big_shape
            for item in items:
                if len(out) > max_objects or depth > 16:
                    # Half a list of obstacles would let the stamp cover the other half.
                    raise PageTooBusy(f"page {page_index + 1} holds too much to find a free place")
                if isinstance(item, (LTTextBox,)):
                    for line in item:
                        if isinstance(line, LTTextLine) and line.get_text().strip():
                            add(line.bbox)
                elif isinstance(item, LTImage):
                    share = _area(item.bbox) / page_area
                    if share > SCAN_SHARE:
                        inked = _pdfminer_ink(item, matrix)
                        for b in inked if inked is not None else [item.bbox]:
                            add(b)
                    else:
                        add(item.bbox)
                elif isinstance(item, LTFigure):
                    walk(item, getattr(item, "matrix", None), depth + 1)
                elif isinstance(item, LTCurve):  # LTRect and LTLine are curves
                    if _area(item.bbox) / page_area <= BACKGROUND_SHARE:
                        add(item.bbox)
                        continue
                    # pdfminer gives each subpath its own curve; one this large is a
                    # page-sized fill or frame, or one long line drawn to and fro over
                    # the page (a form's grid, a scribble). Its ink lies along its
                    # segments; between them a fill is of one colour, the paper's.
                    big_shape = True
                    for b in _segment_boxes(item, max_objects):
                        add(b)
                elif hasattr(item, "get_text") and item.get_text().strip():
                    add(item.bbox)

        walk(layout, None, 0)
        return out, big_shape
    raise ValueError(f"the PDF has no page {page_index + 1}")


class PageTooBusy(ValueError):
    """The page holds more drawn objects (or deeper nesting) than we measure."""


class OddRotation(ValueError):
    """The page's /Rotate is one that readers show differently."""


MAX_DEPTH = 16  # Form XObjects within Form XObjects: deeper than any letter's
_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _compose(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, ...]:
    """The PDF matrix that applies `inner`, then `outer`."""
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer  # noqa: N806 - the specification's names
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _transform(box, m: tuple[float, ...]) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    if m == _IDENTITY:
        return _norm(x0, y0, x1, y1)
    xs, ys = [], []
    for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
        xs.append(m[0] * x + m[2] * y + m[4])
        ys.append(m[1] * x + m[3] * y + m[5])
    return (min(xs), min(ys), max(xs), max(ys))


def _area(b: Box) -> float:
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def _image_ink(image, matrix: tuple[float, ...]) -> list[Box] | None:
    """The inked cells of a large (scanned) image placed by `matrix` (the unit square
    to the page), or None when its pixels cannot be read or it is placed at an angle
    other than a multiple of 90 degrees (then the whole image counts as content)."""
    if _turn_upright(matrix) is None:
        return None
    import pypdfium2.raw as pdfium_c

    try:
        width, height = image.get_px_size()
        if width * height > MAX_INK_PIXELS:
            return None  # a decompression bomb, or a scan finer than any letter needs
        metadata = image.get_metadata()
        bitmap = image.get_bitmap(render=False)
        pixels = bitmap.to_pil()
    except Exception:  # noqa: BLE001 - a colour space or filter PDFium cannot decode
        return None
    coverage = metadata.colorspace == pdfium_c.FPDF_COLORSPACE_UNKNOWN and metadata.bits_per_pixel == 1
    if coverage:
        # A stencil mask (/ImageMask true, the text layer of copiers' MRC scans; PDFium
        # draws a 1-bit image without a colour space as one too) has no colours, only
        # where it paints: PDFium hands it over as coverage, 255 where the fill colour
        # goes, /Decode already applied. Read as grey, its black text was paper and the
        # paper ink (session 43's red team: a stamp on a black block, a receipt for a
        # scan with a blank corner). Read the other way round, painted is ink whatever the
        # fill colour: a mask painting white counts too, as the stamp cannot tell what is
        # under it.
        if bitmap.format != pdfium_c.FPDFBitmap_Gray:
            return None  # not the coverage we know how to read: the whole image counts
    return _ink_boxes(_upright(pixels, matrix), _transform((0, 0, 1, 1), matrix), coverage=coverage)


def _turn_upright(matrix) -> tuple[bool, bool, bool] | None:
    """(transpose, flip left-right, flip top-bottom): what makes the pixels of an image
    placed by `matrix` (the unit square to the page) read as the page shows them, its
    first row at the top and its first column at the left; None when it is placed at an
    angle other than a multiple of 90 degrees. Scanning software places a page turned
    or mirrored as often as upright (a landscape original turned by a copier, a
    top-down bitmap drawn with a negative height); until session 55 such a scan counted
    as ink all over and got a receipt, "no free space at the top right of page 1", on a
    blank corner. Image space: the first row is at v = 1, the first column at u = 0."""
    a, b, c, d = (float(v) for v in matrix[:4])
    if abs(b) <= 1e-6 and abs(c) <= 1e-6 and abs(a) > 1e-6 and abs(d) > 1e-6:
        return False, a < 0, d < 0  # columns run along x (by a), rows down y (by -d)
    if abs(a) <= 1e-6 and abs(d) <= 1e-6 and abs(b) > 1e-6 and abs(c) > 1e-6:
        # Columns run along y (by b) and rows along x (by -c): transposed first.
        return True, c > 0, b > 0
    return None


def _upright(pixels, matrix):
    """The image (Pillow) turned and mirrored as `matrix` shows it on the page (_turn_upright)."""
    from PIL import Image

    transpose, left_right, top_bottom = _turn_upright(matrix)
    if transpose:
        pixels = pixels.transpose(Image.Transpose.TRANSPOSE)
    if left_right:
        pixels = pixels.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if top_bottom:
        pixels = pixels.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return pixels


def _rendered_ink(page) -> list[Box]:
    """Where page 1 as PDFium renders it (its content, no annotations) is not the
    paper's colour: boxes of runs of RENDER_CELL_PX-pixel cells, user space.

    Read only when the page holds a shape larger than BACKGROUND_SHARE of it, whose own
    box says nothing of where its ink is: a page-sized fill leaves the page one colour
    (the paper's, free), a frame only its edge, while text converted to outlines or a
    form's grid drawn as one path block where they are. The paper's colour is the most
    frequent value of each channel; a pixel is ink when one channel differs from it by
    more than INK_TOLERANCE (PDFium draws a line thinner than a pixel a pixel wide, so a
    hairline still shows). About RENDER_PIXELS pixels whatever the page's size (~36 dpi
    on A4, cells of INK_CELL_PT): 2-7 ms of CPU for a page of outlined text."""
    import math
    import re

    from PIL import ImageChops

    width, height = page.get_size()
    if width <= 0 or height <= 0:
        return []
    scale = math.sqrt(RENDER_PIXELS / (width * height))
    bitmap = page.render(scale=scale, draw_annots=False, may_draw_forms=False, rev_byteorder=True)
    image = bitmap.to_pil()
    if image.mode != "RGB":
        image = image.convert("RGB")
    w_px, h_px = image.size
    hist = image.histogram()
    lut = []
    for channel in range(3):
        counts = hist[256 * channel:256 * channel + 256]
        paper = counts.index(max(counts))
        lut += [255 if abs(v - paper) > INK_TOLERANCE else 0 for v in range(256)]
    r, g, b = image.point(lut).split()
    ink = ImageChops.lighter(ImageChops.lighter(r, g), b)
    k = RENDER_CELL_PX
    cells = ink.reduce(k)  # a cell's mean: not 0 when any of its pixels is ink
    cols, rows = cells.size
    # Device pixels to user space (crop box, /Rotate): an affine map, from three corners.
    conv = bitmap.get_posconv(page)
    ox, oy = conv.to_page(0, 0)
    ax, ay = conv.to_page(w_px, 0)
    bx, by = conv.to_page(0, h_px)
    ux, uy = (ax - ox) / w_px, (ay - oy) / w_px  # one pixel right
    vx, vy = (bx - ox) / h_px, (by - oy) / h_px  # one pixel down

    def to_user(x0: int, y0: int, x1: int, y1: int) -> Box:
        return _norm(ox + x0 * ux + y0 * vx, oy + x0 * uy + y0 * vy,
                     ox + x1 * ux + y1 * vx, oy + x1 * uy + y1 * vy)

    data = cells.tobytes()
    out: list[Box] = []
    # Runs of inked cells along each row; a run the row above had too is extended down.
    open_runs: dict[tuple[int, int], int] = {}  # (first col, end col) -> first row
    for row in range(rows + 1):
        line = data[row * cols:(row + 1) * cols] if row < rows else b""
        runs = {(m.start(), m.end()) for m in re.finditer(rb"[^\x00]+", line)}
        for run, first in list(open_runs.items()):
            if run not in runs:
                del open_runs[run]
                out.append(to_user(run[0] * k, first * k, min(run[1] * k, w_px), min(row * k, h_px)))
        for run in runs:
            open_runs.setdefault(run, row)
    return out


def _segment_boxes(curve, max_objects: int) -> list[Box]:
    """Boxes of a pdfminer curve's segments (a Bezier segment's by its control points,
    which enclose it), grown by half its line width; its whole box when it has more
    segments than we measure or pdfminer kept no path."""
    path = getattr(curve, "original_path", None)
    if not path or len(path) > max_objects:
        return [curve.bbox]
    grow = max(float(getattr(curve, "linewidth", 0) or 0), 1.0) / 2
    out: list[Box] = []
    start = current = None
    for segment in path:
        op, points = segment[0], [tuple(map(float, p)) for p in segment[1:]]
        if op == "m":
            start = current = points[-1]
            continue
        if op == "h":
            points = [start] if start is not None else []
        if current is None or not points:
            return [curve.bbox]  # a path that does not start with a point: no telling
        xs = [current[0]] + [p[0] for p in points]
        ys = [current[1]] + [p[1] for p in points]
        out.append((min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow))
        current = points[-1]
    return out


def _ink_boxes(pixels, bbox: Box, *, coverage: bool = False) -> list[Box]:
    """The inked cells of an image (Pillow) drawn upright into `bbox`; with `coverage`,
    of a stencil mask's coverage (255 = painted), read in the same pass, with no copy
    of a scan-sized image more than a grey one costs."""
    x0, y0, x1, y1 = bbox
    width_pt, height_pt = x1 - x0, y1 - y0
    cols = max(1, int(width_pt / INK_CELL_PT))
    rows = max(1, int(height_pt / INK_CELL_PT))
    from PIL import Image

    # Threshold first, then average per cell: one pen stroke in a cell keeps it below white.
    if coverage:
        dark = pixels.convert("L").point(lambda v: 0 if v > 255 - INK_LEVEL else 255)
    else:
        dark = pixels.convert("L").point(lambda v: 0 if v < INK_LEVEL else 255)
    small = dark.resize((cols, rows), Image.Resampling.BOX)
    out: list[Box] = []
    cw, ch = width_pt / cols, height_pt / rows
    data = small.load()
    for r in range(rows):
        run_start = None
        for col in range(cols + 1):
            inked = col < cols and data[col, r] < 250  # any dark pixel in the cell
            if inked and run_start is None:
                run_start = col
            elif not inked and run_start is not None:
                top = y1 - r * ch  # image rows run top to bottom
                out.append((x0 + run_start * cw, top - ch, x0 + col * cw, top))
                run_start = None
    return out


def _pdfminer_ink(image, matrix) -> list[Box] | None:
    """The inked cells of a large image as pdfminer reads it, or None when its pixels
    cannot be read or it is placed at an odd angle (then the whole image counts)."""
    matrix = _IDENTITY if matrix is None else tuple(matrix)
    if _turn_upright(matrix) is None:
        return None
    pixels = _decode(image.stream)
    return None if pixels is None else _ink_boxes(_upright(pixels, matrix), image.bbox)


def _decode(stream):
    """A Pillow image of a pdfminer image stream (JPEG, JPEG 2000, Flate 1/8-bit grey/RGB)."""
    from PIL import Image

    try:
        names = []
        for f in stream.get_filters() or []:
            f = f[0] if isinstance(f, tuple) else f
            names.append(str(getattr(f, "name", f)).strip("/'"))
        if names and names[-1] in ("DCTDecode", "DCT", "JPXDecode"):
            return Image.open(io.BytesIO(stream.get_rawdata() if len(names) == 1 else stream.get_data()))
        width, height = int(stream.get("Width")), int(stream.get("Height"))
        if width * height > MAX_INK_PIXELS:
            return None
        bits = int(stream.get("BitsPerComponent", 8))
        space = stream.get("ColorSpace")
        space = str(getattr(space, "name", space))
        raw = stream.get_data()
        if bits == 1:
            img = Image.frombytes("1", (width, height), raw)
            decode = stream.get("Decode")
            return img if not decode or float(decode[0]) == 0 else img.point(lambda v: 255 - v)
        if bits != 8:
            return None
        mode = {"DeviceGray": "L", "DeviceRGB": "RGB", "DeviceCMYK": "CMYK"}.get(space)
        if mode is None:
            return None
        return Image.frombytes(mode, (width, height), raw)
    except Exception:
        return None


def annotation_boxes(page) -> list[tuple[Box, bool]]:
    """(box, is a signature widget) of every annotation on a page dictionary."""
    out = []
    annots = page.get("/Annots")
    annots = annots.get_object() if hasattr(annots, "get_object") else annots
    try:
        rotate = int(inherited(page, "/Rotate") or 0) % 360
    except (TypeError, ValueError):
        rotate = 0
    for annot in annots or []:
        try:
            annot = annot.get_object()
            rect = annot.get("/Rect")
            box = _box(rect.get_object() if hasattr(rect, "get_object") else rect)
            if box is None:
                continue
            is_sig = annot.get("/FT") == "/Sig" or (
                annot.get("/Parent") is not None and annot["/Parent"].get_object().get("/FT") == "/Sig")
            out.append((box, is_sig))
            if rotate and int(_resolved(annot.get("/F", 0))) & NO_ROTATE:
                out.append((_unturned_box(box, rotate), is_sig))
            if annot.get("/Subtype") == "/Text" and not _has_normal_appearance(annot):
                out.append((_note_icon_box(box), False))
            drawn = _points_box(annot)
            if drawn is not None:
                out.append((drawn, False))
        except Exception:
            continue
    return out


NO_ROTATE = 16  # annotation flag (ISO 32000-1 12.5.3)
NOTE_ICON = 24.0  # points a side of the icon readers draw for a note (/Text) without an appearance


def _has_normal_appearance(annot) -> bool:
    ap = _resolved(annot.get("/AP"))
    return hasattr(ap, "get") and ap.get("/N") is not None


def _note_icon_box(box: Box) -> Box:
    """Where readers draw the icon of a note (/Text annotation) that has no appearance
    of its own: a fixed-size icon whatever its /Rect, poppler hanging it from the
    /Rect's upper-left corner, PDFium standing it on the lower-left one. A note of a 1 pt
    /Rect showed its icon beside what the stamp kept clear of, and the stamp was
    printed over it in Evince and Okular until session 53."""
    x0, y0, x1, y1 = box
    return (x0, min(y0, y1 - NOTE_ICON), max(x1, x0 + NOTE_ICON), max(y1, y0 + NOTE_ICON))


def _unturned_box(box: Box, rotate: int) -> Box:
    """Where a NoRotate annotation is drawn on a page turned by `rotate`: upright on the
    screen, its /Rect's upper-left corner fixed, so it reaches across the page from that
    corner (to the right and down as displayed), not over its /Rect. PDFium and poppler
    draw it there; until session 53 only the /Rect was kept clear of, and a /FreeText
    whose /Rect lay left of the top right corner of a /Rotate 90 page had the stamp
    printed over its text."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return {90: (x0, y1, x0 + h, y1 + w), 180: (x0 - w, y1, x0, y1 + h), 270: (x0 - h, y1 - w, x0, y1)}[rotate]


# The keys of the points poppler draws an annotation without an appearance stream from.
_POINT_KEYS = ("/InkList", "/L", "/Vertices", "/QuadPoints", "/CL")
MAX_POINT_NUMBERS = 100_000  # past this an annotation's points count as the whole page


def _resolved(value):
    return value.get_object() if hasattr(value, "get_object") else value


def _points_box(annot) -> Box | None:
    """Where poppler inks an annotation that has no normal appearance (/AP /N): it makes
    one from the annotation's points, wherever they are, even outside its /Rect (an
    /Ink's stroke over the top right of the page, its /Rect 20 pt at the foot; PDFium
    draws nothing of it). The box of the points, grown by the line width, leader lines
    and line endings; None for an annotation with an appearance or without points.
    Until session 52 only the /Rect was kept clear of."""
    ap = _resolved(annot.get("/AP"))
    if hasattr(ap, "get") and ap.get("/N") is not None:
        return None
    xs: list[float] = []
    ys: list[float] = []
    for key in _POINT_KEYS:
        numbers: list[float] = []
        stack = [_resolved(annot.get(key))]
        while stack:
            item = _resolved(stack.pop())
            if isinstance(item, (list, tuple)):
                stack.extend(reversed(item))  # popped in order: x, y, x, y...
            elif item is not None:
                numbers.append(float(item))
            if len(xs) + len(numbers) > MAX_POINT_NUMBERS:
                return (-1e9, -1e9, 1e9, 1e9)
        xs += numbers[0::2][:len(numbers) // 2]
        ys += numbers[1::2]
    if not xs:
        return None
    border = _resolved(annot.get("/BS"))
    width = _resolved(border.get("/W", 1)) if hasattr(border, "get") else 1
    legacy = _resolved(annot.get("/Border"))
    if not hasattr(border, "get") and isinstance(legacy, (list, tuple)) and len(legacy) >= 3:
        width = _resolved(legacy[2])
    leader = sum(abs(float(_resolved(annot.get(k, 0)))) for k in ("/LL", "/LLE"))
    grow = 3 * max(float(width), 1.0) + leader + 1  # line endings reach ~3 widths past a point
    return (min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow)


# ----------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placement:
    rect: Box  # the stamp's widget rectangle, user space
    scale: float  # 1.0 = the full-size stamp
    display: Box  # the same rectangle as the reader sees the page


def find_place(geometry: PageGeometry, obstacles: list[Box], size_pt: tuple[float, float], *,
               margin_pt: float = 18.0, min_scale: float = 0.7) -> Placement | None:
    """The free spot nearest the top right corner of the displayed page for a stamp of
    `size_pt` (points), shrunk down to `min_scale` if needed; None when there is none in
    the top half of the page."""
    unit = geometry.user_unit
    width, height = geometry.display_size
    margin = margin_pt / unit
    blocked = [_grow(geometry.to_display(b), PAD / unit) for b in obstacles]
    grid = _FreeGrid(blocked, width, height, margin, STEP / unit)  # the same for every scale
    for scale in (1.0, 0.9, 0.8, min_scale):
        w, h = size_pt[0] * scale / unit, size_pt[1] * scale / unit
        if w > width - 2 * margin or h > height - 2 * margin:
            continue
        spot = grid.nearest(w, h)
        if spot is not None:
            return Placement(rect=geometry.to_user(spot), scale=scale, display=spot)
    return None


def _grow(b: Box, d: float) -> Box:
    return (b[0] - d, b[1] - d, b[2] + d, b[3] + d)


class _FreeGrid:
    """The search area (top right of the page, where candidates lie) on a grid of
    half-step cells; a cell any obstacle touches is taken, so a stamp on free cells
    cannot overlap anything. Each row of the area is one integer, a bit per cell: an
    obstacle is one OR per row it spans, and a candidate is one AND against the OR of
    the rows it covers (a scanned page has thousands of ink boxes; the per-cell table
    this replaces cost 2-3 ms a stamp on a blank page). Cells outside the search area
    are never looked at, so they are not built."""

    def __init__(self, blocked: list[Box], width: float, height: float, margin: float, step: float):
        self.cell = cell = step / 2
        self.width, self.height = width, height
        self.right = int((width - margin) / cell)  # exclusive cell index of the stamp's right edge
        self.top = int((height - margin) / cell)
        self.left_limit = max(int(margin / cell) + 1, int(width * 0.35 / cell))
        self.bottom_limit = max(int(margin / cell) + 1, int(height * 0.5 / cell))
        # Window cells [c_lo, c_hi) x [r_lo, r_hi), in page cell indices; bit 0 of a row is c_lo.
        c_lo, r_lo = self.left_limit, self.bottom_limit
        c_hi, r_hi = max(self.right, c_lo), max(self.top, r_lo)
        self.c_lo, self.r_lo = c_lo, r_lo
        rows = [0] * (r_hi - r_lo)
        for b in blocked:
            c0, c1 = max(int(b[0] / cell), c_lo), min(int(b[2] / cell), c_hi - 1)
            r0, r1 = max(int(b[1] / cell), r_lo), min(int(b[3] / cell), r_hi - 1)
            if c0 > c1 or r0 > r1:
                continue
            mask = ((1 << (c1 - c0 + 1)) - 1) << (c0 - c_lo)
            for r in range(r0 - r_lo, r1 - r_lo + 1):
                rows[r] |= mask
        self.rows = rows

    def _rows_taken(self, count: int) -> list[int]:
        """[i] = the cells taken in any of rows i .. i + count - 1 (window indices): ORs
        over doubling spans, then two overlapping spans per window."""
        cur, span = self.rows, 1
        while span * 2 <= count:
            cur = [a | b for a, b in zip(cur, cur[span:])]
            span *= 2
        return [a | b for a, b in zip(cur, cur[count - span:])]

    def nearest(self, w: float, h: float) -> Box | None:
        """The candidate nearest the top right corner whose cells are all free: candidates
        in order of (cells from the corner, right edge, top edge), as a sort of all of
        them would give, but generated in that order so that the search stops at the
        first free one."""
        cell = self.cell
        wc, hc = int(w / cell) + 1, int(h / cell) + 1
        right, top = self.right, self.top
        cols = range(self.left_limit + wc, right + 1, 2)  # the stamp's right edge (exclusive cell)
        rows = range(self.bottom_limit + hc, top + 1, 2)  # its top edge
        if not cols or not rows:
            return None
        taken = self._rows_taken(hc)
        width_mask = (1 << wc) - 1
        c_lo, r_lo = self.c_lo, self.r_lo
        for distance in range((right - cols[-1]) + (top - rows[-1]), (right - cols[0]) + (top - rows[0]) + 1):
            total = right + top - distance  # c1 + r1 on this diagonal
            lo, hi = max(cols[0], total - rows[-1]), min(cols[-1], total - rows[0])
            lo += (lo - cols[0]) % 2
            if lo > hi or (total - lo - rows[0]) % 2:
                continue  # no candidate on this diagonal (c1 and r1 each keep one parity)
            for c1 in range(lo, hi + 1, 2):
                r1 = total - c1
                if not (taken[r1 - hc - r_lo] >> (c1 - wc - c_lo)) & width_mask:
                    return ((c1 - wc) * cell, (r1 - hc) * cell, (c1 - wc) * cell + w, (r1 - hc) * cell + h)
        return None
