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

import smtplib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from gateway.notices.compose import build_notice
from gateway.notices.decide import decide, undecided
from gateway.config.views import parse_smarthost
from gateway.delivery.errors import PermanentFailure
from gateway.delivery.smtp import server_name
from gateway.intake.imap_session import tls_context
from gateway.service.deadline import Deadline
from storage.outbox import SETTLED

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
        item = decide(services, item.id)
        if item is None:  # suppressed or held: recorded, nothing to send
            return SETTLED
    if not config.smarthost:
        raise RuntimeError("no smarthost configured ([notices] smarthost or SARABAN_SMARTHOST)")
    notice = build_notice(item.payload, item.key, item.created_at,
                          templates_dir(settings), config.thai_digits)
    host, port = parse_smarthost(config.smarthost)
    recipient = item.payload["to"]
    for attempt in (1, 2):
        # `timeout` bounds each notice as a whole, not each read: a smarthost trickling
        # its reply a byte at a time held the delivery thread for ever (session 17).
        opened: list[smtplib.SMTP] = []
        with Deadline(config.timeout, lambda: opened[0].sock if opened else None, f"the smarthost {host}:{port}"):
            client, reused = _session(settings, host, port, opened)
            try:
                client.sendmail(config.envelope_sender, [recipient], notice.data)
            except BaseException as exc:
                _forget_session()  # a session in an unknown state is never used again
                if reused and attempt == 1 and _closed_by_smarthost(exc):
                    continue  # the smarthost closed the session we kept: once more, on a new one
                if isinstance(exc, smtplib.SMTPRecipientsRefused):
                    code, text = exc.recipients.get(recipient, (0, b""))
                    _permanent_if_5xx(code, text, "recipient refused")
                elif isinstance(exc, smtplib.SMTPDataError):
                    _permanent_if_5xx(exc.smtp_code, exc.smtp_error, "message refused")
                raise
        break
    _sessions.last_used = time.monotonic()
    log.info("notice_sent", notice=item.payload["type"], to=recipient, key=item.key,
             queue_id=item.queue_id, unit=item.unit, message_id=notice.message_id,
             smarthost=f"{host}:{port}", new_session=not reused)


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
