"""The outbox handler for kind "notice": one SMTP transaction to the smarthost, after
the notice queued by the pipeline is decided (decide.py: suppressed, held or sent).

The session with the smarthost is kept between notices (`_session`). Idempotence: the
runner marks the item done right after this returns, i.e. right after the smarthost's
250. A crash in between (milliseconds) sends the notice again on
restart with the same Message-ID (compose.notice_message_id); SMTP has no way to close
that window, see docs/notices.md. Temporary failures (connection refused, 4xx) raise
and are retried with the runner's backoff; a 5xx for the recipient or the content is
permanent and the item goes dead at once instead of retrying for days."""
from __future__ import annotations

import re
import smtplib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import structlog

from gateway.notices.compose import Notice, build_notice
from gateway.notices.decide import decide, own_unit, undecided
from gateway.notices.sanitize import ascii_address
from gateway.config.views import parse_smarthost
from gateway.delivery.errors import PermanentFailure
from gateway.delivery.smtp import await_final_reply, server_name
from gateway.intake.imap_session import tls_context
from gateway.service.deadline import Deadline
from storage.notices import hold_notice
from storage.outbox import HELD, SETTLED

if TYPE_CHECKING:
    from gateway.config.settings import Settings
    from gateway.service.services import Services
    from storage.models import OutboxItem

log = structlog.get_logger("gateway.notices")

def templates_dir(settings: "Settings") -> str | None:
    """`[notices] templates_dir`, relative to the configuration file like other paths."""
    path = settings.notices.templates_dir
    if path is None:
        return None
    if not path.is_absolute() and settings.source is not None:
        path = Path(settings.source).parent / path
    return str(path.resolve())


def send_notice(services: "Services", item: "OutboxItem") -> str | None:
    settings = services.settings
    config = settings.notices
    if undecided(item):  # as the pipeline queued it: decide first (decide.py)
        decided = decide(services, item.id)
        if decided is None:  # suppressed or held: recorded and counted there, nothing to send
            return SETTLED
        item = decided
    unit = own_unit(services, item.payload["to"])
    if unit is not None:
        return _file_for_own_unit(services, item, unit)
    if not config.smarthost:
        raise RuntimeError("no smarthost configured ([notices] smarthost or SARABAN_SMARTHOST)")
    host, port = parse_smarthost(config.smarthost)
    built: dict[str, Notice] = {}  # by the address To: names
    if item.payload["to"].isascii():  # rendered before the smarthost is spoken to, as always
        built[item.payload["to"]] = build_notice(item.payload, item.key, item.created_at,
                                                 templates_dir(settings), config.thai_digits)
    for attempt in (1, 2):
        # `timeout` bounds each notice as a whole, not each read: a smarthost trickling
        # its reply a byte at a time held the delivery thread for ever (session 17). The
        # reply to the message's final dot alone may take FINAL_REPLY (`awaiting`).
        opened: list[smtplib.SMTP] = []
        sent_whole: list[bool] = []
        with Deadline(config.timeout, lambda: opened[0].sock if opened else None,
                      f"the smarthost {host}:{port}") as deadline:

            def awaiting() -> None:
                # A smarthost that answered the final dot after `timeout` (30 s) had the
                # notice at every attempt: eleven copies of two acknowledgements in half a
                # minute, never done (red team of 7 Dec 2026).
                sent_whole.append(True)
                await_final_reply(opened[0].sock, deadline)

            client, reused = _session(settings, host, port, opened)
            how = envelope_for(item.payload["to"], client.has_extn("smtputf8"))
            if how is None:
                if reused and attempt == 1:
                    # A kept session's EHLO may be older than the smarthost's last
                    # restart (SMTPUTF8 turned on): hold only on what a fresh EHLO says.
                    _forget_session()
                    continue
                break  # held below, the session kept: the next notice may be ASCII
            recipient, options = how
            if recipient not in built:  # the A-label form gets a To: of its own
                built[recipient] = build_notice(item.payload, item.key, item.created_at,
                                                templates_dir(settings), config.thai_digits, to=recipient)
            notice = built[recipient]
            try:
                _transmit(client, config.envelope_sender, recipient, notice.data, options, awaiting)
                _until_next_notice(client, config.timeout)
            except BaseException as exc:
                _forget_session()  # a session in an unknown state is never used again
                if reused and attempt == 1 and not sent_whole and _closed_by_smarthost(exc):
                    # The smarthost closed the session we kept: once more, on a new one.
                    # Not once the message went whole: it may have it, and sending it again
                    # now gave the sender two acknowledgements.
                    continue
                if isinstance(exc, smtplib.SMTPRecipientsRefused):
                    code, text = exc.recipients.get(recipient, (0, b""))
                    _permanent_if_5xx(code, text, "recipient refused")
                elif isinstance(exc, smtplib.SMTPDataError):
                    _permanent_if_5xx(exc.smtp_code, exc.smtp_error, "message refused")
                raise
        break
    _sessions.last_used = time.monotonic()
    if how is None:
        hold_notice(services.db, item.id, NO_SMTPUTF8_ERROR, NO_SMTPUTF8)
        log.warning("notice_held", notice=item.payload["type"], to=item.payload["to"], key=item.key,
                    queue_id=item.queue_id, unit=item.unit, reason=NO_SMTPUTF8, smarthost=f"{host}:{port}")
        return HELD
    log.info("notice_sent", notice=item.payload["type"], to=recipient, key=item.key,
             queue_id=item.queue_id, unit=item.unit, message_id=notice.message_id,
             smarthost=f"{host}:{port}", new_session=not reused, smtputf8=bool(options))
    return None


