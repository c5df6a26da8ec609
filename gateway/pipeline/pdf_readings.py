"""The DATA check's reading of each PDF, kept for the pipeline: a PDF's text layer is
read once per letter, not once at DATA and again in the pipeline.

At the end of DATA a worker (gateway/secrecy/markings.py) parses the whole message as
the pipeline does, every PDF's text layer included, to refuse ลับที่สุด (top secret)
before the 250. When it finds the letter ordinary, it writes what it read of each PDF,
keyed by the file's sha256, to `spool/readings/<queue_id>.json` before it answers. The
pipeline takes a PDF's reading from there (`Readings`, in gateway/pipeline/check.py's
`PdfBudget`) and sends to its reading workers only the files it has no reading for:
letters that came by IMAP, a classified or uncertain letter (none is written for
those), a file the message does not hold byte for byte (S/MIME opened in the pipeline).

It is a cache, so it costs the 250 no fsync: a reading lost in a power cut, missing,
cut short or not what this module writes is no reading, and the pipeline reads the file
itself, as it did before. Both read with the same function (`inspect_pdf`) in a bounded
child process (the DATA check's worker: a deadline and an address-space cap), and a
reading is data checked field by field, never code.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import structlog

from gateway.pipeline.pdf_inspect import PdfInfo, info_fields, info_from_fields, inspect_pdf

log = structlog.get_logger(__name__)

FORMAT = 2  # 2: PdfInfo.viewer_page_texts; a reading of another format is no reading
# Past this the letter's PDFs are read again in the pipeline rather than written here:
# the file is read whole by the pipeline, and a letter of many long files is rare.
MAX_READING = 4 * 1024 * 1024


class ReadingRecorder:
    """A PDF reader for `parse_mail` that remembers what it read of each file."""

    def __init__(self, reader: Callable[[bytes], PdfInfo] = inspect_pdf):
        self.reader = reader
        self.infos: dict[str, PdfInfo] = {}

    def __call__(self, data: bytes) -> PdfInfo:
        info = self.reader(data)
        self.infos[hashlib.sha256(data).hexdigest()] = info
        return info

    def encode(self) -> bytes:
        body = {"format": FORMAT, "pdfs": {key: info_fields(info) for key, info in self.infos.items()}}
        # surrogatepass: pypdf's text may hold a lone surrogate; json.loads reads it back so
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")

    def write(self, path: Path) -> bool:
        """Write the readings to `path` (no fsync: a cache); False when there is nothing
        to keep or too much."""
        if not self.infos:
            return False
        # Measured before it is encoded: a letter of a thousand long files must not cost
        # the worker its memory cap (and the letter its certainty) for a cache.
        chars = sum(len(i.text or "") + len(i.error or "") + sum(map(len, i.page_texts)) + sum(map(len, i.viewer_page_texts)) for i in self.infos.values())
        if chars + 200 * len(self.infos) > MAX_READING:
            return False
        data = self.encode()
        if len(data) > MAX_READING:
            return False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return True


class Readings:
    """One letter's readings, by the sha256 of each file's bytes."""

    def __init__(self, by_sha256: dict[str, PdfInfo] | None = None):
        self.by_sha256 = by_sha256 or {}

    def of(self, data: bytes) -> PdfInfo | None:
        """The reading of exactly these bytes, if the DATA check read them."""
        if not self.by_sha256:
            return None
        return self.by_sha256.get(hashlib.sha256(data).hexdigest())

    @classmethod
    def decode(cls, data: bytes | None) -> "Readings":
        """What `ReadingRecorder.encode` wrote; no readings for anything else (never raises)."""
        if not data or len(data) > MAX_READING:
            return cls()
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != FORMAT or not isinstance(body.get("pdfs"), dict):
                raise ValueError("not a reading")
            readings = {}
            for key, fields in body["pdfs"].items():
                if not (isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
                    raise ValueError("not a sha256")
                readings[key] = info_from_fields(fields)
            return cls(readings)
        except (ValueError, RecursionError) as exc:  # json's errors are ValueErrors
            log.warning("pdf_reading_ignored", error=type(exc).__name__)
            return cls()
