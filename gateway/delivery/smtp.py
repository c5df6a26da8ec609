"""Forward a folder copy by SMTP to a unit's departmental addresses.

SMTP has no way to ask "did you already take this?", so a forward whose reply was lost
may arrive twice (at least once, never lost); the copy keeps the sender's Message-ID
and carries X-Saraban-Queue-Id, by which a mail client or a sieve rule can drop the
second one."""
from __future__ import annotations

import smtplib
import ssl

import structlog

from gateway.config.delivery import SmtpForward
from gateway.delivery.folder_copy import on_the_wire
from gateway.intake.imap_session import tls_context

log = structlog.get_logger("gateway.deliver.smtp")


def forward(relay: SmtpForward, data: bytes, mail_from: str, to: list[str]) -> None:
    """Raises smtplib.SMTPException or OSError on failure (the outbox retries)."""
    context: ssl.SSLContext | None = tls_context(relay.ca_file, True) if (relay.tls or relay.starttls) else None
    if relay.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout, context=context)
    else:
        client = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
    with client:
        client.ehlo()
        if relay.starttls:
            client.starttls(context=context)
            client.ehlo()
        password = relay.secret()
        if relay.username and password:
            client.login(relay.username, password)
        # smtplib sends bytes as given: a bare LF would reach the peer (RFC 5321 §2.3.8).
        refused = client.sendmail(mail_from, to, on_the_wire(data))
    if refused:
        # Some got it; the outbox retries only the whole item, so say who did not.
        raise smtplib.SMTPRecipientsRefused(refused)
