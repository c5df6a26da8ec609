"""The DATA check's reading of a letter, kept for the pipeline: a letter is parsed once,
and each PDF's text layer read once, not once at DATA and again in the pipeline.

At the end of DATA a worker (gateway/secrecy/markings.py) parses the whole message as
the pipeline does, every PDF's text layer included, to refuse ลับที่สุด (top secret)
before the 250. When it finds the letter ordinary, it writes what it read to
`spool/readings/<queue_id>.json` before it answers: the parsed letter (headers,
bodies, each file's metadata and PDF reading) and, after it, the bytes of the files.
The pipeline (gateway/pipeline/check.py) takes the parsed letter from there when it is
the reading of exactly the message it is about to read (the raw message's sha256); it
parses the message itself only when there is none: letters that came by IMAP, a
classified or uncertain letter (none is written for those), an S/MIME letter opened in
the pipeline, a lost cache. Even then it takes each PDF's reading by the file's sha256
(`Readings`, in check.py's `PdfBudget`) and sends to its reading workers only the files
it has no reading for.

It is a cache, so it costs the 250 no fsync: a reading lost in a power cut, missing,
cut short or not what this module writes is no reading, and the pipeline reads the
message itself, as it did before. Its head carries its own sha256 and each file its
sha256, so a torn or damaged file is never taken for the letter. Both sides parse with
the same function (`parse_mail`, `inspect_pdf`), the DATA check in a bounded child
process (a deadline and an address-space cap), and a reading is data checked field by
field, never code.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import structlog

from gateway.pipeline.pdf_inspect import PdfInfo, info_fields, info_from_fields, inspect_pdf
from rules.model import Attachment, ParsedMail

log = structlog.get_logger(__name__)

FORMAT = 6  # 5: files' second names (other_names); 6: a forwarded message's files marked; another format is no reading


@functools.cache
def magic() -> bytes:
    """A reading's first bytes: FORMAT and the sha256 of the gateway's and the rules'
    source, computed once per process, at its first reading (not for every command
    that imports this module).

    A reading is taken only by the code that wrote it. Across an upgrade the spool holds
    letters the old code acknowledged and read; the new code may read more (a PDF's
    embedded files, a signed PDF inside a ZIP, winmail.dat's files: sessions 13-17) with
    no change to the reading's shape, and a FORMAT kept by hand was not bumped for them:
    the new pipeline took the old reading of a ลับมาก letter (its marking inside a signed
    PDF in a ZIP) and filed it ordinary, in plain text. Hashing the source costs ~20 ms
    once a process, and only letters in the spool at an upgrade are parsed again."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for package in ("gateway", "rules"):
        files = sorted((root / package).rglob("*.py")) or sorted((root / package).rglob("*.pyc"))
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return b"saraban-reading %d %s " % (FORMAT, digest.hexdigest()[:16].encode())
# Past this the parsed letter is not kept (the pipeline parses the message) and only
# the PDFs' readings are, or past it again nothing: measured before it is encoded.
MAX_READING = 4 * 1024 * 1024
# The files' bytes kept after the head: past this the pipeline parses the message
# itself (the bytes are on disk twice while the letter waits, and big letters are few).
MAX_FILES = 32 * 1024 * 1024


class ReadingRecorder:
    """A PDF reader for `parse_mail` that remembers what it read of each file."""

    def __init__(self, reader: Callable[[bytes], PdfInfo] = inspect_pdf):
        self.reader = reader
        self.infos: dict[str, PdfInfo] = {}

    def __call__(self, data: bytes) -> PdfInfo:
        info = self.reader(data)
        self.infos[hashlib.sha256(data).hexdigest()] = info
        return info

    def chars(self) -> int:
        return sum(_info_chars(i) for i in self.infos.values()) + 200 * len(self.infos)

    def encode(self, mail: ParsedMail | None = None, raw_sha256: str = "") -> list[bytes]:
        """The reading as written: the magic line with the head's sha256, the head
        (JSON), and, when `mail` is given with its files' digests, the files' bytes."""
        files = mail is not None and all(a.sha256 for a in mail.attachments) \
            and sum(a.size for a in mail.attachments) <= MAX_FILES
        # With the letter, each PDF's reading is in its file's entry, and "read" says
        # which files the reader read (the rest were not PDFs): written once, not twice.
        head = {"raw_sha256": raw_sha256,
                "pdfs": {} if files else {key: info_fields(info) for key, info in self.infos.items()},
                "read": sorted(self.infos) if files else [],
                "mail": _mail_fields(mail) if files else None}
        # surrogatepass: pypdf's text may hold a lone surrogate; json.loads reads it back so
        body = json.dumps(head, ensure_ascii=False).encode("utf-8", "surrogatepass")
        parts = [magic() + hashlib.sha256(body).hexdigest().encode() + b"\n", body, b"\n"]
        if files:
            parts.extend(a.data for a in mail.attachments)
        return parts

    def write(self, path: Path, mail: ParsedMail | None = None, raw_sha256: str = "") -> bool:
        """Write the reading to `path` (no fsync: a cache); False when there is nothing
        to keep or too much. `mail`: the letter as parsed, with its files' sha256."""
        if mail is not None and _mail_chars(mail) + self.chars() > MAX_READING:
            mail = None  # the PDFs' readings alone, if they fit
        if mail is None and (not self.infos or self.chars() > MAX_READING):
            # Measured before it is encoded: a letter of a thousand long files must not
            # cost the worker its memory cap (and the letter its certainty) for a cache.
            return False
        parts = self.encode(mail, raw_sha256)
        if len(parts[1]) > MAX_READING:
            return False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view):]
        except BaseException:
            # A full disk mid-write: half a reading would be no reading, only space taken.
            os.unlink(path)
            raise
        finally:
            os.close(fd)
        return True


