"""Add a file to a message without touching a byte of what the sender sent.

The folder copy carries the received message as it arrived (its S/MIME signature and
every attachment must still verify), plus files the gateway made, such as the stamped
letter. Into a multipart/mixed message the new part goes just before the closing
boundary; any other message (a single part, multipart/signed, ...) is wrapped as the
first part of a new multipart/mixed, its own entity unchanged.
"""
from __future__ import annotations

import base64
import email.message
import email.policy
import io
import re
import urllib.parse
import uuid
from email.feedparser import headerRE

from rules.names import saved_name


def _newline(raw: bytes) -> bytes:
    """The newline of the message's header block: the one its blank line (the end of the
    headers) is made of. Not "a CRLF somewhere near the start": a bare-LF letter with a
    CRLF at its end (smtplib adds one) was taken for CRLF, no blank line was found, and
    the stamped letter went after the closing boundary, where no client shows it."""
    crlf = raw.find(b"\r\n\r\n")
    # A bare-LF blank line counts only before the CRLF one: not looked for through a
    # CRLF letter's files (~0.2 ms a 200 KB letter, for each header added).
    lf = raw.find(b"\n\n", 0, crlf if crlf >= 0 else len(raw))
    if crlf >= 0 and lf < 0:
        return b"\r\n"
    if lf >= 0:
        return b"\n"
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def file_part(filename: str, data: bytes, subtype: str = "pdf", newline: bytes = b"\r\n") -> bytes:
    """One attachment part (headers, blank line, base64 body); Thai names as RFC 2231.

    Written here rather than by the email package: its header folding takes ~4 ms for
    a Thai file name (one per folder copy, the stamped letter's), and its generator
    ~12 ms to write out a 200 KB file's base64, more than the rest of filing the
    letter. The body is base64 in 76-character lines, as the email package writes it.
    The name is the sender's (the stamped letter's) without what hides its extension
    (`rules.names.saved_name`): the clerk's client draws it, then saves it."""
    filename = saved_name(filename)
    head = "\r\n".join((
        "Content-Transfer-Encoding: base64",
        with_parameter("Content-Disposition: attachment;", "filename", filename),
        with_parameter(f"Content-Type: application/{subtype};", "name", filename),
    )).encode("ascii")
    body = base64.encodebytes(data).rstrip(b"\n")
    return head.replace(b"\r\n", newline) + newline + newline + body.replace(b"\n", newline)


_QUOTABLE = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but '"' and '\\': a quoted-string as it is
_SHOULD_LINE = 78  # RFC 5322: a line SHOULD be at most 78 characters


def with_parameter(head: str, name: str, value: str) -> str:
    """`head` with the parameter: ` name="value"` on the same line when it is printable
    ASCII and the line stays within 78 characters; otherwise the RFC 2231 form of its
    UTF-8 bytes on folded lines of at most 78 characters: ` name*=utf-8''...` or, longer,
    continuations ` name*0*=utf-8''...;` ` name*1*=...`, split between characters (some
    clients decode each piece on its own). A CR, LF or other control character of a
    sender's file name is percent-encoded, so it can never end the header."""
    quoted = f' {name}="{value}"'
    if _QUOTABLE.fullmatch(value) and len(head) + len(quoted) <= _SHOULD_LINE:
        return head + quoted
    encoded = "utf-8''" + urllib.parse.quote(value, safe="", errors="replace")
    if len(encoded) <= _SHOULD_LINE - len(f" {name}*="):
        return f"{head}\r\n {name}*={encoded}"
    pieces, piece = [], "utf-8''"
    for char in value:
        char = urllib.parse.quote(char, safe="", errors="replace")
        if len(piece) + len(char) > _SHOULD_LINE - len(f" {name}*{len(pieces)}*=;"):
            pieces.append(piece)
            piece = ""
        piece += char
    pieces.append(piece)
    return head + "\r\n" + ";\r\n".join(f" {name}*{index}*={piece}" for index, piece in enumerate(pieces))


