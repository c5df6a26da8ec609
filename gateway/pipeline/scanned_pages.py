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

A page that cannot be read so (no `tesseract` on the machine, a timeout, a failure) is
said unread (`NotRead`): the letter is at least ลับ, uncertain. Fail closed."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time

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
MAX_PAGE_OBJECTS = 20_000  # objects of one page looked at for its pictures (a scan's strips: tens)


def ocr_missing() -> str | None:
    """What this machine lacks to read a scanned page (`tesseract`, its Thai model), or
    None. Said by `status`, `check` and at start-up: without it every scanned letter is
    sealed as ลับ, uncertain."""
    binary = shutil.which("tesseract")
    if binary is None:
        return "tesseract"
    try:
        langs = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=OCR_TIMEOUT,
                               check=False).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "a tesseract that runs"
    return None if "tha" in langs else "tesseract's Thai model (tesseract-ocr-tha)"


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


def scanned_bands(page, textpage, text: str) -> tuple[bool, bool]:
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
        pictures = [box for box in _picture_boxes(page) if _overlap(box, page_box) > 0]
        if sum(_overlap(box, page_box) for box in pictures) < SCAN_AREA * max(1.0, _overlap(page_box, page_box)):
            return False, False
        if _text_all_invisible(page):
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


def _text_all_invisible(page) -> bool:  # noqa: ANN001 - a PDFium page
    """Whether the page has text and all of it is drawn invisible (render mode 3), at
    most MAX_PAGE_OBJECTS objects looked at (past them: not said)."""
    import pypdfium2.raw as pdfium_c

    seen = 0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT], max_depth=2):
        seen += 1
        if seen > MAX_PAGE_OBJECTS or pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw) \
                != pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
            return False
    return seen > 0


def _picture_boxes(page, form=None, matrix=None, depth: int = 0, seen: list[int] | None = None
                   ) -> list[tuple[float, float, float, float]]:
    """Where each picture of `page` is drawn, in the page's space: PDFium gives a
    picture inside a Form XObject its place in the form's space, which the form's
    matrices (innermost first) carry to the page. At most MAX_PAGE_OBJECTS objects
    are looked at (a form drawn twice by a form drawn twice... is exponential)."""
    import pypdfium2.raw as pdfium_c

    seen = [0] if seen is None else seen
    boxes = []
    for obj in page.get_objects(max_depth=1, form=form):
        seen[0] += 1
        if seen[0] > MAX_PAGE_OBJECTS:
            break
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            box = obj.get_bounds()
            boxes.append(box if matrix is None else matrix.on_rect(*box))
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_FORM and depth < FORM_DEPTH:
            inner = obj.get_matrix()
            boxes += _picture_boxes(page, obj, inner if matrix is None else inner.multiply(matrix), depth + 1, seen)
    return boxes


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
        raise NotRead(f"{what} that could not be drawn ({type(exc).__name__})") from None


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
STAMP_INSET = 0.06  # of a stamp's width and height cut from each side to drop its frame
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


def stamp_marking_lines(page, rects: list[tuple[float, float, float, float]]) -> list[str]:
    """The markings OCR reads in each of `rects` (`stamp_pictures`) as the page is drawn."""
    import ctypes

    import pypdfium2.raw as pdfium_c
    from PIL import ImageOps

    binary = _tesseract("a stamp drawn as a picture")
    image = _drawn(page, "a stamp drawn as a picture")
    w, h = image.size
    lines: list[str] = []
    for x0, y0, x1, y1 in rects:
        corners = []
        for x, y in ((x0, y0), (x1, y1)):
            dx, dy = ctypes.c_int(), ctypes.c_int()
            pdfium_c.FPDF_PageToDevice(page, 0, 0, w, h, 0, x, y, dx, dy)  # /Rotate as drawn
            corners.append((dx.value, dy.value))
        (ax, ay), (bx, by) = corners
        box = (max(0, min(ax, bx) - 4), max(0, min(ay, by) - 4), min(w, max(ax, bx) + 4), min(h, max(ay, by) + 4))
        if box[2] - box[0] < 16 or box[3] - box[1] < 16:
            continue
        stamp = image.crop(box)
        found = markings_read_by_ocr(_ocr(binary, ImageOps.expand(stamp, 32, fill=255)))
        if not found:
            # A stamp framed by a box: Tesseract often reads nothing of a short word
            # inside a frame ("ลับ"), and reads it once the frame is cut away.
            sw, sh = stamp.size
            inner = stamp.crop((int(sw * STAMP_INSET) + 4, int(sh * STAMP_INSET) + 4,
                                sw - int(sw * STAMP_INSET) - 4, sh - int(sh * STAMP_INSET) - 4))
            found = markings_read_by_ocr(_ocr(binary, ImageOps.expand(inner, 32, fill=255)))
        lines += found
    return lines


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
        raise NotRead(f"a scanned page (OCR could not start: {type(exc).__name__})") from None
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


def is_picture(data: bytes) -> bool:
    return data.startswith(_PICTURE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def picture_marking_lines(data: bytes, budget) -> list[str]:
    """The markings in the head and foot of a picture that has a page's shape (its first
    frames and its last; `budget.pictures` at most in the letter, counted down); [] for a
    picture of another shape. NotRead when it could not be looked at: too large, more
    than MAX_FRAMES frames, or the letter's PICTURES_TIME spent (`budget.pictures_until`)."""
    from PIL import Image

    binary = shutil.which("tesseract")
    if budget.pictures_until is None:
        budget.pictures_until = time.monotonic() + PICTURES_TIME
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
    except Exception as exc:  # noqa: BLE001 - a picture PIL cannot decode: no viewer shows it either
        if isinstance(exc, (MemoryError, Image.DecompressionBombError)):
            raise NotRead(f"a scanned picture that could not be drawn ({type(exc).__name__})") from None
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