def _file_for_own_unit(services: "Services", item: "OutboxItem", unit) -> str | None:  # noqa: ANN001 - a Unit
    """A notice to a unit of this gateway (a BMA department's letter to a district,
    answered from the district's address) is filed into that unit's folder by its own
    backend, as its folder copies are, not sent to the smarthost: the smarthost gives
    mail for the unit's address back to this gateway, where the acknowledgement, having
    no PDF, was held in the sending unit's quarantine as "ไม่พบหนังสือในอีเมลนี้" (no_document)
    and the sending clerk never saw the receive number (red team of 7 Dec 2026). The
    same notice, with the fields and seal by which a retry finds it filed, exactly once
    (Maildir, IMAP) or at least once (SMTP backend)."""
    from gateway.delivery.copy_seal import notice_seal_header
    from gateway.delivery.route import destination, transport

    settings = services.settings
    # Named apart from the letter's folder copies (a letter from saraban.dds to itself
    # and a district has a copy for saraban.dds of the same queue id), one per answering
    # unit: a letter to two units gives its sender two acknowledgements.
    name_unit = f"{unit.address}.notice.{item.payload['type']}.{item.unit or ''}"
    # The fields an IMAP attempt done again searches the account for (imap.py
    # `_already_filed`), sealed: without them it never found the notice an earlier
    # attempt had stored (the daemon killed before the outbox said done, a connection
    # dropped before the server's OK), and the clerk had the acknowledgement twice.
    notice = build_notice(item.payload, item.key, item.created_at, templates_dir(settings),
                          settings.notices.thai_digits,
                          filed_as=(("X-Saraban-Queue-Id", item.queue_id), ("X-Saraban-Unit", name_unit),
                                    notice_seal_header(settings.data_dir, name_unit, item.queue_id)))
    where = destination(settings, unit.address, unit.folder)
    went = transport(services, item, where, item.queue_id, name_unit, notice.data)
    log.info("notice_filed", notice=item.payload["type"], to=item.payload["to"], key=item.key,
             queue_id=item.queue_id, unit=item.unit, message_id=notice.message_id, **went)
    return None


def _transmit(client: smtplib.SMTP, sender: str, recipient: str, data: bytes, options: list[str],
              awaiting: Callable[[], None] = lambda: None) -> None:
    """One notice on `client`'s session; raises what `smtplib.SMTP.sendmail` raises in
    the same cases (the caller closes the session on any of them, never RSETs).
    `awaiting` is called once the message has gone whole, before its reply is read.

    Where the smarthost announces PIPELINING (RFC 2920; Postfix, Exim and Microsoft 365
    do), MAIL, RCPT and DATA go in one write and their three replies are read after it,
    as Postfix's own SMTP client sends them: two round trips a notice instead of four.
    A delivery thread waits on those replies, and it files the next letter only after
    this one's notice (docs/notices.md). Without PIPELINING, one command a round trip."""
    params = ([f"SIZE={len(data)}"] if client.has_extn("size") else []) + list(options)
    if not client.has_extn("pipelining"):
        code, text = client.mail(sender, params)
        if code != 250:
            if code == 421:
                client.close()
            raise smtplib.SMTPSenderRefused(code, text, sender)
        code, text = client.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
        code, text = client.docmd("DATA")
    else:
        if any(option.upper() == "SMTPUTF8" for option in options):
            client.command_encoding = "utf-8"  # as smtplib's mail() sets it for SMTPUTF8
        mail = f"MAIL FROM:{smtplib.quoteaddr(sender)}{''.join(' ' + p for p in params)}"
        client.send(f"{mail}\r\nRCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n")
        code, text = client.getreply()
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, text, sender)
        code, text = client.getreply()
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
        code, text = client.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, text)
    body = _LINE_START_DOT.sub(b"..", data)  # RFC 5321 4.5.2: a line's leading dot doubled
    client.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    awaiting()
    code, text = client.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, text)


