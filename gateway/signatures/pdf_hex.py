"""pyHanko's reading of a PDF hex string, in one pass where the string is plain.

pyHanko reads a hex string (`<4a6f...>`) a byte at a time, each byte through
`read_non_whitespace`. A signature's /Contents is one of 16 000-32 000 digits, and a
verification reads it three times: 9 of the 23 ms of CPU one signed letter's
verification took (session 23, `bench/bench_signatures.py`'s letter of 15 KB).

`read_hex_string` reads in blocks (256 bytes, doubling) up to the closing `>` and
answers by itself only when everything before it is hex digits and PDF whitespace, where
pyHanko's answer is beyond doubt: those digits, a lone last one followed by 0, as bytes
(a text string when they decode as one, `generic.pdf_string`). At the first other byte
(a comment, which pyHanko skips; a stray byte, which it refuses) or at the end of the
file without a `>`, it reads no further and hands the string to pyHanko's own reader
from the same place, so what a hostile file gets (a value, or the error) is pyHanko's,
byte for byte, for no more reading than pyHanko's own. `tests/signatures/test_pdf_hex.py`
holds the two readers side by side on plain, odd, commented, broken and truncated
strings, and a signed letter's verdict with each.
"""
from __future__ import annotations

import binascii
import re

_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_PLAIN = re.compile(rb"[0-9A-Fa-f \n\r\t\f\x00]*")
_FIRST_READ = 256  # most hex strings are short (a file ID); a /Contents is read in a few doublings
_LARGEST_READ = 64 * 1024


def _plain_reader(original):
    from pyhanko.pdf_utils.generic import pdf_string

    def read_hex_string(stream):
        start = stream.tell()
        stream.read(1)  # the "<", as pyHanko's reader skips it unseen
        parts = []
        size = _FIRST_READ
        while True:
            chunk = stream.read(size)
            if not chunk:
                break  # no ">": pyHanko's reader says how it ends
            plain = _PLAIN.match(chunk).end()
            if plain < len(chunk):
                if chunk[plain] == 0x3E:  # ">"
                    parts.append(chunk[:plain])
                    body = b"".join(parts)
                    stream.seek(start + 1 + len(body) + 1)
                    digits = body.translate(None, _WHITESPACE)
                    if len(digits) % 2:
                        digits += b"0"
                    return pdf_string(binascii.unhexlify(digits))
                # A byte pyHanko must judge: not read past it, so a file of many broken
                # strings costs no more than pyHanko's own reading of them.
                break
            parts.append(chunk)
            size = min(size * 2, _LARGEST_READ)
        stream.seek(start)
        return original(stream)

    read_hex_string.original = original
    return read_hex_string


def read_hex_strings_at_once() -> None:
    """Install the one-pass reader in pyHanko's object reader (once a process)."""
    from pyhanko.pdf_utils import generic

    if not hasattr(generic.read_hex_string_from_stream, "original"):
        generic.read_hex_string_from_stream = _plain_reader(generic.read_hex_string_from_stream)
