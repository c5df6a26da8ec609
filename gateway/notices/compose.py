"""Build the notice message from its outbox payload: Thai first, English below,
text/plain and text/html alternatives, threaded to the letter it answers.

An EmailMessage (policy SMTP) whose headers are each set already encoded by
mime_attach.header_value, which never writes a CR or LF but in a fold: a line break
of any kind in a value becomes encoded words. The values were cleaned before
(sanitize.py); this is the second lock."""
from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
import hashlib
import re
import uuid
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from typing import Any

from gateway.notices.loop_guard import NOTICE_HEADER
from gateway.notices.sanitize import clean_text
from gateway.notices.templates import environment, render
from gateway.pipeline.mime_attach import header_value
from rules.thai_time import BE_OFFSET, THAI_MONTHS_SHORT, thai_date, thai_digits, thai_time, to_bangkok

MAX_SUBJECT = 250


def notice_message_id(key: str, domain: str) -> str:
    """The same outbox key always gives the same Message-ID, so a notice sent again
    after a crash is recognisably the same message (and deduplicated by many stores)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<saraban-notice.{digest}@{domain}>"


def template_context(payload: dict[str, Any], use_thai_digits: bool) -> dict[str, Any]:
    received = dt.datetime.fromisoformat(payload["received_at"])
    local = to_bangkok(received)
    receive_no = payload.get("receive_no") or ""
    context = dict(payload)
    context.update(
        unit_th=payload.get("unit_name_th") or payload.get("unit"),
        unit_en=payload.get("unit_name_en"),
        receive_no=thai_digits(receive_no) if use_thai_digits else receive_no,
        receive_no_arabic=receive_no,
        received_date_th=thai_date(received, digits=use_thai_digits),
        received_time_th=thai_time(received, digits=use_thai_digits),
        received_en=f"{local.day} {local:%B %Y, %H:%M} (Bangkok time)",
        letter_date_th=_thai_day(payload.get("letter_date"), use_thai_digits),
        letter_date_en=_english_day(payload.get("letter_date")),
        findings=payload.get("findings") or [],
    )
    return context


def _thai_day(iso: str | None, use_thai_digits: bool) -> str | None:
    if not iso:
        return None
    day = dt.date.fromisoformat(iso)
    text = f"{day.day} {THAI_MONTHS_SHORT[day.month - 1]} {day.year + BE_OFFSET}"
    return thai_digits(text) if use_thai_digits else text


def _english_day(iso: str | None) -> str | None:
    if not iso:
        return None
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def build_notice(payload: dict[str, Any], key: str, created_at: dt.datetime,
                 templates_dir: str | None = None, use_thai_digits: bool = False) -> EmailMessage:
    notice_type = payload["type"]
    env = environment(templates_dir, use_thai_digits)
    context = template_context(payload, use_thai_digits)
    subject = clean_text(render(env, notice_type, "subject", context), MAX_SUBJECT)
    text = _tidy(render(env, notice_type, "txt", context))
    html = render(env, notice_type, "html", context)

    sender = payload["from"]
    domain = sender.rpartition("@")[2] or "localhost"
    msg = EmailMessage(policy=email.policy.SMTP)
    _set_from(msg, clean_text(context["unit_th"], 120), sender)
    msg.set_raw("To", Address(addr_spec=payload["to"]).addr_spec)  # Address refuses a bad one
    _set_text(msg, "Subject", subject)
    _set_text(msg, "Date", email.utils.format_datetime(to_bangkok(created_at)))
    _set_text(msg, "Message-ID", notice_message_id(key, domain))
    if payload.get("in_reply_to"):
        _set_text(msg, "In-Reply-To", payload["in_reply_to"])
    if payload.get("references"):
        _set_text(msg, "References", " ".join(payload["references"]))
    # RFC 3834: mark it automatic, so that well-behaved responders do not answer it;
    # our own header lets a gateway recognise its own notice even if a relay dropped that.
    _set_text(msg, "Auto-Submitted", "auto-replied")
    _set_text(msg, NOTICE_HEADER, notice_type)
    _set_text(msg, "X-Auto-Response-Suppress", "All")  # Exchange: no out-of-office replies to this
    _set_text(msg, "Content-Language", "th, en")
    _set_text(msg, "MIME-Version", "1.0")
    boundary = f"=_saraban-{uuid.uuid4().hex}"
    _set_text(msg, "Content-Type", f'multipart/alternative; boundary="{boundary}"')
    msg.set_payload([_text_part(text, "plain"), _text_part(html, "html")])
    return msg


# Every header is set raw, each one already encoded and folded (header_value): the email
# package's own header objects parse every value on the way in and fold it again on
# the way out (~2 ms of a notice's ~2.7). header_value never writes a CR or LF but in
# a fold: a value with a line break of any kind becomes encoded words, so no value can
# start a header of its own (the lock policy SMTP's parsing was; the values were
# cleaned before, sanitize.py).


def _set_text(msg: EmailMessage | MIMEPart, name: str, value: str) -> None:
    msg.set_raw(name, header_value(name, value))


def _text_part(text: str, subtype: str) -> MIMEPart:
    """text/<subtype> in UTF-8, base64 in 76-character lines (what set_content wrote)."""
    part = MIMEPart(policy=email.policy.SMTP)
    _set_text(part, "Content-Type", f'text/{subtype}; charset="utf-8"')
    _set_text(part, "Content-Transfer-Encoding", "base64")
    part.set_payload(base64.encodebytes(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")).decode("ascii"))
    return part


def _set_from(msg: EmailMessage, display_name: str, addr_spec: str) -> None:
    address = Address(display_name=display_name, addr_spec=addr_spec)  # refuses a bad address
    if display_name.isascii():
        msg.set_raw("From", header_value("From", str(address)))  # quoted as the address syntax needs
    else:
        msg.set_raw("From", f"{header_value('From', display_name)}\r\n <{address.addr_spec}>")


def _tidy(text: str) -> str:
    """At most one empty line in a row, whatever the template's blocks left behind."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
