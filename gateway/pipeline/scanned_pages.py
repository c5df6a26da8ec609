"""The secrecy marking stamped on a scanned page: read by OCR (Tesseract, Thai).

A paper letter reaches e-mail as a scan: a page that is one picture, no text layer.
The ลับ / ลับมาก stamp the regulation puts at the head and foot of every page of a
classified letter is then only pixels, and until session 19 the gateway registered
such a letter as ordinary and filed it in plain text (docs/secrecy.md, "Known limits").

Only what the marking needs is read: the head and foot bands of a page (where the stamp
goes) that a picture over a quarter of the page or more covers and that hold (almost)
no Thai text of their own (`scanned_bands`), rendered at SCAN_DPI in grey by PDFium (as
the clerk's viewer draws it, its annotations included), each read by `tesseract` in a
child process, bounded in time. At most OCR_PAGES such pages of a PDF (its first ones
and its last): a classified letter bears the stamp on every page. Tesseract drops Thai vowel marks from a large stamped word ("ลบมาก"), so the
bands' text is matched on its consonants (`rules.markings.markings_read_by_ocr`), and
the markings found become lines of what the page shows (`PdfInfo.other_texts`).

A typed page's marking drawn without text (a stamp pasted as a picture, the word as
outlines or a pattern) is read the same way, in the crops of its head and foot that
draw something besides text (`band_drawings`, below).

A page that cannot be read so (no `tesseract` on the machine, a timeout, a failure) is
said unread (`NotRead`): the letter is at least ลับ, uncertain. Fail closed."""
from __future__ import annotations

import io
import itertools
import os
import re
import shutil
import subprocess
import time
from typing import NamedTuple

from gateway.pipeline.unread_words import why_unread
from rules.markings import markings_read_by_ocr

SCAN_DPI = 150  # a stamp's letters are 1-2 cm tall: plenty, and ~0.1 s a band
HEAD_BAND = 0.20  # of the page's height, from the top: the stamp and the letter's first lines
FOOT_BAND = 0.15
OCR_PAGES = 4  # scanned pages read in one PDF: the first three and the last
OCR_TIMEOUT = 20.0  # seconds for one band (a busy 2-core machine; ~0.1 s when idle)
TEXT_OF_ITS_OWN = 20  # Thai letters in a turned page's text layer from which it is not a scan
SCAN_AREA = 0.25  # of the page a picture covers for the page to be a scan
BAND_COVERED = 0.5  # of a head or foot band that picture covers for the band to be read
BAND_TEXT = 5  # Thai letters of text layer in a band from which it is typed, not scanned
MAX_PIXELS = 40_000_000  # a page whose band would be larger is drawn smaller
FORM_DEPTH = 8  # Form XObjects in Form XObjects looked into for a page's pictures
MAX_PAGE_OBJECTS = 100_000  # objects of one page looked at (a scan's strips: tens); past them: not read
MAX_PDF_OBJECTS = 1_000_000  # objects of a PDF's pages read looked at (~2.6 s of paths); past them: not read


OCR_FOUND_FOR = 300.0  # seconds a tesseract found whole is believed without asking it again
_ocr_found: dict[tuple, float] = {}  # (binary, its mtime, TESSDATA_PREFIX) -> when it listed tha


def ocr_missing() -> str | None:
    """What this machine lacks to read a scanned page (`tesseract`, its Thai model), or
    None. Said by `status`, `check` and at start-up: without it every scanned letter is
    sealed as ลับ, uncertain.

    A tesseract that listed its Thai model is believed for OCR_FOUND_FOR seconds in this
    process (the same binary, the same TESSDATA_PREFIX): `status` is polled (the
    desk's health, a monitor, a wait), and each answer started a tesseract process.
    What is missing is asked again every time, so that installing it shows at once;
    a model removed within the window is the pipeline's NotRead, sealed as uncertain."""
    binary = shutil.which("tesseract")
    if binary is None:
        return "tesseract"
    try:
        key = (binary, os.stat(binary).st_mtime_ns, os.environ.get("TESSDATA_PREFIX"))
    except OSError:
        return "a tesseract that runs"
    found = _ocr_found.get(key)
    if found is not None and 0 <= time.monotonic() - found < OCR_FOUND_FOR:
        return None
    try:
        langs = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=OCR_TIMEOUT,
                               check=False).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "a tesseract that runs"
    if "tha" not in langs:
        _ocr_found.pop(key, None)
        return "tesseract's Thai model (tesseract-ocr-tha)"
    _ocr_found[key] = time.monotonic()
    return None


class NotRead(Exception):
    """A scanned page whose marking could not be read: said in the letter's reading."""


_THAI_LETTER = re.compile(r"[ก-๛]")


_GLYPH_WITHOUT_UNICODE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ue000-\uf8ff]")
UNREADABLE_SHARE = 0.5  # of a page's characters, past which its text layer is no reading of it
UNREADABLE_LEAST = 20  # characters: a page of fewer is a few symbols, not a letter's text


def text_unreadable(text: str) -> bool:
    """Whether a page's text layer is mostly glyphs without Unicode (control characters,
    U+FFFD, private-use codes): what a viewer draws cannot be read from it."""
    shown = len(text) - sum(text.count(c) for c in " \t\n\r")
    if shown < UNREADABLE_LEAST:
        return False
    return len(_GLYPH_WITHOUT_UNICODE.findall(text)) >= UNREADABLE_SHARE * shown


UNREADABLE_LINE_LEAST = 3  # glyphs without Unicode on a line: ลับ is three


