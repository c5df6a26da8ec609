"""Forward a folder copy by SMTP to a unit's departmental addresses.

SMTP has no way to ask "did you already take this?", so a forward whose reply was lost
may arrive twice (at least once, never lost); the copy keeps the sender's Message-ID
and carries X-Saraban-Queue-Id, by which a mail client or a sieve rule can drop the
second one."""
from __future__ import annotations

import smtplib
import ssl
import time
from typing import TYPE_CHECKING

import structlog

from gateway.delivery.wire import for_relay, on_the_wire
from gateway.intake.imap_session import reset_when_closed, tls_context, unsent_bytes
from gateway.service.deadline import Deadline

if TYPE_CHECKING:
    from gateway.config.delivery import SmtpForward

log = structlog.get_logger("gateway.deliver.smtp")


# How long the reply to a message's final dot may take: RFC 5321 4.5.3.2.6's 10 minutes,
# Postfix's smtp_data_done_timeout. The relay (or the smarthost, for a notice) has the
# message by then and is delivering it or running its content filter: cut at `timeout`,
# it was sent again at every attempt (red team of 7 Dec 2026).
FINAL_REPLY = 600.0


def await_final_reply(sock, deadline: Deadline | None) -> None:  # noqa: ANN001 - a socket
    """The message went whole: its reply may take FINAL_REPLY, for the socket's reads and
    for the transaction's deadline (a relay's folder copy and a smarthost's notice alike)."""
    if deadline is not None:
        deadline.extend(FINAL_REPLY)
    if sock is not None:
        sock.settimeout(FINAL_REPLY)

# A send's `timeout` is for this many bytes at a time, not for the whole letter.
SEND_CHUNK = 64 * 1024
# The whole transaction's bound: `timeout`, and a second for each this many bytes (a
# line of 400 kbit/s), against a relay that trickles its replies.
BYTES_A_SECOND = 50_000


class _ChunkedSend:
    """smtplib's `send` with the socket's timeout per SEND_CHUNK: Python's `sendall` takes
    the timeout for the whole call, so a letter whose upload took longer than `timeout`
    (2.5 MB over a 1 Mbit/s line to a unit's server, `timeout = 10`) was cut at every
    attempt and never delivered (session 35's red team), as IMAP's APPEND was until
    session 20."""

    until = float("inf")  # the whole transaction's end (time.monotonic()), set by `forward`
    deadline: Deadline | None = None  # `forward`'s, extended for the reply to the final dot
    in_data = False  # within `data`: its DATA command, then the message with its final dot

    def data(self, msg):  # noqa: ANN001, ANN201 - smtplib's own
        """smtplib's DATA, its final reply awaited up to FINAL_REPLY once the message went
        whole: a folder copy is never given up, and a relay slower than `timeout` to
        answer the dot got the letter again at every attempt, for as long as it stayed so."""
        self.in_data = True
        try:
            return super().data(msg)
        finally:
            self.in_data = False
            if self.sock is not None:
                self.sock.settimeout(self.timeout)  # QUIT's answer, whatever DATA's was: `timeout`

    def send(self, s) -> None:
        if not self.sock:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        view = memoryview(data)
        try:
            for start in range(0, len(view), SEND_CHUNK):
                if time.monotonic() > self.until:
                    raise TimeoutError("the whole transaction's time passed")
                self.sock.sendall(view[start:start + SEND_CHUNK])
            if len(view) > SEND_CHUNK:
                _drained(self.sock, self.timeout, self.until)
            if self.in_data and data.endswith(b"\r\n.\r\n"):  # the message went whole: its reply next
                await_final_reply(self.sock, self.deadline)
        except OSError as exc:
            # Reset, not closed: the kernel would go on sending what it holds of the
            # letter, its final dot included, and a relay that took it all in the end
            # would have a copy the outbox then sends again.
            reset_when_closed(self.sock)
            self.close()
            raise smtplib.SMTPServerDisconnected(f"the relay stopped taking the letter: {exc}") from None


def _drained(sock, timeout: float, until: float) -> None:
    """Wait while the kernel still holds bytes of ours the server has not acknowledged,
    as long as it acknowledges more within `timeout` and the transaction's time lasts:
    what the last sends left in the socket's buffers goes on down a slow line after
    `sendall` returned, and the wait for the reply, `timeout` long, would otherwise start
    the moment it did. (Without `until`, a relay taking a few bytes a second held the
    thread for minutes past its deadline: session 35's third red team.)"""
    left, since = unsent_bytes(sock) or 0, time.monotonic()
    while left:
        time.sleep(0.05)
        now = time.monotonic()
        if now > until:
            raise TimeoutError(f"the relay had not taken the letter's last {left} bytes when its time passed")
        now_left = unsent_bytes(sock) or 0
        if now_left < left:
            left, since = now_left, now
        elif now - since > timeout:
            raise TimeoutError(f"the relay took none of the letter's last {left} bytes within {timeout:.0f}s")


def _quit(client: smtplib.SMTP) -> None:
    """QUIT, whatever the relay answers: once it said 250 to the letter, the letter is
    theirs. `with client` raised for any answer but 221 (a 250, a 421), and the outbox
    sent the accepted letter again (session 35's third red team)."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class _SMTP(_ChunkedSend, smtplib.SMTP):
    pass


class _SMTPSSL(_ChunkedSend, smtplib.SMTP_SSL):
    pass


def forward(relay: SmtpForward, data: bytes, mail_from: str, to: list[str]) -> None:
    """Raises smtplib.SMTPException or OSError on failure (the outbox retries);
    DeadlinePassed when the whole transaction took longer than `timeout` plus a second
    per 50 kB (a relay that trickles its replies defeats the per-read timeout)."""
    context: ssl.SSLContext | None = tls_context(relay.ca_file, True) if (relay.tls or relay.uses_starttls) else None
    client: smtplib.SMTP = (_SMTPSSL(timeout=relay.timeout, context=context) if relay.tls
                            else _SMTP(timeout=relay.timeout))
    server_name(client, relay.host)
    limit = relay.timeout + len(data) / BYTES_A_SECOND
    client.until = time.monotonic() + limit
    with Deadline(limit, lambda: client.sock, f"the relay {relay.host}:{relay.port}") as client.deadline:
        code, greeting = client.connect(relay.host, relay.port)
        if code != 220:  # as smtplib.SMTP(host) does when it connects
            client.close()
            raise smtplib.SMTPConnectError(code, greeting)
        try:
            client.ehlo()
            if relay.uses_starttls:
                client.starttls(context=context)
                client.ehlo()
            password = relay.secret()
            if relay.username and password:
                client.login(relay.username, password)
            # smtplib sends bytes as given: a bare LF would reach the peer (RFC 5321 §2.3.8).
            wire, options = for_relay(on_the_wire(data), client.has_extn("8bitmime"), client.has_extn("smtputf8"))
            refused = client.sendmail(mail_from, to, wire, mail_options=options)
        finally:
            _quit(client)
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
