"""Thai legacy charsets in mail headers.

Thai mail clients label text `windows-874` (Microsoft's superset of TIS-620). CPython
knows it only as `cp874`, so an RFC 2047 word in windows-874 would fail to decode and
the subject would turn into mojibake. We teach both the codec registry and the email
package the alias once, at import.
"""
from __future__ import annotations

import codecs
import email.charset

_ALIASES = {
    "windows-874": "cp874",
    "windows874": "cp874",
    "x-windows-874": "cp874",
    "ms874": "cp874",
    "x-tis620": "tis_620",
    "tis620": "tis_620",
    "iso-8859-11": "tis_620",
    "iso8859-11": "tis_620",
}


def _search(name: str):
    target = _ALIASES.get(name.lower().replace("_", "-")) or _ALIASES.get(name.lower())
    return codecs.lookup(target) if target else None


def register() -> None:
    codecs.register(_search)
    for alias, target in _ALIASES.items():
        email.charset.add_alias(alias, target)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode a text part, trying the declared charset, then UTF-8, then Thai legacy."""
    for candidate in (charset, "utf-8", "cp874"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


register()