def _info_chars(i: PdfInfo) -> int:
    return (len(i.text or "") + len(i.error or "") + sum(map(len, i.page_texts)) + sum(map(len, i.viewer_page_texts))
            + sum(map(len, i.other_texts)))


def _mail_chars(mail: ParsedMail) -> int:
    return (len(mail.subject) + len(mail.body_text) + len(mail.body_html) + sum(map(len, mail.body_html_texts))
            + sum(map(len, mail.body_file_texts))
            + sum(len(k) + len(v) + 8 for k, v in mail.headers) + sum(len(d) for d in mail.defects)
            + sum(len(k) + len(v) + 8 for block in mail.inner_headers for k, v in block)
            + sum(len(u) for u in mail.unread)
            + sum(300 + len(a.filename or "") + len(a.pdf_text or "") + sum(map(len, a.pdf_page_texts))
                  + sum(map(len, a.pdf_viewer_page_texts)) + sum(map(len, a.pdf_other_texts))
                  + sum(map(len, a.texts)) for a in mail.attachments))


def _pdf_info(a: Attachment) -> PdfInfo:
    return PdfInfo(a.pdf_text, a.pdf_pages, a.pdf_encrypted, a.pdf_error, a.pdf_page_texts, a.pdf_viewer_page_texts,
                   a.pdf_other_texts)


def _mail_fields(mail: ParsedMail) -> dict:
    return {"subject": mail.subject, "from_address": mail.from_address, "reply_to": mail.reply_to,
            "message_id": mail.message_id, "date": mail.date.isoformat() if mail.date else None,
            "headers": [list(h) for h in mail.headers], "body_text": mail.body_text,
            "body_html": mail.body_html, "body_html_texts": list(mail.body_html_texts),
            "body_file_texts": list(mail.body_file_texts), "defects": list(mail.defects), "truncated": mail.truncated,
            "inner_headers": [[list(h) for h in block] for block in mail.inner_headers],
            "unread": list(mail.unread),
            "attachments": [{"filename": a.filename, "declared_type": a.declared_type,
                             "disposition": a.disposition, "sniffed_type": a.sniffed_type,
                             "sha256": a.sha256, "size": a.size, "pdf": info_fields(_pdf_info(a)),
                             "texts": list(a.texts), "signature_envelope": a.signature_envelope,
                             "unpacked": a.unpacked, "other_names": list(a.other_names),
                             "forwarded": a.forwarded}
                            for a in mail.attachments]}


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _is_texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(t, str) for t in value)


def _is_headers(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in value)


def _text(value: object, optional: bool = False) -> str | None:
    if isinstance(value, str) or (optional and value is None):
        return value
    raise ValueError("not a reading")


