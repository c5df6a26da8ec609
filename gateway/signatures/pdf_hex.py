"""pyHanko's reading of a PDF hex string, in one pass where the string is plain.

pyHanko reads a hex string (`<4a6f...>`) a byte at a time, each byte through
`read_non_whitespace`. A signature's /Contents is one of 16 000-32 000 digits, and a
verification reads it three times: 9 of the 23 ms of CPU one signed letter's
verification took (session 23, `bench/bench_signatures.py`'s letter of 15 KB).

`read_hex_string` reads up to the closing `>` at once and answers by itself only when
everything before it is hex digits and PDF whitespace, where pyHanko's answer is beyond
doubt: those digits, a lone last one followed by 0, as bytes (a text string when they
decode as one, `generic.pdf_string`). Anything else in the string (a comment, which
pyHanko skips; a stray byte, which it refuses) or no `>` before the end goes to pyHanko's
own reader from the same place, so what a hostile file gets (a value, or the error) is
pyHanko's, byte for byte. `tests/signatures/test_pdf_hex.py` holds the two readers side
by side on plain, odd, commented, broken and truncated strings.
"""
from __future__ import annotations

import binascii
import re

_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_PLAIN = re.compile(rb"[0-9A-Fa-f \n\r\t\f\x00]*")
_CHUNK = 64 * 1024


def _plain_reader(original):
    from pyhanko.pdf_utils.generic import pdf_string

    def read_hex_string(stream):
        start = stream.tell()
        stream.read(1)  # the "<", as pyHanko's reader skips it unseen
        parts = []
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break  # no ">": pyHanko's reader says how it ends
            end = chunk.find(b">")
            if end >= 0:
                parts.append(chunk[:end])
                body = b"".join(parts)
                if _PLAIN.fullmatch(body) is not None:
                    stream.seek(start + 1 + len(body) + 1)
                    digits = body.translate(None, _WHITESPACE)
                    if len(digits) % 2:
                        digits += b"0"
                    return pdf_string(binascii.unhexlify(digits))
                break
            parts.append(chunk)
        stream.seek(start)
        return original(stream)

    read_hex_string.original = original
    return read_hex_string


def read_hex_strings_at_once() -> None:
    """Install the one-pass reader in pyHanko's object reader (once a process)."""
    from pyhanko.pdf_utils import generic

    if not hasattr(generic.read_hex_string_from_stream, "original"):
        generic.read_hex_string_from_stream = _plain_reader(generic.read_hex_string_from_stream)
