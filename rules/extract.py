"""Read what a letter says about itself: ที่, วันที่, เรื่อง, เรียน, อ้างถึง,
สิ่งที่ส่งมาด้วย, urgency, classification and kind.

Sources, most trusted first: the text layer of the cover-letter PDF (it *is* the
letter), then the mail subject (senders put "ที่ ... เรื่อง ..." there), then the mail
body. Each field is taken from the first source that has it. Markings are the
highest found in any source; the classification comes from rules/markings.py
`read_classification`, which reads every header, the body and every page: a
classification must never be lost because one source omitted it. What cannot be
read is left empty, never guessed.
"""
from __future__ import annotations

import datetime as dt

from rules.dates import parse_thai_date
from rules.files import cover_letter
from rules.kind import letter_kind
from rules.letter_header import HeaderFields, read_extracted_text, read_inline, read_letter_text
from rules.markings import (
    classify_secrecy_text,
    highest_urgency,
    html_to_text,
    read_classification,
    secrecy_in_letter,
    urgency_in_header,
    urgency_in_letter,
    urgency_in_subject,
)
from rules.model import LetterFacts, ParsedMail, Secrecy, Urgency
from rules.reference import normalise_reference, parse_reference
from rules.thai_text import clean_field, normalise_extracted, normalise_typed
from rules.thai_time import now_utc, to_bangkok

__all__ = [
    "extract_facts",
    "facts_from_text",
    "normalise_reference",
    "parse_reference",
    "parse_thai_date",
    "classify_secrecy_text",
    "classify_secrecy",
    "classify_urgency",
]

_URGENCY_HEADERS = ("X-Urgency", "X-Speed")


def _body(mail: ParsedMail) -> str:
    html = mail.body_html_texts[0] if mail.body_html_texts else html_to_text(mail.body_html)
    return normalise_typed(mail.body_text if mail.body_text.strip() else html)


def mail_subject(mail: ParsedMail) -> str:
    """The mail's subject as the register stores and the rules read it: normalised as
    typed Thai (`normalise_typed`: "คณะทํางาน" is stored and found as "คณะทำงาน"), on one
    line (`clean_field`: no control character, no bidi override)."""
    return subject_text(mail.subject) or ""


def subject_text(subject: str | None) -> str | None:
    """A Subject header as `mail_subject` keeps it, for one kept as it came (a held
    letter's, a sealed letter's): None when nothing is left."""
    return clean_field(normalise_typed(subject or ""))


# A letter is dated on or before the day it is sent: a date read from a subject or a
# body that is later than the mail (its Date:, a day of slack for time zones and
# clocks) is a date the text speaks of, not the letter's, and is left empty.
_DATE_SLACK = dt.timedelta(days=1)
# How long before today a Date: is still believed: a mail delayed on the way (mail
# servers retry for five days) or read late (a central mailbox pulled after an outage
# of weeks). Older, it is the sender's clock that is wrong.
_DATE_BELIEVED = dt.timedelta(days=30)


def _not_after_mail(date: dt.date | None, mail: ParsedMail) -> dt.date | None:
    # Nor later than today: a Date: header in the future (a sender's clock set years
    # ahead) let "ลงวันที่ ๕ ม.ค. ๒๕๗๐", a meeting's day, into the register as the letter's.
    # Nor a Date: long before today: a PC whose clock says 2019 dropped the ลงวันที่ of
    # every letter it sent today, as if the letter's own date were a day to come.
    today = to_bangkok(now_utc()).date()
    sent = mail.date.date() if mail.date and today - _DATE_BELIEVED <= mail.date.date() <= today else today
    return date if date is None or date <= sent + _DATE_SLACK else None


def classify_secrecy(text: str) -> Secrecy:
    """Classification marked in the head of a letter or body text."""
    return secrecy_in_letter(read_letter_text(text).head)


def classify_urgency(text: str) -> Urgency:
    """Urgency marked in the head of a letter or body text."""
    return urgency_in_letter(read_letter_text(text).head)


def facts_from_text(text: str) -> LetterFacts:
    """Facts from one letter's text alone (a PDF text layer, a seed document)."""
    fields = read_letter_text(normalise_extracted(text))
    return _facts(fields, secrecy_in_letter(fields.head), urgency_in_letter(fields.head))


def _facts(fields: HeaderFields, secrecy: Secrecy, urgency: Urgency) -> LetterFacts:
    return LetterFacts(
        reference=fields.reference.text if fields.reference else None,
        letter_date=fields.letter_date,
        subject=clean_field(fields.subject),
        addressee=clean_field(fields.addressee),
        references=fields.references,
        enclosures=fields.enclosures,
        urgency=urgency,
        secrecy=secrecy,
        kind=letter_kind(fields.head, fields.reference, bool(fields.subject), bool(fields.addressee)),
    )


def extract_facts(mail: ParsedMail) -> LetterFacts:
    """What the letter says, read from the cover-letter PDF, the subject and the body."""
    cover = cover_letter(mail)
    pdf_fields = read_extracted_text(cover.pdf_text) if cover and cover.pdf_text else HeaderFields()
    body = _body(mail)
    body_fields = read_letter_text(body) if body.strip() else HeaderFields()
    subject = read_inline(mail_subject(mail))
    subject.letter_date = _not_after_mail(subject.letter_date, mail)
    body_inline = read_inline(next((line for line in body.splitlines() if "ที่" in line), ""))
    body_inline.letter_date = _not_after_mail(body_inline.letter_date, mail)

    reference = pdf_fields.reference or subject.reference or body_fields.reference or body_inline.reference
    merged = HeaderFields(
        reference=reference,
        letter_date=pdf_fields.letter_date or subject.letter_date or body_fields.letter_date or body_inline.letter_date,
        subject=pdf_fields.subject or subject.subject or body_fields.subject,
        addressee=pdf_fields.addressee or body_fields.addressee,
        references=pdf_fields.references or body_fields.references,
        enclosures=pdf_fields.enclosures or body_fields.enclosures,
        head=pdf_fields.head if pdf_fields.reference or not body_fields.head else body_fields.head,
    )
    # A date written beside a reference belongs to that letter: do not pair the PDF's
    # reference with a date the subject gives for another one.
    if pdf_fields.reference and not pdf_fields.letter_date and subject.reference and subject.reference.text != pdf_fields.reference.text:
        merged.letter_date = body_fields.letter_date if body_fields.reference == pdf_fields.reference else None

    # One source of truth for classification (headers, subject, body, HTML, every
    # PDF page's top and bottom): the same function intake uses to refuse ลับที่สุด.
    secrecy = read_classification(mail).level
    # The cover's first page as a viewer's reader reads it too: pypdf loses every า of a
    # LibreOffice letter after its first ำ ("ด่วนม\x03ก"), PDFium does not
    # (gateway/pipeline/pdf_inspect.py `_viewer_texts`).
    # And the urgency stamp OCR read on a scanned first page (its other texts).
    viewer = (*cover.pdf_viewer_page_texts[:1], *cover.pdf_other_texts[:1]) if cover else ()
    urgency = highest_urgency(
        urgency_in_letter(pdf_fields.head),
        *(urgency_in_letter(read_extracted_text(page).head) for page in viewer),
        urgency_in_subject(mail.subject or ""),
        urgency_in_letter(body_fields.head),
        *(urgency_in_header(v) for name in _URGENCY_HEADERS if (v := mail.header(name))),
    )
    return _facts(merged, secrecy, urgency)
