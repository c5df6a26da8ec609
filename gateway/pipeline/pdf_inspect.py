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


TEXT_PAGES = 3  # the cover letter's header is on page 1; 3 is generous
MAX_TEXT = 200_000

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # pypdf warns per broken object


@dataclass(frozen=True)
class PdfInfo:
    text: str | None
    pages: int | None
    encrypted: bool
    error: str | None


def inspect_pdf(data: bytes, timeout: float | None = None) -> PdfInfo:
    """In this process; `timeout` is the pool's business (gateway/pipeline/pdf_pool.py)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

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
        chunks: list[str] = []
        for page in list(reader.pages)[:TEXT_PAGES]:
            try:
                chunks.append(page.extract_text() or "")
            except Exception:  # one broken page must not hide the others
                continue
        text = "\n".join(chunks).strip()[:MAX_TEXT]
        return PdfInfo(text=text or None, pages=pages, encrypted=encrypted, error=None)
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, AssertionError, OSError, NotImplementedError) as exc:
        return PdfInfo(text=None, pages=None, encrypted=False,
                       error=f"{type(exc).__name__}: {str(exc)[:200]}")
