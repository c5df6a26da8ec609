"""Any text a sender wrote can be stored, on SQLite and on PostgreSQL alike.

PostgreSQL refuses NUL in text ("A string literal cannot contain NUL characters") and
`\\u0000` in JSON; neither database driver can encode a lone surrogate (what Python
makes of invalid UTF-8 with surrogateescape). A NUL in a subject or file name used to
fail the message-row insert before any attempt was counted: an endless retry at 80 %
CPU. Every statement's parameters pass through `safe_parameters`, which puts U+FFFD
(the replacement character) in their place, so what is stored is what a reader would
see, and the statement succeeds."""
from __future__ import annotations

import re

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


def safe_parameters(parameters):  # noqa: ANN001, ANN201 - a DB-API parameter structure
    if isinstance(parameters, str):
        return safe_text(parameters)
    if isinstance(parameters, dict):
        return {key: safe_parameters(value) for key, value in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return type(parameters)(safe_parameters(value) for value in parameters)
    if type(parameters).__name__ in ("Json", "Jsonb") and hasattr(parameters, "obj"):
        parameters.obj = safe_parameters(parameters.obj)  # psycopg's JSON wrapper: its content
    return parameters
