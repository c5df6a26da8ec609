"""Add a file to a message without touching a byte of what the sender sent.

The folder copy carries the received message as it arrived (its S/MIME signature and
every attachment must still verify), plus files the gateway made, such as the stamped
letter. Into a multipart/mixed message the new part goes just before the closing
boundary; any other message (a single part, multipart/signed, ...) is wrapped as the
first part of a new multipart/mixed, its own entity unchanged.
"""
from __future__ import annotations

import email.policy
import re
import uuid
from email.mime.application import MIMEApplication
from email.parser import BytesHeaderParser


def _newline(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def file_part(filename: str, data: bytes, subtype: str = "pdf", newline: bytes = b"\r\n") -> bytes:
    """One attachment part (headers, blank line, base64 body); Thai names as RFC 2231."""
    part = MIMEApplication(data, subtype)
    del part["MIME-Version"]
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
    part.set_param("name", filename)
    text = part.as_bytes(policy=email.policy.SMTP)
    return text.replace(b"\r\n", newline).rstrip(newline)


def add_header(raw: bytes, name: str, value: str) -> bytes:
    """Prepend one header (RFC 2047-encoded when not ASCII)."""
    from email.header import Header

    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii").replace(b"\r\n", _newline(raw)) + _newline(raw) + raw


def add_attachment(raw: bytes, filename: str, data: bytes, subtype: str = "pdf") -> bytes:
    newline = _newline(raw)
    head, sep, body = raw.partition(newline + newline)
    if not sep:
        head, body = raw, b""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + newline + newline)
    part = file_part(filename, data, subtype, newline)
    boundary = headers.get_boundary() if headers.get_content_type() == "multipart/mixed" else None
    if boundary:
        closing = list(re.finditer(rb"(?m)^--" + re.escape(boundary.encode("ascii", "replace")) + rb"--", body))
        if closing:
            at = closing[-1].start()
            return head + newline + newline + body[:at] + b"--" + boundary.encode() + newline + part + newline + body[at:]
    return _wrap(head, body, newline, part)


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
