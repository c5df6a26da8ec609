"""The address of a From or Reply-To header as the register records it.

Apart from gateway/pipeline/parse.py so that the supervisor's DMARC check, which must read
the From exactly as the register does (gateway/sender/dmarc.py `author`), does not bring
the letter parser (mail-parser's reader, libmagic, the PDF readers) into the process
that serves SMTP."""
from __future__ import annotations

import email.utils
import re

from mailparser.utils import decode_header_part

from gateway.pipeline import charsets  # noqa: F401  (registers windows-874 before any decoding)
from rules.markings import raw_header_text


def address(value: str | None) -> str:
    """The address of a From/Reply-To header, read from the raw (unfolded) value.

    Parsing before RFC 2047 decoding means an encoded display name that decodes to
    "x\r\nBcc: other@example.org" cannot become the address. Some clients encode the
    whole "name <address>" as one encoded word; that is decoded as a fallback, unless
    the decoded text carries a line break."""
    if not value:
        return ""
    # 8-bit bytes (RFC 6532 SMTPUTF8, สมชาย@ราชการ.ไทย; or Windows-874) as the markings read them
    value = unfold(raw_header_text(value))
    _, addr = email.utils.parseaddr(value)
    if addr and "@" in addr and "=?" not in addr:
        return addr.strip().lower()
    decoded = decode_header_part(value)
    if "\r" in decoded or "\n" in decoded:
        return ""
    _, addr = email.utils.parseaddr(decoded)
    return addr.strip().lower() if addr and "@" in addr else ""


def unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break followed by white space is white space."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)
