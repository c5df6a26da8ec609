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


# Header fields whose value is a list of addresses: only their display names can be
# written as encoded words (RFC 2047 §5), never the address itself.
_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
                             "resent-to", "resent-cc", "resent-bcc"})
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")


def for_relay(data: bytes, eight_bit_mime: bool, smtputf8: bool) -> tuple[bytes, list[str]]:
    """The copy as it goes to an SMTP relay that announced 8BITMIME or SMTPUTF8 or not,
    and the MAIL parameters that say what it is (RFC 6152, RFC 6531).

    A letter's text sent as 8bit (most Thai mail) and a sender's name written in UTF-8 in
    its From (an SMTPUTF8 sender's, kept in the copy) went without either parameter:
    a receiver may then read the bytes as another charset, and one that holds to RFC
    6152 refuses them. Where the relay offers the extension, the parameter is given;
    where it does not, the copy is made 7-bit as Postfix's own client does for such a
    peer: header values in UTF-8 become encoded words (RFC 2047; file names RFC 2231),
    and without 8BITMIME every part sent as its own 8-bit bytes goes as base64 (the same
    bytes once decoded: the register's hash holds). An address that is not ASCII itself
    cannot be written so and stays as it is (most relays take it)."""
    if data.isascii():
        return data, []
    options: list[str] = []
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    if not head.isascii():
        if smtputf8:
            options.append("SMTPUTF8")
        else:
            data = _header_block_in_words(head) + (b"" if end < 0 else data[end:])
    if not data.isascii():
        if eight_bit_mime:
            options.append("BODY=8BITMIME")
        else:
            data = _seven_bit_parts(data)  # the top-level fields in encoded words too
            options = []
    return data, options


def _in_words(name: str, raw: bytes) -> bytes | None:
    """One header field's value (unfolded, `raw` its bytes) as encoded words, or None
    when it cannot be (an address that is not ASCII)."""
    from email.policy import SMTP

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp874", "replace")  # the Thai 8-bit charset Thai mail used before UTF-8
    try:
        header = SMTP.header_factory(name, text)
        if name.lower() in _ADDRESS_FIELDS and not all(
                address.addr_spec.isascii() for address in getattr(header, "addresses", ())):
            return None
        folded = SMTP.fold_binary(name, header)
    except Exception:  # noqa: BLE001 - a value the header parser cannot take stays as it is
        return None
    return folded.split(b":", 1)[1].rstrip(b"\r\n") if folded.isascii() else None


def _header_block_in_words(head: bytes) -> bytes:
    fields: list[list[bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    out = []
    for lines in fields:
        field = b"\r\n".join(lines)
        named = _FIELD.match(field)
        if named is not None and not field.isascii():
            value = b"".join(line if i else line[named.end():] for i, line in enumerate(lines))  # unfolded
            encoded = _in_words(named.group(1).decode("ascii"), value.strip())
            if encoded is not None:
                field = named.group(1) + b":" + encoded
        out.append(field)
    return b"\r\n".join(out)


def _seven_bit_parts(data: bytes) -> bytes:
    """Every part sent as its own bytes that holds 8-bit ones as base64, and the header
    fields of every part and attached message in encoded words (a relay without 8BITMIME)."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        headers = list(part.raw_items())  # as parsed: 8-bit bytes as surrogates
        if not all(value.isascii() for _, value in headers):
            for name in {name.lower() for name, _ in headers}:
                del part[name]
            for name, value in headers:
                raw = value.encode("ascii", "surrogateescape")
                encoded = None if raw.isascii() else _in_words(name, re.sub(rb"\r?\n(?=[ \t])", b"", raw).strip())
                part[name] = value if encoded is None else encoded.decode("ascii").strip()
        if part.get_content_maintype() == "message":
            if str(part.get("content-transfer-encoding", "")).strip().lower() in ("8bit", "binary"):
                del part["content-transfer-encoding"]
                part["Content-Transfer-Encoding"] = "7bit"  # what it holds is re-encoded in this walk
            continue
        if part.is_multipart():
            continue
        if str(part.get("content-transfer-encoding", "")).strip().lower() not in _IDENTITY:
            continue
        content = part.get_payload(decode=True)
        if not isinstance(content, bytes) or content.isascii():
            continue
        del part["content-transfer-encoding"]
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64.encodebytes(content).decode("ascii"))
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0,
                   policy=email.policy.compat32.clone(linesep="\r\n")).flatten(message)
    return out.getvalue()

