"""Linear passes over BER a sender wrote, before asn1crypto reads it.

asn1crypto reads an indefinite-length structure by parsing everything inside it to find
its end, at every level, and joins a constructed OCTET STRING's pieces by repeated
concatenation: an authEnveloped letter whose 6 MB of ciphertext came in 1-byte pieces
held the pipeline runner a minute (1 MB: 31 s), before any key was tried and without
being encrypted to anyone (session 41's red team). BER allows the pieces (streaming
encoders write them, 1,000 bytes or so each); a few hundred thousand of them is no
letter. These passes visit each element once and stop at the limit.
"""
from __future__ import annotations

from gateway.secrecy.errors import SecrecyError

# Elements (tag-length-value) a letter's CMS may hold: a 25 MB letter in 1,000-byte
# pieces is ~25,000.
MAX_ELEMENTS = 100_000
UNREADABLE = "the S/MIME structure cannot be read"


def _header(data: bytes | memoryview, at: int) -> tuple[int, bool, int, int | None]:
    """(first tag byte, constructed, where the contents start, their length or None for
    indefinite) of the element at `at`; ValueError where it is cut or malformed."""
    tag = data[at]
    at += 1
    if tag & 0x1F == 0x1F:  # high tag number: base-128 bytes, the last without bit 8
        while data[at] & 0x80:
            at += 1
        at += 1
    first = data[at]
    at += 1
    if first < 0x80:
        return tag, bool(tag & 0x20), at, first
    if first == 0x80:
        if not tag & 0x20:
            raise ValueError("indefinite length on a primitive element")
        return tag, True, at, None
    count = first & 0x7F
    if count > 8:
        raise ValueError("length of more than 8 bytes")
    length = int.from_bytes(bytes(data[at:at + count]), "big")
    return tag, bool(tag & 0x20), at + count, length


def within_limit(data: bytes, limit: int = MAX_ELEMENTS) -> bool:
    """Whether `data` holds at most `limit` elements, counted in one pass (a constructed
    element's contents are walked as the elements they are). Malformed data is within
    the limit: the reader that follows refuses it in its own words."""
    view = memoryview(data)
    at = count = 0
    try:
        while at < len(view):
            count += 1
            if count > limit:
                return False
            if view[at] == 0 and at + 1 < len(view) and view[at + 1] == 0:
                at += 2  # end of an indefinite-length element's contents
                continue
            _tag, constructed, start, length = _header(view, at)
            at = start if constructed else start + (length or 0)
    except (IndexError, ValueError):
        return True
    return True


def octets(contents: bytes, constructed: bool) -> bytes:
    """The bytes of an OCTET STRING from its contents: as they are, or a constructed
    one's pieces (at any depth, definite or indefinite) joined in one pass."""
    if not constructed:
        return contents
    view = memoryview(contents)
    out: list[bytes] = []
    at = 0
    try:
        while at < len(view):
            if view[at] == 0 and at + 1 < len(view) and view[at + 1] == 0:
                at += 2
                continue
            tag, nested, start, length = _header(view, at)
            if nested:
                at = start  # its pieces follow in the same pass
                continue
            if tag != 0x04 or length is None or start + length > len(view):
                raise SecrecyError(UNREADABLE)
            out.append(bytes(view[start:start + length]))
            at = start + length
    except (IndexError, ValueError):
        raise SecrecyError(UNREADABLE) from None
    return b"".join(out)
