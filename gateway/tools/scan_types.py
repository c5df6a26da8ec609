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