def unreadable_bands(page, textpage, text: str) -> tuple[bool, bool]:
    """Whether the head and the foot of a page whose text layer is otherwise read hold a
    line of glyphs without Unicode (at least UNREADABLE_LINE_LEAST, and UNREADABLE_SHARE
    of the line): a stamp line set in a font embedded without its /ToUnicode map, above
    a body typed in one with it. A viewer shows ลับที่สุด there; the text layer reads
    "\x01\x02\x03\x04\x05\x06", and until session 43 the letter was ordinary, certain.
    Such a band is read from its pixels. A line with a glyph or two unmapped (Chromium's
    <0000> for a mark, LibreOffice's า inside ำ) is read by undoing that damage instead
    (`rules.markings`), and reads no band."""
    if not _GLYPH_WITHOUT_UNICODE.search(text):
        return False, False  # a page of mapped glyphs: no more cost
    try:
        if page.get_rotation() % 360:  # bands across a turned page: the page as a whole
            unreadable = _has_unreadable_line(text)
            return unreadable, unreadable
        left, bottom, right, top = page.get_bbox()
        height = top - bottom
        return (_has_unreadable_line(textpage.get_text_bounded(left, top - height * HEAD_BAND, right, top)),
                _has_unreadable_line(textpage.get_text_bounded(left, bottom, right, bottom + height * FOOT_BAND)))
    except Exception:  # noqa: BLE001 - a page PDFium cannot measure: read both bands
        return True, True


def _has_unreadable_line(text: str) -> bool:
    for line in text.replace("\r", "\n").split("\n"):
        unknown = len(_GLYPH_WITHOUT_UNICODE.findall(line))
        if unknown >= UNREADABLE_LINE_LEAST and unknown >= UNREADABLE_SHARE * len(line.replace(" ", "")):
            return True
    return False


def scanned_bands(page, textpage, text: str, objects: "PageObjects | None" = None) -> tuple[bool, bool]:
    """Whether the head and the foot of `page` are read from pixels: pictures over
    at least SCAN_AREA of the page (one scan, or its strips or tiles) cover most of the band, and the text layer holds
    (almost) no Thai there (a scanner's page, a photo of one; a typed note laid over the
    middle of a scan leaves its head and foot pictures). A typed page's Garuda emblem is
    no such picture, and a typed page's photo does not cover its head. A text layer
    without Thai over a picture is a scanning app's (Adobe Scan's OCR of a Thai page
    reads Latin garbage; "Scanned with CamScanner"): the picture is read."""
    try:
        left, bottom, right, top = page.get_bbox()
        page_box = (left, bottom, right, top)
        # Together: a scanner writes a page as strips or tiles (each a few % of it), and
        # a re-writer wraps the scan in a Form XObject.
        objects = page_objects(page) if objects is None else objects
        pictures = [box for kind, box, *_ in objects.drawn if kind == _IMAGE and _overlap(box, page_box) > 0]
        if sum(_overlap(box, page_box) for box in pictures) < SCAN_AREA * max(1.0, _overlap(page_box, page_box)):
            return False, False
        if _text_all_invisible(objects.texts):
            # A "searchable" scan: its text is an OCR program's, drawn invisible over
            # the picture, and may have missed the stamp (a Thai OCR misreads a large
            # one): the picture is what a reader sees, and is read (session 33).
            return True, True
        if page.get_rotation() % 360:  # bands across a turned page: the page as a whole
            scanned = len(_THAI_LETTER.findall(text)) < TEXT_OF_ITS_OWN
            return scanned, scanned
        height = top - bottom
        out = []
        for band in ((left, top - height * HEAD_BAND, right, top), (left, bottom, right, bottom + height * FOOT_BAND)):
            covered = sum(_overlap(box, band) for box in pictures) >= BAND_COVERED * _overlap(band, band)
            out.append(covered and len(_THAI_LETTER.findall(textpage.get_text_bounded(*band))) < BAND_TEXT)
        return out[0], out[1]
    except Exception:  # noqa: BLE001 - a page PDFium cannot list: read as a scan
        return True, True


def _text_all_invisible(texts: list[object]) -> bool:
    """Whether the page has text and all of it is drawn invisible (render mode 3):
    `texts`, its text objects' handles (`PageObjects.texts`)."""
    import pypdfium2.raw as pdfium_c

    invisible = pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
    return bool(texts) and all(pdfium_c.FPDFTextObj_GetTextRenderMode(obj) == invisible for obj in texts)


_IMAGE, _SHADING, _PATH, _TEXT, _FORM = 3, 4, 2, 1, 5  # pypdfium2.raw's FPDF_PAGEOBJ_* (checked in tests)


class PageObjects:
    """What one walk over a page's objects found: `drawn`, each picture, shading and
    path as (kind, box in the page's space, weight, may be letters, turn, handle): a path's
    weight is its segments (times DASH_WEIGHT when dashed: PDFium draws each dash), it
    may be letters when filled or stroked wider than DRAWING_LEAST, and a picture's turn
    is its angle on the page in degrees; `texts`, the text objects' handles (to leave
    them out of a drawing); `unseen`, what the walk did not look at ("" when nothing)."""

    __slots__ = ("drawn", "texts", "unseen")

    def __init__(self) -> None:
        self.drawn: list[tuple[int, tuple[float, float, float, float], int, bool, float, object]] = []
        self.texts: list[object] = []
        self.unseen = ""


