"""Raw message bytes -> rules.model.ParsedMail.

mail-parser gives us the decoded headers, bodies and defects. Files we collect from the
MIME tree ourselves: mail-parser only treats a part as an attachment when it has a
name or a Content-ID, and a PDF that Apple Mail or Gmail sent `inline` without a name
would otherwise be read as body text. Here every leaf that is not the text body is a
file, whatever its Content-Type or disposition said; what it really is, libmagic says.
"""
from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import hashlib
import re
from typing import Callable

import magic
import mailparser
from mailparser.utils import decode_header_part

from gateway.pipeline import charsets  # noqa: F401  (registers windows-874 before any decoding)
from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from rules.markings import decode_header_text
from rules.model import Attachment, ParsedMail

MAX_PARTS = 500  # a message with more leaves than this is hostile, not a letter
# Multipart containers a letter may have (real ones have 1-3). ~1,000 nested ones make
# the stdlib parser recurse past Python's limit after seconds of work: refused up front.
MAX_MULTIPARTS = 200
_MULTIPART = re.compile(rb"(?im)^content-type:\s*multipart/")


class MimeTooDeep(ValueError):
    """More multipart containers than any letter has: not parsed, sealed unread."""
SNIFF_BYTES = 1 << 20

_magic = magic.Magic(mime=True)


def sniff(data: bytes) -> str:
    if not data:
        return "application/x-empty"
    try:
        return _magic.from_buffer(data[:SNIFF_BYTES])
    except magic.MagicException:
        return "application/octet-stream"


def _address(value: str | None) -> str:
    """The address of a From/Reply-To header, read from the raw (unfolded) value.

    Parsing before RFC 2047 decoding means an encoded display name that decodes to
    "x\r\nBcc: other@example.org" cannot become the address. Some clients encode the
    whole "name <address>" as one encoded word; that is decoded as a fallback, unless
    the decoded text carries a line break."""
    if not value:
        return ""
    value = _unfold(value)
    _, addr = email.utils.parseaddr(value)
    if addr and "@" in addr and "=?" not in addr:
        return addr.strip().lower()
    decoded = decode_header_part(value)
    if "\r" in decoded or "\n" in decoded:
        return ""
    _, addr = email.utils.parseaddr(decoded)
    return addr.strip().lower() if addr and "@" in addr else ""


def _unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break followed by white space is white space."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def _display_name(value: str | None) -> str | None:
    if not value:
        return None
    name, _ = email.utils.parseaddr(value)
    return name or None


def _is_body_text(part: email.message.Message, filename: str | None) -> bool:
    """Unnamed text/plain and text/html leaves are the body (mail-parser decoded them);
    a named or attached text leaf is a file like any other."""
    if filename or part.get_content_disposition() == "attachment":
        return False
    return part.get_content_type() in ("text/plain", "text/html")


def _leaves(message: email.message.Message, truncated: list | None = None):
    count = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        count += 1
        if count > MAX_PARTS:
            if truncated is not None:
                truncated.append(count)  # what was not read may carry a marking
            return
        yield part


def _filename(part: email.message.Message) -> str | None:
    try:
        raw = part.get_filename()
    except Exception:
        return None
    if not raw:
        return None
    # get_filename() decodes RFC 2231 itself; Outlook puts RFC 2047 words in name=.
    return decode_header_part(raw) or None


def collect_attachments(message: email.message.Message,
                        pdf_reader: Callable[[bytes], PdfInfo] = inspect_pdf,
                        truncated: list | None = None, digests: bool = True) -> list[Attachment]:
    files: list[Attachment] = []
    for part in _leaves(message, truncated):
        filename = _filename(part)
        if _is_body_text(part, filename):
            continue
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if data is None:
            payload = part.get_payload()
            data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
        sniffed = sniff(data)
        info = PdfInfo(None, None, False, None)
        if sniffed == "application/pdf" or (filename or "").lower().endswith(".pdf"):
            # Viewers find the header anywhere in the first 1024 bytes, libmagic only at
            # the start: a PDF behind a few stray bytes is shown, and so it is read.
            is_pdf = sniffed == "application/pdf" or b"%PDF-" in data[:1024]
            info = pdf_reader(data) if is_pdf else PdfInfo(None, None, False, "not a PDF")
        files.append(
            Attachment(
                index=len(files),
                filename=filename,
                declared_type=part.get_content_type(),
                disposition=part.get_content_disposition(),
                data=data,
                sniffed_type=sniffed,
                sha256=hashlib.sha256(data).hexdigest() if digests else "",
                pdf_text=info.text,
                pdf_encrypted=info.encrypted,
                pdf_pages=info.pages,
                pdf_error=info.error,
                pdf_page_texts=info.page_texts,
                pdf_viewer_page_texts=info.viewer_page_texts,
                pdf_other_texts=info.other_texts,
            )
        )
    return files


def _defects(parsed) -> tuple[str, ...]:
    out: list[str] = []
    for item in parsed.defects or []:
        for key, values in item.items():
            for value in values if isinstance(values, list) else [values]:
                out.append(f"{key}: {value}"[:300])
    return tuple(out[:50])


