"""What a rule sees and what it says back.

The gateway fills these from the raw message (gateway/pipeline/parse.py); everything that
needs a library touching bytes (MIME parsing, libmagic, the PDF text layer) happens
there, so that rules stay pure functions that tests can feed directly.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["pass", "warn", "fail"]
Urgency = Literal["normal", "urgent", "very_urgent", "most_urgent"]
# ลับ = confidential, ลับมาก = secret, ลับที่สุด = top_secret (e-CMS codes 002/003/004).
Secrecy = Literal["none", "confidential", "secret", "top_secret"]


# The pdf_error of a PDF the letter's time for PDF work ran out on (the pipeline's
# per-letter budget, gateway/pipeline/check.py): "a person should open it", not damage.
NOT_READ_IN_TIME = "not read in time"


class ReadingOverdue(BaseException):
    """The letter's reading (its MIME tree, bodies, HTML, files' texts and the markings
    read from them) ran past the time the gateway gives it (gateway/pipeline/reading_time.py):
    the letter is not judged on what was read so far, it is sealed unread and held.

    A BaseException, as KeyboardInterrupt is: the readers are full of "read what it has"
    handlers (`except Exception`, the HTML parser's on hostile markup), and one that took
    this for a hostile input's error would end that reading early and let the letter be
    judged on the part read before it: a silent cut that may hide a ลับ marking."""

    def __init__(self, seconds: float):
        super().__init__(f"not read within {seconds:g} s")
        self.seconds = seconds


# The check a long reading calls as it goes (`reading_goes_on`); set by the gateway for
# exactly one letter's reading (`reading_checked`), None elsewhere (the rules' own tests).
_reading_check: ContextVar[Callable[[], None] | None] = ContextVar("reading_check", default=None)


def reading_goes_on() -> None:
    """Called by the readings whose cost grows with what a letter holds (each HTML
    element, each MIME leaf, each file): raises ReadingOverdue once the letter's time is
    spent. A clock is read, nothing else: the rules stay without I/O."""
    check = _reading_check.get()
    if check is not None:
        check()


@contextmanager
def reading_checked(check: Callable[[], None]) -> Iterator[None]:
    """`check` is what `reading_goes_on` calls within this block."""
    token = _reading_check.set(check)
    try:
        yield
    finally:
        _reading_check.reset(token)


# A PDF's `pdf_error` when a file embedded in it (its attachments pane, a PDF Portfolio)
# could not be read: the PDF opened, but what the clerk's viewer opens from it was not
# read, so the letter is at least ลับ (rules/markings.py `_pdf_unreadable`).
EMBEDDED_NOT_READ = "an embedded file was not read"
# A PDF's `pdf_error` when a scanned page's secrecy stamp could not be read by OCR
# (gateway/pipeline/scanned_pages.py): the letter is at least ลับ, uncertain.
SCAN_NOT_READ = "a scanned page was not read"


@dataclass(frozen=True)
class Attachment:
    """One MIME leaf that carries a file (whatever its disposition said)."""

    index: int
    filename: str | None  # decoded, as the sender named it; never used as a path
    declared_type: str  # Content-Type as the mail client labelled it
    disposition: str | None  # "attachment", "inline" or None
    data: bytes
    sniffed_type: str  # MIME type by content (libmagic)
    sha256: str
    pdf_text: str | None = None  # text layer of a PDF, when it has one
    pdf_encrypted: bool = False
    pdf_pages: int | None = None
    pdf_error: str | None = None  # why the PDF could not be read, if it could not
    # The top and bottom lines of each page read (where the regulation prints ลับ),
    # for rules/markings.py; empty when the PDF has no text layer.
    pdf_page_texts: tuple[str, ...] = ()
    # The same lines as a viewer's reader (PDFium) reads them: a marking in either counts.
    pdf_viewer_page_texts: tuple[str, ...] = ()
    # What a viewer shows on the pages read that neither text layer above holds in
    # reading order: per page, its head and foot lines by their place on the page (not
    # the content stream's order), the text of its annotations and form fields.
    pdf_other_texts: tuple[str, ...] = ()
    # What a person reads in a file that is not a PDF page: a text file's text as a mail
    # client decodes it (its charset), an office document's text, each text an archive
    # holds. Empty when the file holds none the gateway reads.
    texts: tuple[str, ...] = ()
    # The smime.p7m of an S/MIME opaque-signed letter whose content was read: the mail's
    # signature, as a detached smime.p7s is, not a file the sender enclosed.
    signature_envelope: bool = False
    # A file whose files follow it in the letter as files of their own, read, verified and
    # registered as if attached directly: Outlook's winmail.dat, a signed `letter.pdf.p7m`.
    unpacked: bool = False
    # A second name the part carries (Content-Type's name= when it is not filename=):
    # a client that shows that one shows it, so a marking or a program's extension
    # there counts too.
    other_names: tuple[str, ...] = ()
    # A file of a message inside the letter (message/rfc822: an earlier letter forwarded
    # as an attachment), not one the sender attached to this letter: it is the cover
    # letter only when the letter has no PDF of its own (rules/files.py `cover_letter`).
    forwarded: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedMail:
    """A received message, decoded: headers to str (Thai decoded), files to bytes."""

    subject: str
    from_address: str  # address in From:
    reply_to: str | None
    envelope_sender: str  # SMTP MAIL FROM ("" for the null reverse-path)
    message_id: str | None
    date: dt.datetime | None
    headers: tuple[tuple[str, str], ...]  # every header, decoded, in order
    body_text: str
    body_html: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = ()  # what the MIME parser found broken
    truncated: bool = False  # more parts than the parser reads: the rest was not seen
    # The header blocks of the messages inside this one (a letter forwarded as an
    # attachment, an attached .eml), each (name, decoded value) in order.
    inner_headers: tuple[tuple[tuple[str, str], ...], ...] = ()
    # What a mail client would show that the parser could not read (a header block cut
    # short by obsolete syntax, a boundary not found, a signed letter not unwrapped, a
    # file whose text could not be read), one English phrase each: each makes the letter
    # at least ลับ (fail closed).
    unread: tuple[str, ...] = ()
    # An HTML body longer than what is kept of a text: its readings (`html_readings`),
    # made before the cut; empty when body_html is whole.
    body_html_texts: tuple[str, ...] = ()
    # The texts of files uuencoded in the body (`begin 644 name`), which clients show as
    # attachments: read for the markings only (the letter's files are its MIME parts).
    body_file_texts: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


@dataclass(frozen=True)
class Finding:
    """One rule's word on one letter (or on one of its files)."""

    rule: str
    verdict: Verdict
    message_th: str
    message_en: str
    attachment: str | None = None  # the file it is about, if any
    # The message cut where the file's name goes (rules.checks.finding): a notice joins
    # them with the file's place, never by finding the name in the message's text.
    parts_th: tuple[str, ...] = ()
    parts_en: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return f"{self.message_th} / {self.message_en}"

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "verdict": self.verdict,
            "message": self.message,
            "message_th": self.message_th,
            "message_en": self.message_en,
            "attachment": self.attachment,
        }


