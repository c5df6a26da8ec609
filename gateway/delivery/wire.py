"""A copy as it goes to a peer: CRLF-canonical (RFC 5321 §2.3.8, RFC 3501 §4.3), for the
IMAP folders (gateway/delivery/imap.py) and registrar copies over SMTP
(gateway/delivery/smtp.py). Kept apart from folder_copy.py, which builds the copy: the
supervisor reaches this module (numbering.py reads the IMAP folders at start) and
would otherwise import the MIME parser and its libraries (~4 MiB) for nothing."""
from __future__ import annotations

import base64
import email
import email.message
import email.policy
import io
import re
from email.generator import BytesGenerator

_BARE = re.compile(rb"\r?\n|\r")
# RFC 5322 §2.1.1: a line holds at most 998 octets before its CRLF, and RFC 5321
# §4.5.3.1.6 lets a server refuse a longer one: strict ones do ("500 Line too long"), for
# ever, and the copy was never filed (session 39's red team).
MAX_LINE = 998
_LONG = re.compile(rb"[^\r\n]{%d}" % (MAX_LINE + 1))


def on_the_wire(data: bytes) -> bytes:
    """CRLF line ends throughout (bare LF or bare CR each become CRLF), ending in CRLF.

    IMAP (RFC 3501 §4.3: a message literal has CRLF lines) and SMTP peers get this; a
    letter that came with bare LFs is stored as it came and only transmitted canonically.
    A file sent unencoded (`binary`, `8bit`) is its bytes, not lines: it goes as base64
    (`_files_as_base64`), so the copy's file is the one the register holds the hash of.
    So does any part holding a NUL byte, which an IMAP literal may not carry (RFC 3501
    §4.3): Dovecot stores each as 0x80, and a JPEG's bytes in the folder were not the
    register's (session 35's red team)."""
    if b"\x00" in data or _BARE.search(data.replace(b"\r\n", b"")) or _LONG.search(data):
        data = _files_as_base64(data)
    out = _BARE.sub(b"\r\n", data)
    if _LONG.search(out):  # a header line (a part's too): folded
        out = b"\r\n".join(_folded(line) for line in out.split(b"\r\n"))
    return out if out.endswith(b"\r\n") else out + b"\r\n"


def _folded(line: bytes) -> bytes:
    """A line past MAX_LINE cut into lines of at most MAX_LINE: at a space or tab where
    there is one (header folding, RFC 5322 §2.2.3: the value unchanged), else hard, the
    next line starting with a space (the value gains one space: as Postfix does with a
    header line past its limit). Only a header line can be here: a body line that long
    was re-encoded (`_files_as_base64`)."""
    if len(line) <= MAX_LINE:
        return line
    pieces = []
    while len(line) > MAX_LINE:
        cut = max(line.rfind(b" ", 1, MAX_LINE), line.rfind(b"\t", 1, MAX_LINE))
        if cut <= 0:
            pieces.append(line[:MAX_LINE - 1])
            line = b" " + line[MAX_LINE - 1:]
        else:
            pieces.append(line[:cut])
            line = line[cut:]  # the whitespace starts the continuation line
    pieces.append(line)
    return b"\r\n".join(pieces)


_IDENTITY = ("", "7bit", "8bit", "binary")  # RFC 2045: the body is the content's own bytes


def _files_as_base64(data: bytes) -> bytes:
    """`data` with every file part that is its own bytes (no base64 or quoted-printable)
    and has a bare CR or LF in them, and every such part with a line past MAX_LINE (text
    too: no peer need take it), re-encoded as base64: canonical line ends would add a
    CR to each of its LF bytes (a PDF, an image). Text keeps its encoding: CRLF is how
    text ends its lines (RFC 2046 §4.1.1), unless it holds a NUL byte, which no peer
    keeps (nor a file's). Unchanged (same bytes) when there is none."""
    # Here, not at the top: only a letter with bare line ends in a file gets this far.
    from gateway.pipeline.parse import transfer_encoding

    message = email.message_from_bytes(data, policy=email.policy.compat32)
    changed = False
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        if transfer_encoding(part) not in _IDENTITY:
            continue
        content = part.get_payload(decode=True)  # the bytes as they came, as the register read them
        if not isinstance(content, bytes):
            continue
        text = part.get_content_maintype() == "text"
        if b"\x00" not in content and not _LONG.search(content) \
                and (text or not _BARE.search(content.replace(b"\r\n", b""))):
            continue
        del part["content-transfer-encoding"]
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64.encodebytes(content).decode("ascii"))
        changed = True
    if not changed:
        return data
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0,
                   policy=email.policy.compat32.clone(linesep="\r\n")).flatten(message)
    return out.getvalue()