class _StdlibParsed:
    """The few things we read from mail-parser, taken from the stdlib parser instead,
    for the malformed messages mail-parser itself trips over (e.g. a broken epilogue):
    such a message still gets read and judged rather than lost to an exception."""

    def __init__(self, raw: bytes, error: Exception):
        self.message = email.message_from_bytes(raw)
        self.subject = decode_header_part(str(self.message.get("subject", "")))
        self.date = None
        try:
            self.date = email.utils.parsedate_to_datetime(str(self.message.get("date")))
        except (TypeError, ValueError, IndexError):
            pass
        self.text_plain, self.text_html = [], []
        for part in _leaves(self.message):
            if _filename(part) or part.get_content_disposition() == "attachment":
                continue
            try:
                payload = part.get_payload(decode=True) or b""
            except Exception:
                continue
            text = charsets.decode_bytes(payload, part.get_content_charset())
            if part.get_content_type() == "text/plain":
                self.text_plain.append(text)
            elif part.get_content_type() == "text/html":
                self.text_html.append(text)
        self.defects = [{"parser": [f"mail-parser failed ({type(error).__name__}); read with the stdlib parser"]}]


def multipart_containers(raw: bytes) -> int:
    """How many `Content-Type: multipart/` lines `raw` has, counted exactly when there
    could be more than MAX_MULTIPARTS; otherwise an upper bound no larger than it.

    Every such line holds `multipart/` (ASCII case folded, as the bytes regex folds),
    so when the whole message holds no more than MAX_MULTIPARTS of those, the line
    count cannot exceed the limit either: the case-insensitive regex, ~10 µs per KB,
    runs only on a message that may be refused."""
    mentions = raw.lower().count(b"multipart/")
    return mentions if mentions <= MAX_MULTIPARTS else len(_MULTIPART.findall(raw))


class _MailParser(mailparser.MailParser):
    """mail-parser, less the two dictionaries of every header and part (`mail`,
    `mail_partial`) it builds at the end of parse(): nothing here reads them, and they
    cost a tenth of the parse of a small letter. Everything parse_mail reads (subject,
    date, text_plain, text_html, defects, message) is mail-parser's own, unchanged
    (tests/secrecy/test_datacheck_reading.py compares them with mail-parser's)."""

    def _make_mail(self, complete=True):  # noqa: ARG002 - mail-parser's signature
        return {}


def parse_mail(raw: bytes, envelope_sender: str = "",
               pdf_reader: Callable[[bytes], PdfInfo] = inspect_pdf,
               digests: bool = True) -> ParsedMail:
    """`digests=False` (the DATA check, gateway/secrecy/markings.py): every file's
    sha256 left empty, the one thing of the register's a marking never depends on."""
    containers = multipart_containers(raw)
    if containers > MAX_MULTIPARTS:
        raise MimeTooDeep(f"{containers} multipart containers (at most {MAX_MULTIPARTS} are read)")
    try:
        parsed = _MailParser.from_bytes(raw)
    except Exception as exc:  # mail-parser's own bugs on hostile input
        parsed = _StdlibParsed(raw, exc)
    message = parsed.message
    headers: list[tuple[str, str]] = []
    if message is not None:
        for name, value in message.raw_items():
            # Raw 8-bit UTF-8 and `=?utf-8*th?...?=` decoded too: a header is read as
            # the recipient's client shows it (rules/markings.py reads these).
            headers.append((name, decode_header_text(str(value)).strip() if value else ""))
    # Addresses are parsed from the raw header, before RFC 2047 decoding: a display
    # name that decodes to "x\r\nBcc: other@example.org" must not become the address.
    raw_items = [(k, str(v)) for k, v in message.raw_items()] if message is not None else []
    from_header = next((v for k, v in raw_items if k.lower() == "from"), None)
    reply_to = next((v for k, v in raw_items if k.lower() == "reply-to"), None)
    message_id = next((v.strip() for k, v in headers if k.lower() == "message-id"), None)
    date = parsed.date if isinstance(parsed.date, dt.datetime) else None
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=dt.timezone.utc)  # mail-parser normalises to UTC
    truncated: list[int] = []
    attachments = collect_attachments(message, pdf_reader, truncated, digests) if message is not None else []
    return ParsedMail(
        subject=(parsed.subject or "").strip(),
        from_address=_address(from_header),
        reply_to=_address(reply_to) or None,
        envelope_sender=envelope_sender,
        message_id=message_id or None,
        date=date,
        headers=tuple(headers),
        body_text=_ends("\n".join(parsed.text_plain)),
        body_html=_ends("\n".join(parsed.text_html)),
        attachments=tuple(attachments),
        defects=_defects(parsed),
        truncated=bool(truncated),
    )


def _ends(text: str, keep: int = 500_000) -> str:
    """A long body's beginning and end: a marking sits at the top or the bottom."""
    return text if len(text) <= 2 * keep else text[:keep] + "\n" + text[-keep:]


def sender_display_name(mail: ParsedMail) -> str | None:
    return _display_name(mail.header("from"))