def _mail_from_fields(fields: object, files: memoryview) -> ParsedMail:
    """The letter `_mail_fields` wrote, its files' bytes taken from `files` and each
    checked against its sha256; ValueError for anything else."""
    if not isinstance(fields, dict):
        raise ValueError("not a reading")
    date = _text(fields.get("date"), optional=True)
    date = dt.datetime.fromisoformat(date) if date is not None else None
    if date is not None and date.tzinfo is None:
        raise ValueError("not a reading")
    headers, defects, listed = fields.get("headers"), fields.get("defects"), fields.get("attachments")
    inner, unread = fields.get("inner_headers"), fields.get("unread")
    if not (_is_headers(headers) and isinstance(inner, list) and all(_is_headers(block) for block in inner)
            and _is_texts(defects) and _is_texts(unread)
            and isinstance(listed, list) and isinstance(fields.get("truncated"), bool)):
        raise ValueError("not a reading")
    attachments, at = [], 0
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise ValueError("not a reading")
        size, sha256 = item.get("size"), item.get("sha256")
        if not (isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= len(files) - at
                and _is_sha256(sha256)):
            raise ValueError("not a reading")
        data = bytes(files[at:at + size])
        at += size
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("a file is not what was read")  # torn in a crash, or damaged
        info = info_from_fields(item.get("pdf"))
        texts, envelope = item.get("texts"), item.get("signature_envelope", False)
        unpacked, other_names = item.get("unpacked", False), item.get("other_names", [])
        forwarded = item.get("forwarded", False)
        if not _is_texts(texts) or not isinstance(envelope, bool) or not isinstance(unpacked, bool) \
                or not _is_texts(other_names) or not isinstance(forwarded, bool):
            raise ValueError("not a reading")
        attachments.append(Attachment(
            index=index, filename=_text(item.get("filename"), optional=True),
            declared_type=_text(item.get("declared_type")),
            disposition=_text(item.get("disposition"), optional=True), data=data,
            sniffed_type=_text(item.get("sniffed_type")), sha256=sha256,
            pdf_text=info.text, pdf_encrypted=info.encrypted, pdf_pages=info.pages, pdf_error=info.error,
            pdf_page_texts=info.page_texts, pdf_viewer_page_texts=info.viewer_page_texts,
            pdf_other_texts=info.other_texts, texts=tuple(texts), signature_envelope=envelope, unpacked=unpacked,
            other_names=tuple(other_names), forwarded=forwarded))
    if at != len(files):
        raise ValueError("not a reading")
    return ParsedMail(
        subject=_text(fields.get("subject")), from_address=_text(fields.get("from_address")),
        reply_to=_text(fields.get("reply_to"), optional=True), envelope_sender="",
        message_id=_text(fields.get("message_id"), optional=True), date=date,
        headers=tuple((k, v) for k, v in headers), body_text=_text(fields.get("body_text")),
        body_html=_text(fields.get("body_html")), attachments=tuple(attachments),
        body_html_texts=tuple(_text(t) for t in fields.get("body_html_texts") or ()),
        body_file_texts=tuple(_text(t) for t in fields.get("body_file_texts") or ()),
        defects=tuple(defects), truncated=fields["truncated"],
        inner_headers=tuple(tuple((k, v) for k, v in block) for block in inner), unread=tuple(unread))


class Readings:
    """One letter's PDF readings, by the sha256 of each file's bytes."""

    def __init__(self, by_sha256: dict[str, PdfInfo] | None = None):
        self.by_sha256 = by_sha256 or {}

    def of(self, data: bytes) -> PdfInfo | None:
        """The reading of exactly these bytes, if the DATA check read them."""
        if not self.by_sha256:
            return None
        return self.by_sha256.get(hashlib.sha256(data).hexdigest())


@dataclasses.dataclass(frozen=True)
class LetterReading:
    """What the DATA check read of one letter: its PDFs' readings and, when it kept
    them, the parsed letter (for the message whose sha256 is `raw_sha256`)."""

    readings: Readings = dataclasses.field(default_factory=Readings)
    mail: ParsedMail | None = None
    raw_sha256: str = ""

    def mail_of(self, raw_sha256: str, envelope_sender: str) -> ParsedMail | None:
        """The letter as `parse_mail(raw, envelope_sender)` reads it, if this is the
        reading of exactly that raw message."""
        if self.mail is None or raw_sha256 != self.raw_sha256:
            return None
        return dataclasses.replace(self.mail, envelope_sender=envelope_sender)

    @classmethod
    def decode(cls, data: bytes | None) -> "LetterReading":
        """What `ReadingRecorder.write` wrote; nothing for anything else (never raises)."""
        if not data:
            return cls()
        try:
            line_end = data.find(b"\n", 0, 200)
            line = data[:line_end]
            if line_end < 0 or not line.startswith(magic()):
                raise ValueError("not a reading")
            head_end = data.find(b"\n", line_end + 1, line_end + 2 + MAX_READING)
            if head_end < 0:
                raise ValueError("not a reading")
            body = data[line_end + 1:head_end]
            if hashlib.sha256(body).hexdigest().encode() != line[len(magic()):]:
                raise ValueError("the head is not what was written")  # torn, or damaged
            head = json.loads(body)
            if not isinstance(head, dict) or not isinstance(head.get("pdfs"), dict):
                raise ValueError("not a reading")
            readings = {}
            for key, fields in head["pdfs"].items():
                if not _is_sha256(key):
                    raise ValueError("not a sha256")
                readings[key] = info_from_fields(fields)
            raw_sha256, read, mail = head.get("raw_sha256"), head.get("read"), None
            if head.get("mail") is not None:
                if not (_is_sha256(raw_sha256) and isinstance(read, list) and all(map(_is_sha256, read))):
                    raise ValueError("not a sha256")
                mail = _mail_from_fields(head["mail"], memoryview(data)[head_end + 1:])
                read = set(read)
                readings.update((a.sha256, _pdf_info(a)) for a in mail.attachments if a.sha256 in read)
            return cls(Readings(readings), mail, raw_sha256 if mail is not None else "")
        except (ValueError, TypeError, RecursionError) as exc:  # json's errors are ValueErrors
            log.warning("pdf_reading_ignored", error=type(exc).__name__)
            return cls()
