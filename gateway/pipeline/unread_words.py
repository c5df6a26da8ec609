"""Why a file (or a part of one) could not be read, in words a clerk can act on.

The phrases of `ParsedMail.unread` go into the register's finding (classified_unread:
"part of the letter could not be read (file 2: member could not be unpacked (damaged))")
that the clerk and the secret registrar read. An exception's class name (`error`,
`LZMAError`, `KeyError`) there is Python text shown to a person (session 35's red team):
the log keeps the exception, the finding these words."""
from __future__ import annotations


def why_unread(exc: BaseException) -> str:
    """A few plain English words for what `exc` says of the file that raised it."""
    if isinstance(exc, (MemoryError, RecursionError)):
        return "too large or nested too deeply to read"
    if isinstance(exc, TimeoutError):
        return "not read in time"
    if isinstance(exc, (NotImplementedError, RuntimeError)):
        return "packed in a way the gateway cannot unpack"
    if isinstance(exc, (KeyError, IndexError)):
        return "a part it names is missing"
    return "damaged"