def page_objects(page, budget: list[int] | None = None) -> PageObjects:
    """The objects `page` draws, inside its Form XObjects too (FORM_DEPTH deep), each
    box carried to the page's space by the forms' matrices (PDFium gives an object in a
    form its place in the form's space); MAX_PAGE_OBJECTS looked at, at most (a form
    drawn twice by a form drawn twice... is exponential), and past them, or past a form
    nested deeper, `unseen` says so (a stamp after 20,000 invisible squares, or in a
    ninth form, was not seen until session 34's red team). Walked with PDFium's own
    calls, not pypdfium2's object wrappers: a hostile page of 20,000 paths costs ~50 ms,
    not ~150."""
    import ctypes
    import math

    import pypdfium2.raw as pdfium_c

    out = PageObjects()
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    width = ctypes.c_float()
    fs = pdfium_c.FS_MATRIX()
    get_type, get_bounds = pdfium_c.FPDFPageObj_GetType, pdfium_c.FPDFPageObj_GetBounds
    seen = 0

    def walk(parent, count: int, get, matrix, depth: int) -> bool:
        nonlocal seen
        for i in range(count):
            seen += 1
            if seen > MAX_PAGE_OBJECTS:
                out.unseen = f"more than {MAX_PAGE_OBJECTS:,} objects on the page"
                return False
            obj = get(parent, i)
            if not obj:
                continue
            kind = get_type(obj)
            if kind == _TEXT:
                out.texts.append(obj)
            elif kind in (_IMAGE, _SHADING, _PATH):
                if not get_bounds(obj, left, bottom, right, top):
                    continue
                box = (left.value, bottom.value, right.value, top.value)
                if matrix is not None:
                    box = _on_rect(matrix, box)
                weight, letters, turn = 0, True, 0.0
                if kind == _PATH:
                    if not pdfium_c.FPDFPath_GetDrawMode(obj, fill, stroke) or not (fill.value or stroke.value):
                        continue  # a clipping path alone draws nothing
                    weight = pdfium_c.FPDFPath_CountSegments(obj)
                    letters = bool(fill.value)
                    if stroke.value:
                        # A stroke as wide as a letter paints one: through the word's
                        # outlines as a clipping path, one 40 pt line shows it whole.
                        letters = letters or (pdfium_c.FPDFPageObj_GetStrokeWidth(obj, width)
                                              and width.value >= DRAWING_LEAST)
                        if weight > 1 and pdfium_c.FPDFPageObj_GetDashCount(obj) > 0:
                            weight *= DASH_WEIGHT
                elif kind == _IMAGE and pdfium_c.FPDFPageObj_GetMatrix(obj, fs):
                    m = (fs.a, fs.b, fs.c, fs.d, fs.e, fs.f)
                    a, b = (m if matrix is None else _then(m, matrix))[:2]
                    turn = math.degrees(math.atan2(b, a))
                out.drawn.append((kind, box, weight, letters, turn, obj))
            elif kind == _FORM and pdfium_c.FPDFPageObj_GetMatrix(obj, fs):
                inner_count = pdfium_c.FPDFFormObj_CountObjects(obj)
                if depth >= FORM_DEPTH:
                    if inner_count > 0:
                        out.unseen = f"forms nested more than {FORM_DEPTH} deep"
                    continue
                inner = (fs.a, fs.b, fs.c, fs.d, fs.e, fs.f)
                if not walk(obj, inner_count, pdfium_c.FPDFFormObj_GetObject,
                            inner if matrix is None else _then(inner, matrix), depth + 1):
                    return False
        return True

    walk(page.raw, pdfium_c.FPDFPage_CountObjects(page.raw), pdfium_c.FPDFPage_GetObject, None, 0)
    if budget is not None:
        budget[0] -= seen
    return out


def _then(first: tuple, second: tuple) -> tuple:
    """The matrix that applies `first`, then `second` (PDF's row-vector order)."""
    a1, b1, c1, d1, e1, f1 = first
    a2, b2, c2, d2, e2, f2 = second
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def _on_rect(m: tuple, box: tuple) -> tuple[float, float, float, float]:
    a, b, c, d, e, f = m
    xs, ys = [], []
    for x, y in ((box[0], box[1]), (box[0], box[3]), (box[2], box[1]), (box[2], box[3])):
        xs.append(a * x + c * y + e)
        ys.append(b * x + d * y + f)
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _tesseract(what: str) -> str:
    binary = shutil.which("tesseract")
    if binary is None:
        raise NotRead(f"{what} (no OCR on this machine)")
    return binary


def _drawn(page, what: str):
    """`page` drawn in grey at SCAN_DPI (less for a page so large it would pass MAX_PIXELS)."""
    try:
        width, height = page.get_size()
        scale = SCAN_DPI / 72
        if width * height * scale * scale > MAX_PIXELS:
            scale = (MAX_PIXELS / (width * height)) ** 0.5
        return page.render(scale=scale, grayscale=True).to_pil()
    except Exception as exc:  # noqa: BLE001 - a page PDFium cannot draw
        raise NotRead(f"{what} that could not be drawn ({why_unread(exc)})") from None


def marking_lines(page, bands: tuple[bool, bool] = (True, True)) -> list[str]:
    """The markings stamped in the head and foot of a scanned `page` ("ลับมาก"), as
    lines, of the bands asked (head, foot); NotRead when they could not be looked at."""
    binary = _tesseract("a scanned page")
    image = _drawn(page, "a scanned page")
    return _bands_read(binary, image, bands)


def _bands_read(binary: str, image, bands: tuple[bool, bool], until: float | None = None) -> list[str]:
    """The markings OCR reads in the head and foot of the page drawn as `image`, of the
    bands asked. When a page read whole (both bands) shows none, it is read upside
    down too, its two bands turned and stacked in one image (one more Tesseract run):
    a page fed into the scanner head first has its stamps there, upside down; and a
    page wider than tall, sideways (one more run)."""
    w, h = image.size
    head = image.crop((0, 0, w, max(1, int(h * HEAD_BAND))))
    foot = image.crop((0, min(h - 1, int(h * (1 - FOOT_BAND))), w, h))
    lines: list[str] = []
    for band, wanted in zip((head, foot), bands):
        if wanted:
            lines += markings_read_by_ocr(_ocr(binary, band, until))
    if not lines and all(bands):
        lines += markings_read_by_ocr(_ocr(binary, _stacked([foot.rotate(180), head.rotate(180)]), until))
    if not lines and all(bands) and w > h:
        # A portrait page scanned sideways (no /Rotate): its head and foot are the left
        # and right edges, turned one way or the other; all four read in one run.
        left = image.crop((0, 0, max(1, int(w * HEAD_BAND)), h))
        right = image.crop((min(w - 1, int(w * (1 - HEAD_BAND))), 0, w, h))
        sides = [left.rotate(-90, expand=True), right.rotate(-90, expand=True),
                 right.rotate(90, expand=True), left.rotate(90, expand=True)]
        lines += markings_read_by_ocr(_ocr(binary, _stacked(sides), until))
    return lines


def _stacked(bands: list) -> object:
    """`bands` one above the other, white between them: one Tesseract run reads them all."""
    from PIL import Image

    gap = 40
    out = Image.new(bands[0].mode, (max(b.size[0] for b in bands), sum(b.size[1] + gap for b in bands)), 255)
    y = 0
    for band in bands:
        out.paste(band, (0, y))
        y += band.size[1] + gap
    return out


