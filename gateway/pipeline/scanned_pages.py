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


def scanned_bands(page, textpage, text: str) -> tuple[bool, bool]:
    """Whether the head and the foot of `page` are read from pixels: a picture over
    at least SCAN_AREA of the page covers most of the band, and the text layer holds
    (almost) no Thai there (a scanner's page, a photo of one; a typed note laid over the
    middle of a scan leaves its head and foot pictures). A typed page's Garuda emblem is
    no such picture, and a typed page's photo does not cover its head. A text layer
    without Thai over a picture is a scanning app's (Adobe Scan's OCR of a Thai page
    reads Latin garbage; "Scanned with CamScanner"): the picture is read."""
    import pypdfium2.raw as pdfium_c

    try:
        left, bottom, right, top = page.get_bbox()
        area = max(1.0, (right - left) * (top - bottom))
        pictures = []
        for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
            box = image.get_bounds()
            if _overlap(box, (left, bottom, right, top)) >= SCAN_AREA * area:
                pictures.append(box)
        if not pictures:
            return False, False
        if page.get_rotation() % 360:  # bands across a turned page: the page as a whole
            scanned = len(_THAI_LETTER.findall(text)) < TEXT_OF_ITS_OWN
            return scanned, scanned
        height = top - bottom
        out = []
        for band in ((left, top - height * HEAD_BAND, right, top), (left, bottom, right, bottom + height * FOOT_BAND)):
            covered = max(_overlap(box, band) for box in pictures) >= BAND_COVERED * _overlap(band, band)
            out.append(covered and len(_THAI_LETTER.findall(textpage.get_text_bounded(*band))) < BAND_TEXT)
        return out[0], out[1]
    except Exception:  # noqa: BLE001 - a page PDFium cannot list: read as a scan
        return True, True


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def marking_lines(page, bands: tuple[bool, bool] = (True, True)) -> list[str]:
    """The markings stamped in the head and foot of a scanned `page` ("ลับมาก"), as
    lines, of the bands asked (head, foot); NotRead when they could not be looked at."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise NotRead("a scanned page (no OCR on this machine)")
    try:
        width, height = page.get_size()
        scale = SCAN_DPI / 72
        if width * height * scale * scale > MAX_PIXELS:
            scale = (MAX_PIXELS / (width * height)) ** 0.5
        image = page.render(scale=scale, grayscale=True).to_pil()
    except Exception as exc:  # noqa: BLE001 - a page PDFium cannot draw
        raise NotRead(f"a scanned page that could not be drawn ({type(exc).__name__})") from None
    w, h = image.size
    crops = (image.crop((0, 0, w, max(1, int(h * HEAD_BAND)))),
             image.crop((0, min(h - 1, int(h * (1 - FOOT_BAND))), w, h)))
    lines: list[str] = []
    for band, wanted in zip(crops, bands):
        if wanted:
            lines += markings_read_by_ocr(_ocr(binary, band))
    return lines


MAX_STAMP_PICTURES = 4  # stamp annotations drawn from a picture read in one PDF
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
            if not any(pdfium_c.FPDFPageObj_GetType(pdfium_c.FPDFAnnot_GetObject(annot, k))
                       == pdfium_c.FPDF_PAGEOBJ_IMAGE for k in range(count)):
                continue
            rect = pdfium_c.FS_RECTF()
            if pdfium_c.FPDFAnnot_GetRect(annot, rect):
                out.append((min(rect.left, rect.right), min(rect.top, rect.bottom),
                            max(rect.left, rect.right), max(rect.top, rect.bottom)))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return out


def stamp_marking_lines(page, rects: list[tuple[float, float, float, float]]) -> list[str]:
    """The markings OCR reads in each of `rects` (`stamp_pictures`) as the page is drawn."""
    import ctypes

    import pypdfium2.raw as pdfium_c
    from PIL import ImageOps

    binary = shutil.which("tesseract")
    if binary is None:
        raise NotRead("a stamp drawn as a picture (no OCR on this machine)")
    try:
        width, height = page.get_size()
        scale = SCAN_DPI / 72
        if width * height * scale * scale > MAX_PIXELS:
            scale = (MAX_PIXELS / (width * height)) ** 0.5
        bitmap = page.render(scale=scale, grayscale=True)
        image = bitmap.to_pil()
    except Exception as exc:  # noqa: BLE001 - a page PDFium cannot draw
        raise NotRead(f"a stamp drawn as a picture that could not be drawn ({type(exc).__name__})") from None
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


def _ocr(binary: str, band) -> str:
    png = io.BytesIO()
    band.save(png, "PNG")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1", "LC_ALL": "C.UTF-8"}
    # coreutils' timeout kills Tesseract at the deadline even when this process is killed
    # first (a DATA-check worker past its own deadline): no OCR outlives its letter.
    limit = shutil.which("timeout")
    guard = [limit, "-s", "KILL", f"{OCR_TIMEOUT:.0f}"] if limit else []
    try:
        done = subprocess.run([*guard, binary, "stdin", "stdout", "-l", "tha", "--psm", "6"], input=png.getvalue(),
                              capture_output=True, timeout=OCR_TIMEOUT + 5, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise NotRead(f"a scanned page not read within {OCR_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise NotRead(f"a scanned page (OCR could not start: {type(exc).__name__})") from None
    if done.returncode in (124, 137, -9):  # timeout's own, or killed
        raise NotRead(f"a scanned page not read within {OCR_TIMEOUT:.0f} s")
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
OCR_WIDTH = 1240  # pixels across a page drawn for OCR: A4 at 150 dpi
_PICTURE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM", b"GIF87a", b"GIF89a")


def is_picture(data: bytes) -> bool:
    return data.startswith(_PICTURE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def picture_marking_lines(data: bytes, budget) -> list[str]:
    """The markings in the head and foot of a picture that has a page's shape (its first
    frames and its last; `budget.pictures` at most in the letter, counted down); [] for a
    picture of another shape. NotRead when it could not be looked at."""
    from PIL import Image

    binary = shutil.which("tesseract")
    try:
        picture = Image.open(io.BytesIO(data))
        frames = getattr(picture, "n_frames", 1)
        lines: list[str] = []
        for frame in sorted({*range(min(frames, MAX_PICTURES - 1)), frames - 1}):
            width, height = picture.size if frame == 0 else _seek(picture, frame)
            if max(width, height) < PAGE_SIDE or not PAGE_RATIO[0] <= max(width, height) / max(1, min(width, height)) \
                    <= PAGE_RATIO[1]:
                continue  # a photo, an emblem, a signature: not a page
            if budget.pictures <= 0:
                return lines
            budget.pictures -= 1
            if binary is None:
                raise NotRead("a scanned picture (no OCR on this machine)")
            if width * height > MAX_PICTURE_PIXELS:
                raise NotRead(f"a scanned picture of more than {MAX_PICTURE_PIXELS // 1_000_000} million pixels")
            if frame == 0 and picture.format == "JPEG":
                picture.draft("L", (OCR_WIDTH, OCR_WIDTH))  # decoded small: cheap
            page = picture.convert("L")
            if min(page.size) > OCR_WIDTH:
                scale = OCR_WIDTH / min(page.size)
                page = page.resize((max(1, int(page.size[0] * scale)), max(1, int(page.size[1] * scale))))
            w, h = page.size
            for band in (page.crop((0, 0, w, max(1, int(h * HEAD_BAND)))),
                         page.crop((0, min(h - 1, int(h * (1 - FOOT_BAND))), w, h))):
                lines += markings_read_by_ocr(_ocr(binary, band))
        return lines
    except NotRead:
        raise
    except Exception as exc:  # noqa: BLE001 - a picture PIL cannot decode: no viewer shows it either
        if isinstance(exc, (MemoryError, Image.DecompressionBombError)):
            raise NotRead(f"a scanned picture that could not be drawn ({type(exc).__name__})") from None
        return []


def _seek(picture, frame: int) -> tuple[int, int]:
    picture.seek(frame)
    return picture.size
