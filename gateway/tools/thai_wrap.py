"""Line breaking for Thai text in a fixed-width column.

Thai is written without spaces between words, so a line may only break between words,
which takes a dictionary: PyThaiNLP's `newmm` word segmentation when it is installed.
Without it (or inside a word longer than the line) the break falls between character
clusters: never before a vowel or tone mark that sits on the previous consonant, never
after a leading vowel (เ แ โ ใ ไ) that belongs to the next one.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Callable

LEADING_VOWELS = set("เแโใไ")
FOLLOWING = set("ะาำๅๆ")  # sit after the consonant but belong to its syllable


def clusters(text: str) -> list[str]:
    out: list[str] = []
    for ch in text:
        joins = out and (unicodedata.category(ch) in ("Mn", "Me") or ch in FOLLOWING
                         or out[-1][-1] in LEADING_VOWELS)
        if joins:
            out[-1] += ch
        else:
            out.append(ch)
    return out


@lru_cache(maxsize=1)
def _segmenter() -> Callable[[str], list[str]] | None:
    try:
        import pythainlp.tokenize  # noqa: F401
    except ImportError:
        return None
    from rules.thai_text import thai_words_in

    return thai_words_in


CLOSING = set(".,;:)]}%")
OPENING = set("([{/.")


def words(text: str) -> list[str]:
    """Pieces a line may break between (spaces are pieces of their own)."""
    segment = _segmenter()
    if segment is None:
        pieces: list[str] = []
        for part in text.split(" "):
            if pieces:
                pieces.append(" ")
            pieces.extend(clusters(part) if any("\u0e00" <= c <= "\u0e7f" for c in part) else [part])
    else:
        pieces = segment(text)
    return _glue([w for w in pieces if w])


def _glue(pieces: list[str]) -> list[str]:
    """Keep abbreviations (พ.ย., ผอ.) and punctuation with their word: no line starts
    with '.', ';' or ')' and none ends with '('."""
    out: list[str] = []
    for piece in pieces:
        if out and not piece.isspace() and not out[-1].isspace() and (
                piece[0] in CLOSING or out[-1][-1] in OPENING):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def wrap(text: str, limit: float, measure: Callable[[str], float]) -> list[str]:
    """Lines of `text` each at most `limit` wide by `measure` (e.g. the PDF font's)."""
    lines: list[str] = []
    for paragraph in (text or "").splitlines() or [""]:
        line = ""
        for word in words(paragraph):
            if measure(line + word) <= limit:
                line += word
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = "" if word.isspace() else word
            while line and measure(line) > limit:  # a word wider than the column
                head = ""
                pieces = clusters(line)
                while pieces and (not head or measure(head + pieces[0]) <= limit):
                    head += pieces.pop(0)
                lines.append(head)
                line = "".join(pieces)
        lines.append(line.rstrip())
    return lines
