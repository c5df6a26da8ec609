"""Build the notice message from its outbox payload: Thai first, English below,
text/plain and text/html alternatives, threaded to the letter it answers.

Built with EmailMessage and policy SMTP, which refuses a CR or LF inside a header
value; the values were cleaned before (sanitize.py), this is the second lock. The two
Thai headers (From's display name, Subject) are encoded by mime_attach.header_value,
which never writes a CR or LF but in a fold."""
from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import re
from email.headerregistry import Address
from email.message import EmailMessage
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
    msg["To"] = Address(addr_spec=payload["to"])
    _set_text(msg, "Subject", subject)
    msg["Date"] = email.utils.format_datetime(to_bangkok(created_at))
    msg["Message-ID"] = notice_message_id(key, domain)
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = payload["in_reply_to"]
    if payload.get("references"):
        msg["References"] = " ".join(payload["references"])
    # RFC 3834: mark it automatic, so that well-behaved responders do not answer it;
    # our own header lets a gateway recognise its own notice even if a relay dropped that.
    msg["Auto-Submitted"] = "auto-replied"
    msg[NOTICE_HEADER] = notice_type
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies to this
    msg["Content-Language"] = "th, en"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


# The email package folds a Thai header by trying every length of every encoded word
# (~2 ms a notice, half of writing it out); header_value knows the lengths. A header
# set raw is written as it is, folded at most 76 characters a line.


def _set_text(msg: EmailMessage, name: str, value: str) -> None:
    if value.isascii() and value.isprintable():
        msg[name] = value
    else:
        msg.set_raw(name, header_value(name, value))


def _set_from(msg: EmailMessage, display_name: str, addr_spec: str) -> None:
    address = Address(display_name=display_name, addr_spec=addr_spec)  # refuses a bad address
    if display_name.isascii():
        msg["From"] = address  # quoted as the address syntax needs
    else:
        msg.set_raw("From", f"{header_value('From', display_name)}\r\n <{address.addr_spec}>")


def _tidy(text: str) -> str:
    """At most one empty line in a row, whatever the template's blocks left behind."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
