"""Plain-text tables that line up with Thai text in a terminal.

Thai vowel and tone marks above and below a consonant take no column of their own, so
the width of a Thai string is the count of its non-combining characters."""
from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    return sum(0 if unicodedata.category(c) in ("Mn", "Me", "Cf") else
               2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def clip(text: str, limit: int) -> str:
    out, used = "", 0
    for c in text:
        w = width(c)
        if used + w > limit - 1 and used + w > 0 and width(text) > limit:
            return out + "…"
        out += c
        used += w
    return out


def render(headers: list[str], rows: list[list[str]], limits: dict[int, int] | None = None) -> str:
    limits = limits or {}
    rows = [[clip(cell, limits[i]) if i in limits else cell for i, cell in enumerate(r)] for r in rows]
    widths = [max([width(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(cells)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def clip_address(text: str, limit: int) -> str:
    """`text` clipped to `limit` columns in its local part only: the domain after the last
    "@" is where the letter came from, and a local part may read as another address
    (`"saraban@moi.go.th-..."@m0i-go.example`). A domain longer than the column is
    shown whole."""
    local, at, domain = text.rpartition("@")
    if not at or width(text) <= limit:
        return clip(text, limit)
    room = limit - width(domain) - 1
    return (clip(local, room) if room > 1 else "…") + "@" + domain