def _until_next_notice(client: smtplib.SMTP, timeout: float) -> None:
    """The kept session's reads are bounded by `timeout` again."""
    if client.sock is not None:
        client.sock.settimeout(timeout)


_LINE_START_DOT = re.compile(rb"(?m)^\.")


# A notice to a non-ASCII local part (สมชาย@...) through a smarthost that does not offer
# SMTPUTF8 (RFC 6531): it cannot be sent there, and is held with this reason (the
# stored error gateway/delivery/error_texts.py words in Thai and English).
NO_SMTPUTF8 = "smarthost_lacks_smtputf8"
NO_SMTPUTF8_ERROR = "SmarthostLacksSmtputf8: the smarthost did not announce SMTPUTF8 in its EHLO"


def envelope_for(address: str, smtputf8: bool) -> tuple[str, list[str]] | None:
    """(the RCPT TO address, MAIL FROM options) for a notice to `address` through a
    smarthost that does (or does not) offer SMTPUTF8; None when it cannot take it.
    ASCII as it is. A UTF-8 address with SMTPUTF8, as the sender wrote it. Without it,
    an ASCII local part at a Thai-script domain by the domain's A-labels (somchai@
    xn--12cr8ec6ec.xn--o3cw4h, the same mailbox: RFC 5890); a Thai local part has no
    ASCII form (RFC 6530 has no downgrade of the envelope), so None."""
    if address.isascii():
        return address, []
    if smtputf8:
        return address, ["SMTPUTF8"]
    if address.rpartition("@")[0].isascii():
        return ascii_address(address), []
    return None


# One smarthost session per delivery thread, kept from one notice to the next: a burst
# of letters is answered over one connection (one TCP handshake, EHLO, STARTTLS and
# AUTH, not one per notice), as Postfix's SMTP client keeps its connections. A session
# idle for SESSION_IDLE seconds is closed (QUIT) before the next notice opens a new one,
# well inside a smarthost's own idle timeout (Postfix: 300 s); one the smarthost closed
# anyway fails at its next MAIL FROM and that notice is sent at once on a new session.
SESSION_IDLE = 10.0
_sessions = threading.local()


def _session(settings: "Settings", host: str, port: int, opened: list) -> tuple[smtplib.SMTP, bool]:
    """(this thread's session with the smarthost, whether it was kept from before);
    the client is put in `opened` before it connects, for the caller's deadline."""
    config = settings.notices
    key = (host, port, config.uses_starttls, config.ca_file, config.username, settings.smtp.hostname, config.timeout)
    client = getattr(_sessions, "client", None)
    if client is not None:
        if _sessions.key == key and time.monotonic() - _sessions.last_used < SESSION_IDLE:
            opened.append(client)
            return client, True
        close_notice_sessions()
    client = smtplib.SMTP(local_hostname=settings.smtp.hostname, timeout=config.timeout)
    server_name(client, host)
    opened.append(client)
    try:
        code, greeting = client.connect(host, port)
        if code != 220:  # as smtplib.SMTP(host) does when it connects
            raise smtplib.SMTPConnectError(code, greeting)
        client.ehlo()
        if config.uses_starttls:
            client.starttls(context=tls_context(settings.config_relative(config.ca_file) if config.ca_file else None,
                                                True))
            client.ehlo()
        if config.username:
            client.login(config.username, config.password or "")
    except BaseException:
        client.close()
        raise
    _sessions.client, _sessions.key, _sessions.last_used = client, key, time.monotonic()
    return client, False


def _closed_by_smarthost(exc: BaseException) -> bool:
    """The kept session was gone before this notice: the connection dropped, or the
    smarthost answered MAIL FROM with 421 (closing)."""
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return exc.smtp_code == 421
    return isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError))


def _forget_session() -> None:
    client, _sessions.client = getattr(_sessions, "client", None), None
    if client is not None:
        client.close()


def close_notice_sessions(idle_only: bool = False) -> None:
    """End this thread's smarthost session, if one is open; with `idle_only`, only if it
    has been idle for SESSION_IDLE (the runner's threads call this when they have nothing
    to do, and on their way out). QUIT gets a second: a smarthost that hangs must not
    hold up a stopping runner."""
    client = getattr(_sessions, "client", None)
    if client is None or (idle_only and time.monotonic() - _sessions.last_used < SESSION_IDLE):
        return
    _sessions.client = None
    try:
        with Deadline(1.0, lambda: client.sock, "the smarthost"):
            client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _permanent_if_5xx(code: int, text: bytes | str, what: str) -> None:
    if 500 <= code < 600:
        detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        raise PermanentFailure(f"{what}: {code} {detail}")
