"""Forward a folder copy by SMTP to a unit's departmental addresses.

SMTP has no way to ask "did you already take this?", so a forward whose reply was lost
may arrive twice (at least once, never lost); the copy keeps the sender's Message-ID
and carries X-Saraban-Queue-Id, by which a mail client or a sieve rule can drop the
second one."""
from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING

import structlog

from gateway.delivery.wire import on_the_wire
from gateway.intake.imap_session import tls_context
from gateway.service.deadline import Deadline

if TYPE_CHECKING:
    from gateway.config.delivery import SmtpForward

log = structlog.get_logger("gateway.deliver.smtp")


def forward(relay: SmtpForward, data: bytes, mail_from: str, to: list[str]) -> None:
    """Raises smtplib.SMTPException or OSError on failure (the outbox retries);
    DeadlinePassed when the whole transaction took longer than `timeout` plus a second
    per MB (a relay that trickles its replies defeats the per-read timeout)."""
    context: ssl.SSLContext | None = tls_context(relay.ca_file, True) if (relay.tls or relay.uses_starttls) else None
    client: smtplib.SMTP = (smtplib.SMTP_SSL(timeout=relay.timeout, context=context) if relay.tls
                            else smtplib.SMTP(timeout=relay.timeout))
    server_name(client, relay.host)
    with Deadline(relay.timeout + len(data) / 1_000_000, lambda: client.sock, f"the relay {relay.host}:{relay.port}"):
        code, greeting = client.connect(relay.host, relay.port)
        if code != 220:  # as smtplib.SMTP(host) does when it connects
            client.close()
            raise smtplib.SMTPConnectError(code, greeting)
        with client:
            client.ehlo()
            if relay.uses_starttls:
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


def server_name(client: smtplib.SMTP, host: str) -> None:
    """The name TLS checks the server's certificate against, for a client made without a
    host (so that it connects inside the caller's deadline). smtplib takes that name from
    its constructor's `host` alone: `connect(host)` leaves it "", and STARTTLS or
    implicit TLS then failed before a byte was sent ("check_hostname requires
    server_hostname"), every forward and notice to a relay not on this host, whose
    default is STARTTLS (session 35's red team)."""
    client._host = host  # noqa: SLF001 - smtplib's own attribute for it (3.11-3.13)
