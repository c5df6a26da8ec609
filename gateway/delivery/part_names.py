"""The file names of the folder copy, written so that every mail client reads them as
the register does.

Thai senders' clients write names that only some readers decode: raw Windows-874 bytes
(old Thai mailers), raw UTF-8 (SMTPUTF8 clients; Dovecot's BODYSTRUCTURE and Outlook
do not take it), Windows-874 bytes under a `utf-8` RFC 2231 or RFC 2047 label, UTF-8
under `tis-620`, `x-thai`. The gateway reads them (`gateway.pipeline.parse.name_as_sent`,
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
import email.policy
import re
from email.parser import BytesHeaderParser

from gateway.pipeline.mime_attach import with_parameter
from gateway.pipeline.parse import name_as_sent
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
    written as RFC 2231 UTF-8. The same bytes when there is none (a letter of ASCII names)."""
    return _entity(raw, 0)


def _split(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(header block, blank line, body, newline) of one entity; the header block empty
    when the entity has none."""
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    newline = b"\r\n" if crlf >= 0 and (lf < 0 or crlf < lf) else b"\n"
    if data.startswith(newline):
        return b"", b"", data, newline
    head, sep, body = data.partition(newline + newline)
    return head, sep, body, newline


def _entity(data: bytes, depth: int) -> bytes:
    head, sep, body, newline = _split(data)
    if not head or depth > _MAX_DEPTH:
        return data
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + newline + newline)
    kind = headers.get_content_type()
    if kind in _KEPT_AS_SENT:
        return data
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        return head + sep + _parts(body, boundary, depth) if boundary and sep else data
    return _named_head(head, headers, newline) + sep + body


def _parts(body: bytes, boundary: str, depth: int) -> bytes:
    """The body of a multipart with each of its parts cleaned; delimiters, preamble and
    epilogue as they are. Delimiter lines as mail clients and `mime_attach` read them."""
    delim = re.escape(b"--" + boundary.encode("ascii", "replace"))
    marks = list(re.finditer(rb"(?:\r?\n|^)" + delim + rb"(--)?[ \t]*(?:\r?\n|$)", body))
    out, pos = [], 0
    for mark, following in zip(marks, [*marks[1:], None]):
        if mark.group(1):
            break
        end = following.start() if following else len(body)
        out += [body[pos:mark.end()], _entity(body[mark.end():end], depth + 1)]
        pos = end
    return b"".join(out) + body[pos:]


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
        written = _written_again(line, headers, *field)
        if written is not None:
            lines[i] = written.encode("ascii").replace(b"\r\n", newline)
            changed = True
    return newline.join(lines) if changed else head


def _written_again(line: bytes, headers: email.message.Message, title: str, param: str) -> str | None:
    """The header field `line` with its name parameter as RFC 2231 UTF-8, or None when
    a client reads it as the register does already and a file system can hold it (or
    it has none)."""
    header = title.lower()
    if len(headers.get_all(header) or ()) != 1:
        return None  # two Content-Type fields: which one a client takes is its own affair
    try:
        ours = name_as_sent(headers, param, header)
    except Exception:  # noqa: BLE001 - a parameter no parser reads names nothing; left as sent
        return None
    if not ours:
        return None
    fits = len(ours.encode("utf-8", "replace")) <= MAX_SAVED_BYTES  # else cut by saved_name
    if line.isascii() and fits and _as_a_client_reads(line, param) == ours:
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
    return with_parameter(f"{title}: {main}{''.join(kept)};", param, saved_name(ours))


def _as_a_client_reads(line: bytes, param: str) -> str | None:
    """The parameter as a standards-following reader decodes it (Python's email, as
    Thunderbird: RFC 2231 by its label, RFC 2047 words in a quoted string)."""
    try:
        message = email.message_from_bytes(line + b"\r\n\r\n", policy=email.policy.default)
        field = message[line.split(b":", 1)[0].decode("ascii")]
        value = field.params.get(param) if field is not None else None
        return str(value) if value is not None else None
    except Exception:  # noqa: BLE001 - unreadable to a client: written again
        return None
