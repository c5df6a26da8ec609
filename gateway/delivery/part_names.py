"""The file names of the folder copy, written so that every mail client reads them as
the register does.

Thai senders' clients write names that only some readers decode: raw Windows-874 bytes
(old Thai mailers), raw UTF-8 (SMTPUTF8 clients; Dovecot's BODYSTRUCTURE and Outlook
do not take it), Windows-874 bytes under a `utf-8` RFC 2231 or RFC 2047 label, UTF-8
under `tis-620`, `x-thai`. The gateway reads them (`gateway.pipeline.attachment_names.name_as_sent`,
`rules.names`); a clerk's Thunderbird, Outlook or Roundcube showed "˹ѧ���..." or
"เธซเธ..." for the same file. Such a parameter is written again here as clean RFC 2231
UTF-8 (`filename*=utf-8''...`), the only form every client reads, as `saved_name` has it
(so is a name longer than the 255 bytes a file system holds).

Only part headers change, never a byte of a file. Nothing inside a multipart/signed is
touched (its signature covers the part headers too), nor a forwarded message
(message/rfc822: a message of its own, kept as it came); a name there stays as sent,
and the register, the desk and the verdicts still read it (docs/imap.md, "File names").
"""
from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re

from gateway.pipeline.mime_attach import content_fields as _naming_headers
from gateway.pipeline.mime_attach import with_parameter
from gateway.pipeline.attachment_names import name_as_sent
from rules.names import MAX_SAVED_BYTES, saved_name

# header -> the name parameter it carries
_NAME_PARAMS = {b"content-disposition": ("Content-Disposition", "filename"),
                b"content-type": ("Content-Type", "name")}
_KEPT_AS_SENT = ("multipart/signed", "message/rfc822")
_MAX_DEPTH = 20  # as deep as parse.py reads a letter's nesting
_QUOTED = re.compile(r'[\\"]')


def _quoted(value: str) -> str:
    return _QUOTED.sub(lambda m: "\\" + m[0], value)


def clean_names(raw: bytes) -> bytes:
    """`raw` with every file name a mail client would read otherwise than the register
    written as RFC 2231 UTF-8. The same bytes when there is none (a letter of ASCII names).

    Every letter is walked, part by part: a search of the whole letter for the marks of
    an encoded name (`name*`, `name="=?`) cost ~0.5 ms a 200 KB letter against ~0.12 for
    the walk, which leaves a file's bytes unread, and it let through a plain ASCII name
    longer than a file system holds, or a mark in a case it did not list."""
    edits: list[tuple[int, int, bytes]] = []
    _entity(raw, 0, len(raw), 0, edits)
    if not edits:
        return raw
    out, pos = [], 0
    for start, end, head in edits:  # in the order of the bytes: the walk goes front to back
        out += [raw[pos:start], head]
        pos = end
    return b"".join(out) + raw[pos:]


