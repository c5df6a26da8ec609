"""What a scan of a paper letter may be: PDF, JPEG, PNG or TIFF, by its bytes (libmagic,
as the pipeline reads an attachment), whatever its name says. One check for the web
desk's upload of a scan and for `register import-emergency`'s scan column: a file of
1000 random bytes named notpdf.pdf was registered as application/octet-stream."""
from __future__ import annotations

# libmagic's name -> the extension the desk gives a scan it saves
SCAN_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif"}
SCAN_TYPES_TEXT = "PDF, JPEG, PNG or TIFF"
SCAN_TYPES_TEXT_TH = "PDF, JPEG, PNG หรือ TIFF"


def scan_type(data: bytes) -> str | None:
    """The content type of a scan (a key of SCAN_TYPES), or None if the bytes are not one."""
    from gateway.pipeline.parse import sniff  # libmagic: loaded where a scan is read only

    content_type = sniff(data)
    return content_type if content_type in SCAN_TYPES else None


def sniffed(data: bytes) -> str:
    """libmagic's name for the bytes, to say what a refused file is."""
    from gateway.pipeline.parse import sniff

    return sniff(data)


def max_scan_bytes(settings) -> int:  # noqa: ANN001 - gateway.config.settings.Settings
    """The most a scan may be: the desk's upload limit, `[web] max_upload_mb` (20 MB),
    for `register import-emergency`'s scan column as for the desk's form. Until session
    37 the command read any file whole, a 2 GB one into memory."""
    return settings.web.max_upload_mb * 1024 * 1024


# The most pixels a scan's picture may have: an A3 page at 600 dpi is 70 million. Above
# it a picture is refused from its header, before anything of it is decoded.
MAX_SCAN_PIXELS = 100_000_000
# A TIFF of at most this many pixels is decoded whole to prove it opens (75 MB in RGB);
# a larger one is checked by where its strips or tiles lie, not decoded.
DECODED_WHOLE = 25_000_000
_OFFSETS = ((273, 279), (324, 325))  # TIFF StripOffsets/StripByteCounts, TileOffsets/TileByteCounts


def picture_problem(data: bytes, content_type: str) -> tuple[str, str] | None:
    """Why a JPEG, PNG or TIFF scan cannot be opened, (English, Thai); None if Pillow
    opens it. A scan cut off after its first bytes (a JPEG or TIFF header only) was
    registered at the desk as the letter's only copy (session 43). The cost is bounded:
    the size is read from the header first; a JPEG is decoded at 1/8 of its size (its
    every byte is still read, so a cut one is found), a PNG's chunks are checked, not
    inflated, a large TIFF's strips are looked for inside the file."""
    if content_type not in ("image/jpeg", "image/png", "image/tiff"):
        return None
    import io
    import warnings

    from PIL import Image

    damaged = ("the file is damaged or incomplete", "ไฟล์เสียหายหรือไม่สมบูรณ์")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's asides on a damaged file's EXIF
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_SCAN_PIXELS or width * height == 0:
                    return (f"{width} x {height} pixels: too large a picture for a scan",
                            f"ภาพขนาด {width} x {height} จุด ใหญ่เกินกว่าภาพสแกน")
                if content_type == "image/jpeg":
                    image.draft("L", (max(1, width // 8), max(1, height // 8)))
                    image.load()
                elif content_type == "image/png":
                    image.verify()
                elif width * height <= DECODED_WHOLE:
                    image.load()
                elif not _tiff_within(image, len(data)):
                    return damaged
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ("too large a picture for a scan", "ภาพใหญ่เกินกว่าภาพสแกน")
    except Exception:  # noqa: BLE001 - whatever Pillow cannot read, no viewer opens either
        return damaged
    return None


def _tiff_within(image, size: int) -> bool:  # noqa: ANN001 - a PIL TiffImageFile
    """Whether each strip (or tile) of a TIFF's first page lies inside the file."""
    tags = image.tag_v2
    for offsets_tag, counts_tag in _OFFSETS:
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is None:
            continue
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,) if counts is not None else (0,) * len(offsets)
        return bool(offsets) and all(o + c <= size for o, c in zip(offsets, counts))
    return False