_LINE = 76  # the email package's folding width (RFC 5322 says 78 SHOULD, 998 MUST)
_WORD_OVERHEAD = len("=?utf-8?b??=")


def encoded_header(name: str, value: str) -> bytes:
    """`Name: value` as one header field folded with CRLF (header_value)."""
    return f"{name}: {header_value(name, value)}".encode("ascii")


def header_value(name: str, value: str) -> str:
    """The value of header `name`, folded with CRLF, read back by mail clients as the
    email package's `Header` writes it, but without its cost.

    ASCII stays readable (and searchable: IMAP SEARCH HEADER X-Saraban-Queue-Id ...),
    folded before spaces (`_folded_at_spaces`). Anything else becomes RFC 2047 base64 words of whole UTF-8
    characters, one word per line: `Header` finds each word's length by trying one
    character more at a time (~1 ms for a Thai subject, several a folder copy), where
    the length of a base64 word is known in advance. A CR or LF in the value is inside
    an encoded word, so it can never end the field (the email package refuses one
    that looks like a header of its own, and a folder copy must not fail over it)."""
    if value.isascii() and value.isprintable():
        return value if len(name) + 2 + len(value) <= _LINE else _folded_at_spaces(name, value)
    # Bytes per word: the most whose base64 (4 characters per 3 bytes) fits the line;
    # at least 12, so a long header name only makes its first line longer.
    first = max(12, (_LINE - len(name) - 2 - _WORD_OVERHEAD) // 4 * 3)
    rest = (_LINE - 1 - _WORD_OVERHEAD) // 4 * 3
    data = value.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    words: list[bytes] = []
    start, room = 0, first
    while True:
        end = start + room
        if end >= len(data):
            words.append(data[start:])
            break
        while end > start and 0x80 <= data[end] < 0xC0:  # not inside a character
            end -= 1
        if end == start:  # one character longer than a word (cannot be: 4 bytes < 12)
            end = start + room
        words.append(data[start:end])
        start, room = end, rest
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


_BEFORE_SPACES = re.compile(r"(?<! )(?= )")  # before a run of spaces, not inside it


def _folded_at_spaces(name: str, value: str) -> str:
    """A long printable ASCII value folded before a space, each line at most 76 characters
    where a space allows it (a longer word stays whole on its line). Unfolding (removing
    each CRLF) gives the value back exactly, leading spaces included. Not the email
    package's `Header`: it tried its split characters one after another, ~40 us a field
    where this takes ~7, three to six fields a folder copy (Authentication-Results,
    X-Saraban-Finding, X-Saraban-Signature); and a long first word made it start the
    value with a fold, read back with a space before it. A continuation line is never
    only spaces (RFC 5322 3.2.2): a fold goes before a run of spaces with text after it."""
    budget = _LINE - len(name) - 2
    lines: list[str] = []
    line = ""
    for piece in _BEFORE_SPACES.split(value):  # each but the first starts with its spaces
        if line and len(line) + len(piece) > budget and piece.strip():
            lines.append(line)
            line, budget = piece, _LINE
        else:
            line += piece
    lines.append(line)
    return "\r\n".join(lines)


# Direction overrides and isolates: in a sender's file name quoted by a header of ours
# (X-Saraban-Stamp: stamped: <name>.stamped.pdf) they drew the name reversed.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def add_header(raw: bytes, name: str, value: str) -> bytes:
    """Prepend one header (RFC 2047-encoded when not ASCII), without direction controls."""
    return add_headers(raw, [(name, value)])


def add_headers(raw: bytes, headers: list[tuple[str, str]]) -> bytes:
    """Prepend the headers, in their order: `add_header` for each, the letter copied once."""
    newline = _newline(raw)
    lines = [encoded_header(name, _BIDI_CONTROLS.sub("", value)).replace(b"\r\n", newline) for name, value in headers]
    return b"".join(line + newline for line in lines) + raw


def add_attachment(raw: bytes, filename: str, data: bytes, subtype: str = "pdf") -> bytes:
    newline = _newline(raw)
    head, sep, body = raw.partition(newline + newline)
    if not sep:
        head, body = raw, b""
    headers = content_fields(head + newline + newline)
    part = file_part(filename, data, subtype, newline)
    boundary = headers.get_boundary() if headers.get_content_type() == "multipart/mixed" else None
    if boundary:
        at = _closing_delimiter(body, b"--" + boundary.encode("ascii", "replace") + b"--")
        if at is not None:
            return b"".join((head, newline, newline, body[:at], b"--", boundary.encode(), newline, part,
                             newline, body[at:]))
    return _wrap(head, body, newline, part)


_NAMING_FIELDS = ("content-type", "content-disposition")


def content_fields(block: bytes) -> email.message.Message:
    """The Content-Type and Content-Disposition fields of a header block, parsed as
    `BytesHeaderParser(policy=compat32).parsebytes(block)` parses them, without the
    block's other fields: parsing a letter's own header block (Received,
    DKIM-Signature, Authentication-Results, the gateway's X-Saraban-*) was most of the
    time spent here, and nothing else of it is read. The block is read as the
    feedparser reads it: decoded as ASCII with surrogates for other bytes, cut into
    lines at CR, LF or CRLF, ending at the first line that is no header (`headerRE`);
    a field is its line and the continuation lines after it. Each field kept is made a
    header as the feedparser makes it (the policy's `header_source_parse`, then
    `set_raw`), without a parser of its own: that was half of the time here
    (tests/test_part_names_fields.py compares the two readings)."""
    fields: list[list[str]] = []
    keep = False
    for line in io.StringIO(block.decode("ascii", "surrogateescape"), newline="").readlines():
        if not headerRE.match(line):
            break  # the feedparser's body starts here
        if line[0] in " \t":
            if keep:
                fields[-1].append(line)
            continue
        keep = line.split(":", 1)[0].lower() in _NAMING_FIELDS and ":" in line
        if keep:
            fields.append([line])
    message = email.message.Message(policy=email.policy.compat32)
    for lines in fields:
        message.set_raw(*email.policy.compat32.header_source_parse(lines))
    return message


def _closing_delimiter(body: bytes, delimiter: bytes) -> int | None:
    """Where the first line that is the closing delimiter (then only spaces or tabs)
    starts, or None. The first, as mail clients and Dovecot read it (RFC 2046 5.1.1:
    what follows it is the epilogue, which no one shows): a sender's epilogue that
    repeats the closing line had the stamped letter put after it, out of sight."""
    start = 0
    while (at := body.find(delimiter, start)) >= 0:
        end = at + len(delimiter)
        line_end = body.find(b"\n", end)
        rest = body[end:line_end if line_end >= 0 else len(body)]
        if (at == 0 or body[at - 1:at] == b"\n") and not rest.strip(b" \t\r"):
            return at
        start = end
    return None


def _wrap(head: bytes, body: bytes, newline: bytes, part: bytes) -> bytes:
    # Logical header lines (folds kept), split into the entity's own and the envelope's.
    lines: list[bytes] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += newline + line
        elif line:
            lines.append(line)
    entity = [h for h in lines if h.split(b":", 1)[0].strip().lower().startswith(b"content-")]
    outer = [h for h in lines if h not in entity and h.split(b":", 1)[0].strip().lower() != b"mime-version"]
    if not entity:
        entity = [b"Content-Type: text/plain; charset=us-ascii"]
    boundary = f"saraban-{uuid.uuid4().hex}".encode()
    top = newline.join([
        *outer,
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"--" + boundary,
        *entity,
        b"",
        b"",
    ])
    # The newline before a delimiter belongs to the delimiter: add one, never strip.
    tail = newline.join([b"--" + boundary, part, b"--" + boundary + b"--", b""])
    return top + body + newline + tail