@dataclass(frozen=True)
class LetterFacts:
    """What the letter says about itself; None/empty where it could not be read."""

    reference: str | None = None  # ที่, normalised: "กท 0403/ว 276"
    letter_date: dt.date | None = None  # วันที่, in the common era
    subject: str | None = None  # เรื่อง
    addressee: str | None = None  # เรียน
    references: tuple[str, ...] = ()  # อ้างถึง
    enclosures: tuple[str, ...] = ()  # สิ่งที่ส่งมาด้วย
    urgency: Urgency = "normal"  # ด่วน / ด่วนมาก / ด่วนที่สุด
    secrecy: Secrecy = "none"  # ลับ / ลับมาก / ลับที่สุด
    kind: str | None = None  # external, internal_memo, circular, order, ...

    def as_dict(self) -> dict:
        return {
            "reference": self.reference,
            "letter_date": self.letter_date.isoformat() if self.letter_date else None,
            "subject": self.subject,
            "addressee": self.addressee,
            "references": list(self.references),
            "enclosures": list(self.enclosures),
            "enclosure_count": len(self.enclosures),
            "urgency": self.urgency,
            "secrecy": self.secrecy,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class RuleSettings:
    """The configurable parts the rules need (from [rules] in the config)."""

    filename_pattern: str = r"^(?P<year>25\d\d)_(?P<agency>[A-Za-z]+)_(?P<office>\d+(?:_\d+)*)_(?P<number>\d+)(?:_(?P<suffix>[A-Za-z0-9ก-๙]+))?$"
    cover_types: tuple[str, ...] = ("application/pdf",)
    enclosure_types: tuple[str, ...] = (
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    )
    max_filename_length: int = 150


@dataclass
class Decision:
    """What the policy made of the findings for one unit."""

    action: Literal["accept", "reject"]
    findings: list[Finding] = field(default_factory=list)

    @property
    def reasons(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "fail"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "warn"]
