"""Build the notice message from its outbox payload: Thai first, English below,
text/plain and text/html alternatives, threaded to the letter it answers.

Written as bytes here, each header already encoded by mime_attach.header_value, which
never writes a CR or LF but in a fold: a line break of any kind in a value becomes
encoded words. The values were cleaned before (sanitize.py); this is the second lock."""
from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
import hashlib
import re
import uuid
from email.headerregistry import Address
from functools import lru_cache
from email.message import EmailMessage
from typing import Any, NamedTuple

from gateway.notices.loop_guard import NOTICE_HEADER
from gateway.notices.sanitize import clean_address, clean_text
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


class Notice(NamedTuple):
    """A notice as sent: its Message-ID and its bytes (CRLF lines)."""

    message_id: str
    data: bytes

    def parsed(self) -> EmailMessage:
        """As a mail client reads it (the preview command, tests)."""
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


def build_notice(payload: dict[str, Any], key: str, created_at: dt.datetime,
                 templates_dir: str | None = None, use_thai_digits: bool = False,
                 to: str | None = None, filed_as: tuple[tuple[str, str], ...] = ()) -> Notice:
    """`to`: the address To: names, when not the payload's as it is (its A-label form for
    a smarthost without SMTPUTF8, send.py). A non-ASCII one is written as it is, in UTF-8
    (RFC 6532 3.2): the notice then goes with SMTPUTF8 and only so; an encoded-word is
    no addr-spec (RFC 2047 5). `filed_as`: the X-Saraban-* fields of a notice filed into
    a unit's folder (send.py `_file_for_own_unit`), by which an attempt done again finds it."""
    notice_type = payload["type"]
    to = payload["to"] if to is None else to
    env = environment(templates_dir, use_thai_digits)
    context = template_context(payload, use_thai_digits)
    subject = clean_text(render(env, notice_type, "subject", context), MAX_SUBJECT)
    text = _tidy(render(env, notice_type, "txt", context))
    html = render(env, notice_type, "html", context)

    sender = payload["from"]
    domain = sender.rpartition("@")[2] or "localhost"
    message_id = notice_message_id(key, domain)
    boundary = f"=_saraban-{uuid.uuid4().hex}"
    head = [
        _from(clean_text(context["unit_th"], 120), sender),
        "To: " + _checked_address("", to),  # refuses a bad one
        _field("Subject", subject),
        _field("Date", email.utils.format_datetime(to_bangkok(created_at))),
        _field("Message-ID", message_id),
    ]
    if payload.get("in_reply_to"):
        head.append(_field("In-Reply-To", payload["in_reply_to"]))
    if payload.get("references"):
        head.append(_field("References", " ".join(payload["references"])))
    head += [
        # RFC 3834: mark it automatic, so that well-behaved responders do not answer it;
        # our own header lets a gateway recognise its own notice even if a relay dropped that.
        _field("Auto-Submitted", "auto-replied"),
        _field(NOTICE_HEADER, notice_type),
        *(_field(name, value) for name, value in filed_as),
        _field("X-Auto-Response-Suppress", "All"),  # Exchange: no out-of-office replies to this
        _field("Content-Language", "th, en"),
        "MIME-Version: 1.0",
        _field("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    data = "\r\n".join((
        *head, "",
        f"--{boundary}", _text_part(text, "plain"),
        f"--{boundary}", _text_part(html, "html"),
        f"--{boundary}--", "",
    )).encode("ascii" if to.isascii() else "utf-8")
    return Notice(message_id, data)


# The message is written here, not by the email package: every header is already
# encoded and folded (header_value), and the email package's header objects would parse
# every value on the way in and fold it again on the way out, its generator walk the
# tree again (~3 ms of a notice's ~4). header_value never writes a CR or LF but in a
# fold: a value with a line break of any kind becomes encoded words, so no value can
# start a header of its own (the values were cleaned before, sanitize.py). The text
# parts are base64, so no line of a body can be a boundary.


def _field(name: str, value: str) -> str:
    return f"{name}: {header_value(name, value)}"


def _text_part(text: str, subtype: str) -> str:
    """text/<subtype> in UTF-8, base64 in 76-character lines (as the email package writes it)."""
    body = base64.encodebytes(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")).decode("ascii")
    return "\r\n".join((
        _field("Content-Type", f'text/{subtype}; charset="utf-8"'),
        "Content-Transfer-Encoding: base64",
        "",
        body.rstrip("\n").replace("\n", "\r\n"),
        "",
    ))


def _from(display_name: str, addr_spec: str) -> str:
    if display_name.isascii():
        return _field("From", _checked_address(display_name, addr_spec))  # quoted as the syntax needs
    return f"From: {header_value('From', display_name)}\r\n <{_checked_address('', addr_spec)}>"


@lru_cache(maxsize=1024)
def _checked_address(display_name: str, addr_spec: str) -> str:
    """`Address(display_name, addr_spec)` as text; raises for a bad address. Kept per
    address: the email package's address parser is ~1 ms of a notice's ~3, and a burst
    of notices goes from a few unit addresses to a few senders."""
    if not addr_spec.isascii():  # RFC 6532: the email package refuses a UTF-8 local part
        if display_name or clean_address(addr_spec) != addr_spec:
            raise ValueError(f"not an address a notice goes to: {addr_spec!r}")
        return addr_spec
    if not display_name:
        return Address(addr_spec=addr_spec).addr_spec
    return str(Address(display_name=display_name, addr_spec=addr_spec))


def _tidy(text: str) -> str:
    """At most one empty line in a row, whatever the template's blocks left behind."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