def _entity(raw: bytes, start: int, end: int, depth: int, edits: list) -> None:
    """Note in `edits` the new header block of each part of raw[start:end] whose names
    are written again. Offsets into the one buffer: a letter's megabytes are not copied
    part by part."""
    crlf = raw.find(b"\r\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, crlf if crlf >= 0 else end)  # not through a file's bytes
    newline = b"\r\n" if crlf >= 0 and lf < 0 else b"\n"
    head_end = crlf if crlf >= 0 and lf < 0 else lf
    if head_end < 0 or raw.startswith(newline, start) or depth > _MAX_DEPTH:
        return  # no header block, or no body after it: nothing to name
    head = raw[start:head_end]
    if _plain_leaf(head, newline):
        return
    headers = _naming_headers(head + newline + newline)
    if headers.get_content_type() in _KEPT_AS_SENT:
        return
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        if boundary:
            _parts(raw, head_end + 2 * len(newline), end, boundary, depth, edits)
        return
    written = _named_head(head, headers, newline)
    if written is not head:
        edits.append((start, head_end, written))


def _plain_leaf(head: bytes, newline: bytes) -> bool:
    """A header block that can neither open a multipart nor carry a name `_named_head`
    writes again (each of its fields `_plain`): a PDF part named "2569_dds_0403_57.pdf"
    beside a Thai-named one is left without parsing its fields."""
    return b"multipart" not in head.lower() and all(map(_plain, _FIELD_ENDS[newline].split(head)))


def _plain(field: bytes) -> bool:
    """A header field every client reads alike and a file system can hold the name of:
    ASCII, neither RFC 2047 nor RFC 2231, no longer than a name may be."""
    return field.isascii() and b"=?" not in field and b"*" not in field and len(field) <= MAX_SAVED_BYTES


# Where a header block's fields end, as `_named_head` joins them: a line end not followed
# by a continuation line.
_FIELD_ENDS = {b"\r\n": re.compile(rb"\r\n(?![ \t])"), b"\n": re.compile(rb"\n(?![ \t])")}
def _parts(raw: bytes, start: int, end: int, boundary: str, depth: int, edits: list) -> None:
    """Each part of the multipart body raw[start:end]; preamble and epilogue left."""
    opened = None  # where the part after the last delimiter starts
    for at, after, closing in _delimiters(raw, start, end, b"--" + boundary.encode("ascii", "replace")):
        if opened is not None:
            _entity(raw, opened, at, depth + 1, edits)
        if closing:
            return
        opened = after
    if opened is not None:  # no closing delimiter: the last part runs to the end
        _entity(raw, opened, end, depth + 1, edits)


def _delimiters(raw: bytes, start: int, end: int, delimiter: bytes):
    """(start, end, closing) of each delimiter line in raw[start:end] as mail clients and
    `mime_attach` read it (RFC 2046 5.1.1: at a line start, nothing after it but
    blanks), from the line end before it to the one after it. Found with bytes.find: a
    regular expression starting with an alternation tries every byte of the base64."""
    pos = start
    while (at := raw.find(delimiter, pos, end)) >= 0:
        pos = at + len(delimiter)
        if at > start and raw[at - 1:at] != b"\n":
            continue
        closing = raw[pos:pos + 2] == b"--"
        line_end = raw.find(b"\n", pos, end)
        if raw[pos + 2 * closing:line_end if line_end >= 0 else end].strip(b" \t\r"):
            continue
        before = (2 if raw[at - 2:at] == b"\r\n" else 1) if at > start else 0
        yield at - before, (line_end + 1 if line_end >= 0 else end), closing


def _named_head(head: bytes, headers: email.message.Message, newline: bytes) -> bytes:
    lines: list[bytes] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += newline + line
        else:
            lines.append(line)
    changed = False
    for i, line in enumerate(lines):
        field = _NAME_PARAMS.get(line.split(b":", 1)[0].strip().lower())
        if field is None:
            continue
        own = headers
        if len(headers.get_all(field[0].lower()) or ()) > 1:
            # Two Content-Disposition (or Content-Type) fields: each is read on its own
            # and written again on its own, since a client takes one or the other. Until
            # session 50 neither was, and a second copy of the field kept a name with
            # U+202E in the clerk's copy, however it was encoded.
            own = _naming_headers(line + newline + newline)
        written = _written_again(line, own, *field)
        if written is not None:
            lines[i] = written.encode("ascii").replace(b"\r\n", newline)
            changed = True
    return newline.join(lines) if changed else head


def _written_again(line: bytes, headers: email.message.Message, title: str, param: str) -> str | None:
    """The header field `line` with its name parameter as RFC 2231 UTF-8, or None when
    a client reads it as the register does already and a file system can hold it (or
    it has none)."""
    if _plain(line):
        return None
    header = title.lower()
    if len(headers.get_all(header) or ()) != 1:
        return None  # two Content-Type fields: which one a client takes is its own affair
    try:
        ours = name_as_sent(headers, param, header)
    except Exception:  # noqa: BLE001 - a parameter no parser reads names nothing; left as sent
        return None
    if not ours:
        return None
    # An encoded name (RFC 2047 or 2231, ASCII on the line) a client decodes as we do is
    # still written again when saving it changes it: too long for a file system, or
    # holding what `saved_name` drops. Until session 50 "...58_<U+202E>txt.pdf" so encoded
    # reached the clerk's copy and was drawn "...58_fdp.txt"; sent as raw UTF-8 it was cleaned.
    saved = saved_name(ours)
    if line.isascii() and saved == ours and _as_a_client_reads(headers, param, header) == ours:
        return None
    params = headers.get_params(header=header) or []
    if not params:
        return None
    main = params[0][0].strip()
    kept = [f';\r\n {key}="{_quoted(value)}"' for key, value in params[1:]
            if key != param and isinstance(value, str) and value.isascii() and value.isprintable()
            and key.isascii() and key.isprintable() and key]
    if not main.isascii() or not main.isprintable():
        return None
    return with_parameter(f"{title}: {main}{''.join(kept)};", param, saved)


def _as_a_client_reads(headers: email.message.Message, param: str, header: str) -> str | None:
    """The parameter as a standards-following reader decodes it (Thunderbird, Python's
    email): RFC 2231 by its label, RFC 2047 words in a quoted string by theirs. With the
    compat32 parser: the email package's own header objects cost a millisecond a field."""
    try:
        text = email.utils.collapse_rfc2231_value(headers.get_param(param, header=header))
        return str(email.header.make_header(email.header.decode_header(text))) if "=?" in text else text
    except Exception:  # noqa: BLE001 - unreadable to a client: written again
        return None
