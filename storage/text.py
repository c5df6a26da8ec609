"""Any text a sender wrote can be stored, on SQLite and on PostgreSQL alike.

PostgreSQL refuses NUL in text ("A string literal cannot contain NUL characters") and
`\\u0000` in JSON; neither database driver can encode a lone surrogate (what Python
makes of invalid UTF-8 with surrogateescape). A NUL in a subject or file name used to
fail the message-row insert before any attempt was counted: an endless retry at 80 %
CPU. Every statement's parameters pass through `safe_parameters`, which puts U+FFFD
(the replacement character) in their place, so what is stored is what a reader would
see, and the statement succeeds."""
from __future__ import annotations

import functools
import re

from rules.names import cut

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile(r"[\x00\ud800-\udfff]")
# `\u0000` (or a lone surrogate escape) inside serialised JSON, not preceded by an
# escaping backslash.
_JSON_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u(0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)
# What every match of _JSON_ESCAPE holds, found in one plain scan: serialised Thai is
# all `\uXXXX`, and the full pattern (its look-behind tried at each escape) took ~0.45 ms
# for a 2 KB value, two or three of them a letter.
_MAYBE_JSON_ESCAPE = re.compile(r"\\u(?:0000|d[89a-f])", re.IGNORECASE)


def safe_text(value: str) -> str:
    if _UNSAFE.search(value):
        value = _UNSAFE.sub(REPLACEMENT, value)
    if "\\u" in value and _MAYBE_JSON_ESCAPE.search(value) and _JSON_ESCAPE.search(value):
        value = _JSON_ESCAPE.sub(lambda m: m.group(1) + "\\ufffd", value)
    return value


# Parameter values that hold no text: passed as they are, without a call each.
_NO_TEXT = frozenset((int, float, bool, bytes, type(None)))


def safe_parameters(parameters):  # noqa: ANN001, ANN201 - a DB-API parameter structure
    """`parameters` with every string made storable (safe_text). A statement's values
    are mostly numbers, short ASCII and None: each is looked at by its type first, with
    no call for one that holds no text (~11 values a statement, ~8 statements a letter)."""
    kind = type(parameters)
    if kind is str:
        return safe_text(parameters)
    if kind is dict:
        return {key: value if type(value) in _NO_TEXT else safe_parameters(value)
                for key, value in parameters.items()}
    if kind in _NO_TEXT:
        return parameters
    if isinstance(parameters, str):
        return safe_text(parameters)
    if isinstance(parameters, dict):
        return {key: safe_parameters(value) for key, value in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return type(parameters)(safe_parameters(value) for value in parameters)
    if type(parameters).__name__ in ("Json", "Jsonb") and hasattr(parameters, "obj"):
        parameters.obj = safe_parameters(parameters.obj)  # psycopg's JSON wrapper: its content
    return parameters


# PostgreSQL refuses a value longer than its column's varchar(n) (SQLSTATE 22001) and an
# index entry over 2704 bytes (54000); SQLite enforces neither. A letter whose sender
# wrote a 600-character display name or a 1,100-character Message-ID therefore failed
# its registration on PostgreSQL at every attempt, until it was parked: acknowledged
# with 250, then neither registered nor quarantined, and its sender never told. What
# the sender wrote is cut to fit instead; only the tail of an absurdly long identifier
# is lost. A text column of an index keeps at most INDEXED_BYTES of UTF-8, so that the
# widest index (unit, sender, Message-ID) stays under PostgreSQL's limit.
INDEXED_BYTES = 1000


def fitted(table, values: dict) -> dict:  # noqa: ANN001 - a SQLAlchemy Table
    """`values` (column name -> value) with every string cut to what its column of
    `table` holds: its length in characters, and INDEXED_BYTES if it is indexed."""
    out = dict(values)
    for name, value in values.items():
        if not isinstance(value, str) or name not in table.c:
            continue
        out[name] = fit(table.c[name], value)
    return out


def fit(column, value: str | None) -> str | None:  # noqa: ANN001 - a SQLAlchemy Column
    """`value` cut to what `column` holds (see `fitted`)."""
    if value is None:
        return None
    length, indexed = _room(column)
    # Between whole letters (rules/names.py): cut after the น้ of น้ำ, a name or a
    # display name read as another word.
    if length and len(value) > length:
        value = cut(value, length)
    if indexed and len(value) > INDEXED_BYTES // 4:
        raw = value.encode("utf-8", "surrogatepass")
        if len(raw) > INDEXED_BYTES:
            value = cut(value, len(raw[:INDEXED_BYTES].decode("utf-8", "ignore")))
    return value


@functools.cache
def _room(column) -> tuple[int | None, bool]:  # noqa: ANN001
    """(its varchar length, whether an index holds it): asked for every text of every
    letter registered, known once per column."""
    indexed = bool(column.index or column.unique or column.primary_key
                   or any(column.name in index.columns for index in column.table.indexes))
    return getattr(column.type, "length", None), indexed
