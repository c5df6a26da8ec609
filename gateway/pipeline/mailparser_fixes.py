"""mail-parser, without reading the same address field twice.

mail-parser (4.8) reads every address field of a letter when it starts (From, To, Cc,
Reply-To, ...) with its own forensic address reader, decoding the display names: ~0.5
ms of the DATA check's ~3.5 ms of parsing a bench letter (`parse_mail`, one From with a
Thai display name, one To). The register reads addresses its own way; mail-parser's
reading is kept for the defects it reports. A sender's From and a unit's To are the same
text in letter after letter, so the answer for a field's text is kept (the 512 used
last, texts up to 2,000 characters) and each caller gets its own copy of it: the list of
addresses and the defects, which mail-parser then marks with the field's name.

Installed when `gateway.pipeline.parse` is imported: `install()` puts the function where
mail-parser's core looks it up, if it looks up one of that name (tests/test_mailparser_fixes.py
compares the answers)."""
from __future__ import annotations

import copy
import functools

import mailparser.core

_original = getattr(mailparser.core, "get_addresses", None)
mailparsers_get_addresses = getattr(_original, "__wrapped_mailparser__", _original)
MAX_KEPT_CHARS = 2000


@functools.lru_cache(maxsize=512)
def _read(text: str) -> tuple[tuple, tuple]:
    defects: list = []
    addresses = mailparsers_get_addresses(text, defects=defects, decode_names=True)
    return tuple(addresses), tuple(defects)


def get_addresses(raw_header, *, defects: list | None = None, decode_names: bool = False):  # noqa: ANN001, ANN201
    """mail-parser's `get_addresses`, the same answer; a field's text read once."""
    if not decode_names or type(raw_header) is not str or len(raw_header) > MAX_KEPT_CHARS:
        return mailparsers_get_addresses(raw_header, defects=defects, decode_names=decode_names)
    addresses, found = _read(raw_header)
    if defects is not None:
        defects.extend(copy.deepcopy(list(found)))
    return list(addresses)


get_addresses.__wrapped_mailparser__ = mailparsers_get_addresses  # type: ignore[attr-defined]


def install() -> None:
    if mailparsers_get_addresses is not None and mailparser.core.get_addresses is mailparsers_get_addresses:
        mailparser.core.get_addresses = get_addresses


install()