# Stamp annotations drawn from a picture read in one PDF; past them the PDF is said not
# read (until session 33 the fifth was skipped in silence: four ordinary stamps, a
# signature, สำเนาถูกต้อง, a receipt, hid a ลับมาก one after them).
MAX_STAMP_PICTURES = 8
_STAMP_OBJECTS = 50  # objects of one annotation's appearance looked at


def stamp_pictures(page) -> list[tuple[float, float, float, float]]:
    """The rectangles (user space) of the page's stamp annotations drawn from a picture
    (Acrobat's Stamp tool with an image: a ลับ stamp made as a picture and put on a
    typed letter), those a viewer shows; their text is only pixels."""
    import pypdfium2.raw as pdfium_c

    out = []
    for i in range(min(pdfium_c.FPDFPage_GetAnnotCount(page), 200)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetFlags(annot) & pdfium_c.FPDF_ANNOT_FLAG_HIDDEN \
                    or not pdfium_c.FPDFAnnot_IsObjectSupportedSubtype(pdfium_c.FPDFAnnot_GetSubtype(annot)):
                continue
            count = min(pdfium_c.FPDFAnnot_GetObjectCount(annot), _STAMP_OBJECTS)
            budget = [_STAMP_OBJECTS]
            if not any(_draws_picture(pdfium_c.FPDFAnnot_GetObject(annot, k), budget) for k in range(count)):
                continue
            rect = pdfium_c.FS_RECTF()
            if pdfium_c.FPDFAnnot_GetRect(annot, rect):
                out.append((min(rect.left, rect.right), min(rect.top, rect.bottom),
                            max(rect.left, rect.right), max(rect.top, rect.bottom)))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return out


def _draws_picture(obj, budget: list[int], depth: int = 0) -> bool:  # noqa: ANN001 - a PDFium page object
    """Whether `obj` is a picture or a form that draws one: Acrobat's Stamp tool keeps a
    custom image stamp as a form inside the appearance (`/FRM Do`), which was not looked
    into until session 33 (a ลับมาก picture stamp so made read as no marking)."""
    import pypdfium2.raw as pdfium_c

    budget[0] -= 1
    if not obj or budget[0] < 0:
        return False
    kind = pdfium_c.FPDFPageObj_GetType(obj)
    if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
        return True
    if kind != pdfium_c.FPDF_PAGEOBJ_FORM or depth >= 4:
        return False
    count = min(pdfium_c.FPDFFormObj_CountObjects(obj), budget[0])
    return any(_draws_picture(pdfium_c.FPDFFormObj_GetObject(obj, k), budget, depth + 1) for k in range(count))


def _ocr(binary: str, band, until: float | None = None) -> str:
    """Tesseract's reading of `band`, within OCR_TIMEOUT (and before `until`, a
    time.monotonic(): the letter's time for its pictures)."""
    timeout = OCR_TIMEOUT if until is None else min(OCR_TIMEOUT, until - time.monotonic())
    if timeout <= 0:
        raise NotRead(f"a scanned picture not read within {PICTURES_TIME:.0f} s")
    png = io.BytesIO()
    band.save(png, "PNG")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1", "LC_ALL": "C.UTF-8"}
    # coreutils' timeout kills Tesseract at the deadline even when this process is killed
    # first (a DATA-check worker past its own deadline): no OCR outlives its letter.
    limit = shutil.which("timeout")
    guard = [limit, "-s", "KILL", f"{timeout:.1f}"] if limit else []
    try:
        done = subprocess.run([*guard, binary, "stdin", "stdout", "-l", "tha", "--psm", "6"], input=png.getvalue(),
                              capture_output=True, timeout=timeout + 5 if guard else timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise NotRead(f"a scanned page not read within {timeout:.0f} s") from None
    except OSError as exc:
        raise NotRead("a scanned page (OCR could not start)") from None
    if done.returncode in (124, 137, -9):  # timeout's own, or killed
        raise NotRead(f"a scanned page not read within {timeout:.0f} s")
    if done.returncode != 0:
        raise NotRead(f"a scanned page (OCR failed, exit {done.returncode})")
    return done.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------- pictures

# A scan sent as a picture (a JPEG per page, a fax's multi-page TIFF, a phone's photo of
# the letter): read as a scanned page is, when it has a page's shape.
MAX_PICTURES = 4  # page-shaped pictures read in one letter (frames of a TIFF counted)
PAGE_SIDE = 800  # pixels: the longer side of a picture that can hold a readable page
PAGE_RATIO = (1.2, 1.75)  # its longer side over its shorter: A4 1.41, Letter 1.29, a photo's 4:3
MAX_PICTURE_PIXELS = 120_000_000  # a picture declaring more is not drawn: said unread
MAX_FRAMES = 64  # frames of one picture (a fax's pages); past them it is said unread
PICTURES_TIME = 20.0  # seconds for a letter's pictures, all together (a noise page: ~7 s a band)
OCR_WIDTH = 1240  # pixels across a page drawn for OCR: A4 at 150 dpi
_PICTURE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM", b"GIF87a", b"GIF89a")


# HEIC/HEIF (an iPhone's camera, since iOS 11) and AVIF: pictures PIL cannot open (no
# plug-in here decodes HEVC or AV1), which Windows' Photos and macOS' Preview show. An
# ISO base media file whose brand says so; its size is in an `ispe` property (the largest
# found: an iPhone's photo is a grid of 512-pixel tiles, each with one of its own, and the
# grid's is the picture's).
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
_HEIF_LOOKED_AT = 1 << 20  # bytes: the `meta` box with its properties comes first
_ISPE = re.compile(rb"ispe\x00\x00\x00\x00(.{4})(.{4})", re.DOTALL)
HEIF_NOT_READ = "a scanned picture in a format not read (HEIC or AVIF, a phone's camera)"


def heif_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a HEIC, HEIF or AVIF picture; None for any other bytes, or one
    whose size is not found."""
    if data[4:8] != b"ftyp":
        return None
    brands_end = min(len(data), int.from_bytes(data[:4], "big"), 64)
    if not any(data[at:at + 4] in _HEIF_BRANDS for at in range(8, brands_end - 3, 4)):
        return None
    sizes = [(int.from_bytes(m[1], "big"), int.from_bytes(m[2], "big"))
             for m in itertools.islice(_ISPE.finditer(data, 0, _HEIF_LOOKED_AT), 1000)]
    return max(sizes, key=lambda size: size[0] * size[1], default=None)


def is_picture(data: bytes) -> bool:
    """A picture by its first bytes, and one PIL opens: "BM" starts a bitmap and a text
    about the BMA. Until session 50 a Thai text file (TIS-620, Notepad's "ANSI") whose
    first line began "BMA" went down the pictures' way, its text never read: a ลับมาก
    in it left the letter ordinary and certain."""
    if heif_size(data) is not None:
        return True
    if not (data.startswith(_PICTURE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")):
        return False
    from PIL import Image

    try:
        Image.open(io.BytesIO(data)).close()  # its header only: ~0.1 ms
    except Image.DecompressionBombError:
        return True  # a picture too large to draw: said not read where it is read
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - one PIL cannot open: no viewer shows it as a picture either
        return False
    return True


def picture_marking_lines(data: bytes, budget) -> list[str]:
    """The markings in the head and foot of a picture that has a page's shape (its first
    frames and its last; `budget.pictures` at most in the letter, counted down); [] for a
    picture of another shape. NotRead when it could not be looked at: too large, more
    than MAX_FRAMES frames, or the letter's PICTURES_TIME spent (`budget.pictures_until`)."""
    from PIL import Image

    if (heif := heif_size(data)) is not None:
        # Nothing here draws it, and a photo of the letter's page shows the clerk its stamp
        # (until session 56 it was no picture at all, the letter ordinary and certain).
        # A photo of another shape is not a page, as a JPEG's.
        if _page_shaped(*heif, 1.0):
            raise NotRead(HEIF_NOT_READ)
        return []
    binary = shutil.which("tesseract")
    if budget.pictures_until is None:
        budget.pictures_until = time.monotonic() + PICTURES_TIME
    picture = None
    try:
        picture = Image.open(io.BytesIO(data))
        if picture.format != "TIFF" and not _page_shaped(*picture.size, _pixel_aspect(picture)):
            return []  # an animated GIF's frames share its size: a signature's is no page, its frames not walked
        frames = _frames(picture, budget.pictures_until)
        lines: list[str] = []
        for frame in sorted({*range(min(frames, MAX_PICTURES - 1)), frames - 1}):
            if frame:
                picture.seek(frame)
            width, pixels_high = picture.size
            stretch = _pixel_aspect(picture)
            height = int(pixels_high * stretch)  # a fax's 204 x 98 dpi: its page is twice as tall as its pixels
            if not _page_shaped(width, pixels_high, stretch):
                continue  # a photo, an emblem, a signature: not a page
            if budget.pictures <= 0:
                return lines
            budget.pictures -= 1
            if binary is None:
                raise NotRead("a scanned picture (no OCR on this machine)")
            if width * pixels_high > MAX_PICTURE_PIXELS:
                raise NotRead(f"a scanned picture of more than {MAX_PICTURE_PIXELS // 1_000_000} million pixels")
            if frame == 0 and picture.format == "JPEG":
                picture.draft("L", (OCR_WIDTH, OCR_WIDTH))  # decoded small: cheap
            page = picture.convert("L")
            scale = min(1.0, OCR_WIDTH / min(width, height))
            if scale < 1 or stretch != 1:
                page = page.resize((max(1, int(width * scale)), max(1, int(height * scale))))
            lines += _bands_read(binary, page, (True, True), budget.pictures_until)
        return lines
    except NotRead:
        raise
    except Exception as exc:  # noqa: BLE001 - a picture PIL cannot open: no viewer shows it either
        # One it opened and could not decode is one a viewer shows in part: a JPEG or PNG
        # cut short is drawn down to where it ends, its head and a ลับมาก stamped there
        # (until session 50 read as no marking, the letter ordinary and certain).
        if picture is not None or isinstance(exc, (MemoryError, Image.DecompressionBombError)):
            raise NotRead(f"a scanned picture that could not be drawn ({why_unread(exc)})") from None
        return []


def _page_shaped(width: int, pixels_high: int, stretch: float) -> bool:
    height = int(pixels_high * stretch)
    return max(width, height) >= PAGE_SIDE and PAGE_RATIO[0] <= max(width, height) / max(1, min(width, height)) \
        <= PAGE_RATIO[1]


def _frames(picture, until: float) -> int:
    """How many frames `picture` has, walking at most MAX_FRAMES of them. Pillow's
    `n_frames` walks them all, decoding every frame of a GIF (~30 ms each at a page's
    size): a 400 KB GIF of thousands of frames held the letter for minutes."""
    count = 1
    while True:
        if time.monotonic() > until:
            raise NotRead(f"a scanned picture not read within {PICTURES_TIME:.0f} s")
        try:
            picture.seek(count)
        except EOFError:
            break
        count += 1
        if count > MAX_FRAMES:
            raise NotRead(f"a scanned picture of more than {MAX_FRAMES} frames")
    if count > 1:
        picture.seek(0)
    return count


def _pixel_aspect(picture) -> float:
    """How much taller than its pixels the picture is drawn: a fax's TIFF is 204 x 98 dpi
    (2.08), a scan's 1. Bounded, so a hostile resolution cannot stretch it far."""
    try:
        x, y = (float(v) for v in picture.info.get("dpi", (0, 0)))
    except (TypeError, ValueError):
        return 1.0
    if x <= 0 or y <= 0 or abs(x / y - 1) < 0.05:
        return 1.0
    return min(3.0, max(1.0, x / y))


# ------------------------------------------------- what a typed page draws in its head and foot
#
# A typed page's marking can be drawn without text: a ลับมาก stamp pasted as a picture or
# an Acrobat stamp flattened into the page (a picture in the page's content, not an
# annotation), the word converted to outlines (paths), painted as a tiling pattern's cell
# or a shading clipped to it, or the picture appearance of an annotation other than a
# stamp (a pushbutton, a Square), which flattening makes page content. Until session 34
# each was no marking, certain. What the head and foot bands draw besides text is drawn
# again with the page's text left out, and read by OCR (`band_drawings`: the union of a
# band's pictures, shadings and paths that may be letters, and in a busy band each of
# them alone). A letter's own template draws the same there in every letter (the
# Garuda emblem, a logo, a coloured bar), and with the text left out its pixels are the
# same: each crop read is remembered by its pixels' digest (READ_DRAWINGS in this
# process), so a template costs one OCR a process, not one a letter. At most
# MAX_DRAWINGS crops a PDF are read, within DRAWINGS_TIME; past them the PDF is said
# not read.
MAX_DRAWINGS = 160  # crops of one PDF read by OCR (those remembered not counted)
DRAWINGS_TIME = 20.0  # seconds to draw and read a PDF's crops, all together (as PICTURES_TIME a letter)
READ_DRAWINGS = 512  # crops remembered by digest in one process
DRAWING_LEAST = 3.0  # points: a path thinner than this is a rule or an underline, no letter
DRAWING_SEGMENTS = 3  # segments from which a stroked (not filled) path may be letters: not a line
BAND_REACH = 0.10  # of the page's height: how far a drawing across a band's inner edge is read
MAX_BAND_PICTURES = 4  # pictures of a band also read alone
TURN_READ = 4.0  # degrees: a picture turned more is read turned back too (Tesseract bears a few)
SLANTS = tuple(a for a in range(-30, 31, 2) if abs(a) > TURN_READ)  # degrees a crop's rows are tried at
ALONE_THAI = 3  # Thai letters OCR reads in a band's whole crop from which its drawings are read alone
MAX_BAND_WEIGHT = 200_000  # path segments of a band drawn (a dashed one's times DASH_WEIGHT); past them: not read
DASH_WEIGHT = 20  # what a dashed segment weighs against a plain one
SMALL_SEGMENTS = 16  # segments of a band's small paths together from which they may be letters
# digest of a crop -> (the markings read there, whether its drawings are worth reading alone)
_crops_read: dict[bytes, tuple[tuple[str, ...], bool]] = {}


class Drawings:
    """The crops of one PDF read by OCR: how many, and until when."""

    def __init__(self) -> None:
        self.read = 0
        self.until: float | None = None

    def add(self, page, crops: list[Crop], objects: PageObjects) -> list[str]:
        """The markings OCR reads in `crops` (`band_drawings`) of `page`, each
        remembered or read (`_read_crop`); a crop `alone` only when its band's whole
        crop read Thai letters, or is a photo, or read a marking (another drawing of the
        band may show a higher one). Not stacked into one run: a framed stamp among a
        form's boxes read as nothing. Drawing the crops counts in DRAWINGS_TIME too."""
        if self.until is None:
            self.until = time.monotonic() + DRAWINGS_TIME
        lines: list[str] = []
        alone_too = False  # what the band's whole crop said of the crops `alone` after it
        for crop in crops:
            if crop.alone and not alone_too:
                continue
            if time.monotonic() >= self.until:
                raise NotRead(f"drawings (stamps, pictures, outlines) not read within {DRAWINGS_TIME:.0f} s")
            bitmap = _drawn_without_text(page, crop, objects.texts)
            found, worth = self._read_crop(bitmap, crop) if bitmap is not None else ((), False)
            if not crop.alone:
                alone_too = bool(found) or worth
            lines += found
        return lines

    def _read_crop(self, bitmap, crop: Crop) -> tuple[tuple[str, ...], bool]:
        """(the markings read in the drawn `crop`, whether its drawings are worth
        reading alone: OCR read Thai letters there, or it is a photo),
        remembered by the pixels' digest. One Tesseract run; when it finds no marking,
        one more without the crop's long lines (a short word in a stamp's frame, "ลับ",
        is often read only once the frame is gone); then turned back for each picture the
        page turns more than TURN_READ degrees (a stamp put on askew: ลับที่สุด from 10
        degrees was read as nothing), and by the slant its rows show (a stamp cut from a
        scan, turned in its own pixels), each with its frame taken off too."""
        import hashlib

        turns = tuple(round(turn) for turn in crop.turns if abs(turn) > TURN_READ)
        key = hashlib.sha256(b"%d %d %d %r " % (bitmap.width, bitmap.height, bitmap.stride, turns)
                             + bytes(bitmap.buffer)).digest()
        known = _crops_read.get(key)
        if known is not None:
            return known
        from PIL import ImageOps

        if self.read >= MAX_DRAWINGS:
            raise NotRead(f"drawings (stamps, pictures, outlines) past the first {MAX_DRAWINGS} read")
        self.read += 1
        binary = _tesseract("a marking drawn as a picture or outlines")
        image = ImageOps.expand(bitmap.to_pil(), 32, fill=255)
        thai = [False]

        def read(picture) -> tuple[str, ...]:
            found = self._read(binary, picture, thai)
            if not found and (bare := _without_long_lines(picture)) is not None:
                found = self._read(binary, bare, thai)
            return found

        if _photo_like(image):
            # A photo's tones are not a stamp's ink on paper: read once (a newsletter's
            # tilted photos cost 44 Tesseract runs a page with every retry), and what is
            # drawn over it read alone.
            found = self._read(binary, image, thai)
            thai[0] = True
        else:
            # A picture shown turned `turn` degrees counterclockwise is read turned back
            # first (its words level, its frame's lines too: as it is, a turned ลับมาก
            # read as a ลับ), then as it is, then by its rows' slant.
            found = ()
            tried: set[float] = set()
            for turn in [-turn for turn in dict.fromkeys(turns)] + [0.0, None]:
                if found:
                    break
                turn = _slant(image) if turn is None else turn
                if turn in tried:
                    # The same pixels read again give the same words (one thread, the
                    # same model): a crop whose rows show no slant was read twice as it
                    # is, and a 20-page form's 40 crops took 160 runs, past DRAWINGS_TIME.
                    continue
                tried.add(turn)
                if turn == 0.0:
                    found = read(image)
                elif abs(turn) > TURN_READ:
                    found = read(image.rotate(turn, expand=True, fillcolor=255))
        if len(_crops_read) >= READ_DRAWINGS:
            _crops_read.pop(next(iter(_crops_read)))
        _crops_read[key] = (found, thai[0])
        return found, thai[0]

    def _read(self, binary: str, image, thai: list[bool]) -> tuple[str, ...]:
        if self.until is not None and time.monotonic() >= self.until:
            raise NotRead(f"drawings (stamps, pictures, outlines) not read within {DRAWINGS_TIME:.0f} s")
        text = _ocr(binary, image, self.until)
        thai[0] = thai[0] or len(_THAI_LETTER.findall(text)) >= ALONE_THAI
        return tuple(markings_read_by_ocr(text))


PHOTO_TONES = 0.35  # share of a crop's pixels in mid grey from which it is a photo, not ink on paper


def _photo_like(image) -> bool:
    """Whether `image` (grey) is mostly mid tones: a photo, where a stamp, a word or a
    drawing is dark ink on light paper with a few grey edges."""
    histogram = image.convert("L").histogram()
    return sum(histogram[48:208]) >= PHOTO_TONES * max(1, sum(histogram))


def _slant(image) -> float:
    """The angle (degrees, counterclockwise) that levels the rows of `image`'s ink, or 0:
    the turn, among those SLANTS tried, under which the ink's rows are sharpest (the
    sum of their squared ink; a picture's lines of text and its frame are level there),
    when sharper than as it is by a tenth. ~3 ms on a crop shrunk to 300 pixels across."""
    from PIL import Image

    grey = image.convert("L")
    if grey.width > 300:
        grey = grey.resize((300, max(1, round(grey.height * 300 / grey.width))))
    ink = grey.point(lambda v: 255 if v < 160 else 0)

    def sharpness(angle: float) -> int:
        turned = ink.rotate(angle, expand=True, fillcolor=0) if angle else ink
        return sum(v * v for v in turned.resize((1, turned.height), Image.Resampling.BOX).tobytes())

    level = sharpness(0)
    best, best_score = 0.0, level
    for angle in SLANTS:
        score = sharpness(angle)
        if score > best_score:
            best, best_score = angle, score
    return best if best_score > 1.1 * level else 0.0


LINE_RUN = 48  # pixels (~23 pt at SCAN_DPI): a dark run this long in a crop is a frame's or a rule's
_LINE = re.compile(b"\\x00{%d,}" % LINE_RUN)


def _without_long_lines(image):
    """`image` (grey) with its horizontal and vertical dark runs of LINE_RUN pixels or
    more made white (a stamp's frame, a box, a rule), or None when it has none. Each
    row of the image, and of the image turned, is searched as bytes (no numpy here)."""
    from PIL import Image, ImageDraw

    grey = image.convert("L")
    out = None
    for turned in (False, True):
        dark = (grey.transpose(Image.Transpose.TRANSPOSE) if turned else grey).point(lambda v: 0 if v < 160 else 255)
        w = dark.size[0]
        data = dark.tobytes()
        for y in range(dark.size[1]):
            for run in _LINE.finditer(data, y * w, (y + 1) * w):
                if out is None:
                    out = grey.copy()
                    draw = ImageDraw.Draw(out)
                x0, x1 = run.start() - y * w, run.end() - 1 - y * w
                # Three pixels wide: the grey of the line's anti-aliased edges goes too.
                draw.line((y, x0, y, x1) if turned else (x0, y, x1, y), fill=255, width=3)
    return out


class Crop(NamedTuple):
    """A part of a band to draw and read: `turns`, the angles its pictures show at;
    `hide`, the band's other drawings, left out of it; `alone`, read only when its band's
    whole crop read Thai but no marking."""

    box: tuple[float, float, float, float]
    turns: tuple[float, ...] = ()
    hide: tuple[object, ...] = ()
    alone: bool = False


def band_drawings(page, bands: tuple[bool, bool] = (True, True), objects: PageObjects | None = None) -> list[Crop]:
    """What each band asked (head, foot, as the page is shown) draws besides text that
    may be a marking, as crops to read. A band's crop: the union of its pictures,
    shadings, paths that may be letters, and its small paths when they add up to
    SMALL_SEGMENTS. When it holds more than one such drawing, its first
    MAX_BAND_PICTURES pictures, and its paths, are crops of their own too, each drawn
    without the band's other drawings, read when the whole reads Thai but no marking
    alone: a stamp on the row of a letterhead's picture read as one line with the
    office's name; a stamp pasted over the Garuda emblem, as neither. NotRead when a
    band's paths weigh more than MAX_BAND_WEIGHT (a dashed path of 50,000 segments took
    PDFium ~1 s a page to draw)."""
    left, bottom, right, top = page.get_bbox()
    rotation = page.get_rotation() % 360
    shown = _bands_shown(rotation, (left, bottom, right, top))
    reaches = _bands_shown(rotation, (left, bottom, right, top), HEAD_BAND + BAND_REACH, FOOT_BAND + BAND_REACH)
    drawn = (page_objects(page) if objects is None else objects).drawn
    out: list[Crop] = []
    least = DRAWING_LEAST
    for (bx0, by0, bx1, by1), (rx0, ry0, rx1, ry1), wanted in zip(shown, reaches, bands):
        if not wanted:
            continue
        inf = float("inf")
        ux0 = uy0 = sx0 = sy0 = px0 = py0 = inf  # the union of what may be letters, of small paths, of paths
        ux1 = uy1 = sx1 = sy1 = px1 = py1 = -inf
        small_segments = weight = 0
        pictures: list[tuple[tuple[float, float, float, float], float, object]] = []
        handles: list[object] = []  # every drawing of the band that is read
        paths: list[object] = []
        small: list[object] = []
        for kind, (x0, y0, x1, y1), segments, letters, turn, handle in drawn:
            if x1 <= bx0 or x0 >= bx1 or y1 <= by0 or y0 >= by1:
                continue  # not in the band
            # A drawing across the band's inner edge is read whole, up to the reach.
            cx0, cy0 = (x0 if x0 > rx0 else rx0), (y0 if y0 > ry0 else ry0)
            cx1, cy1 = (x1 if x1 < rx1 else rx1), (y1 if y1 < ry1 else ry1)
            weight += segments
            if kind != _PATH or (x1 - x0 >= least and y1 - y0 >= least and (letters or segments >= DRAWING_SEGMENTS)):
                ux0, uy0 = (cx0 if cx0 < ux0 else ux0), (cy0 if cy0 < uy0 else uy0)
                ux1, uy1 = (cx1 if cx1 > ux1 else ux1), (cy1 if cy1 > uy1 else uy1)
                handles.append(handle)
                if kind == _IMAGE and len(pictures) < MAX_BAND_PICTURES:
                    pictures.append(((cx0, cy0, cx1, cy1), (turn - rotation + 180) % 360 - 180, handle))
                elif kind == _PATH:
                    paths.append(handle)
                    px0, py0 = (cx0 if cx0 < px0 else px0), (cy0 if cy0 < py0 else py0)
                    px1, py1 = (cx1 if cx1 > px1 else px1), (cy1 if cy1 > py1 else py1)
            else:
                sx0, sy0 = (cx0 if cx0 < sx0 else sx0), (cy0 if cy0 < sy0 else sy0)
                sx1, sy1 = (cx1 if cx1 > sx1 else sx1), (cy1 if cy1 > sy1 else sy1)
                small_segments += segments
                small.append(handle)
        if weight > MAX_BAND_WEIGHT:
            raise NotRead(f"a head or foot drawing paths too heavy to draw ({weight:,} segments)")
        if small_segments >= SMALL_SEGMENTS:
            ux0, uy0, ux1, uy1 = min(ux0, sx0), min(uy0, sy0), max(ux1, sx1), max(uy1, sy1)
            px0, py0, px1, py1 = min(px0, sx0), min(py0, sy0), max(px1, sx1), max(py1, sy1)
            handles += small
            paths += small
        if not (ux1 - ux0 >= least and uy1 - uy0 >= least):
            continue
        # A picture's turn as shown: the page's /Rotate turns it clockwise.
        out.append(Crop((ux0, uy0, ux1, uy1), tuple(turn for _, turn, _ in pictures)))
        if len(handles) > 1:
            for box, turn, handle in pictures:
                if box[2] - box[0] >= least and box[3] - box[1] >= least:
                    out.append(Crop(box, (turn,), tuple(h for h in handles if h is not handle), alone=True))
            if paths and len(paths) < len(handles) and px1 - px0 >= least and py1 - py0 >= least:
                kept = set(map(id, paths))
                out.append(Crop((px0, py0, px1, py1), (), tuple(h for h in handles if id(h) not in kept), alone=True))
    return out


def _bands_shown(rotation: int, box, head_share: float = HEAD_BAND, foot_share: float = FOOT_BAND
                 ) -> tuple[tuple, tuple]:
    """The head and foot bands (user space) of a page shown turned by `rotation`: the
    shares of its height shown at the top and at the bottom."""
    left, bottom, right, top = box
    width, height = right - left, top - bottom
    if rotation == 90:  # turned clockwise: its left edge is shown at the top
        return (left, bottom, left + width * head_share, top), (right - width * foot_share, bottom, right, top)
    if rotation == 180:
        return (left, bottom, right, bottom + height * head_share), (left, top - height * foot_share, right, top)
    if rotation == 270:
        return (right - width * head_share, bottom, right, top), (left, bottom, left + width * foot_share, top)
    return (left, top - height * head_share, right, top), (left, bottom, right, bottom + height * foot_share)


def _drawn_without_text(page, crop: Crop, texts: list[object]):
    """`crop` of `page` drawn (`_drawn_box`) with the page's text objects (`texts`,
    `PageObjects.texts`) and the crop's `hide` left out: made inactive for the drawing,
    then active again. What the text layer holds is read from it, and a template's
    drawings are then the same pixels in every letter."""
    import pypdfium2.raw as pdfium_c

    active = pdfium_c.FPDFPageObj_SetIsActive
    for obj in texts:
        active(obj, False)
    for obj in crop.hide:
        active(obj, False)
    try:
        return _drawn_box(page, crop.box)
    finally:
        for obj in texts:
            active(obj, True)
        for obj in crop.hide:
            active(obj, True)


def _drawn_box(page, box):
    """The part `box` (user space) of `page` drawn in grey at SCAN_DPI (a PDFium bitmap:
    PIL, ~3 MiB of a process, is loaded only to read one), or None when it is too small
    to hold letters."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()  # as shown: /Rotate taken
    # A small page (A7, a card) is drawn as wide as an A4 one: a viewer fits it to its
    # window, and its 6 pt marking is read as a 14 pt one on A4.
    scale = max(SCAN_DPI / 72, OCR_WIDTH / max(width, 1.0))
    if width * height * scale * scale > MAX_PIXELS:
        scale = (MAX_PIXELS / (width * height)) ** 0.5
    corners = []
    x, y = ctypes.c_int(), ctypes.c_int()
    w, h = round(width * 100), round(height * 100)  # device space in hundredths of a point
    for px, py in ((box[0], box[1]), (box[2], box[3])):
        pdfium_c.FPDF_PageToDevice(page, 0, 0, w, h, 0, px, py, x, y)  # /Rotate as shown
        corners.append((x.value / 100, y.value / 100))
    (ax, ay), (bx, by) = corners
    x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
    if (x1 - x0) * scale < 12 or (y1 - y0) * scale < 12:
        return None
    crop = (max(0.0, x0 - 2), max(0.0, height - y1 - 2), max(0.0, width - x1 - 2), max(0.0, y0 - 2))
    try:
        return page.render(scale=scale, grayscale=True, crop=crop)
    except Exception as exc:  # noqa: BLE001 - a page PDFium cannot draw
        raise NotRead(f"a page's head or foot that could not be drawn ({why_unread(exc)})") from None
