"""A real SMTP server standing in for the smarthost: records what the gateway sends."""
from __future__ import annotations

import asyncio
import email
import re
import socket
import ssl
import email.policy
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller

_BARE_LINE_END = re.compile(rb"(?<!\r)\n|\r(?!\n)")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple = ()  # the client's address and port: one per SMTP connection
    mail_options: tuple = ()  # MAIL FROM's parameters as sent (SMTPUTF8, SIZE=...)

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Handler:
    def __init__(self, sink: "Sink"):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.sink.pipelining:
            return responses
        *lines, last = responses  # aiosmtpd reads pipelined commands in order, as Postfix does
        return [*lines, "250-PIPELINING", last]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.mail_reply_once:  # e.g. 421: the smarthost closing a session it timed out
            reply, self.sink.mail_reply_once = self.sink.mail_reply_once, None
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        return self.sink.quit_reply or "221 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.refuse_rcpt is True or address in (self.sink.refuse_rcpt or ()):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if self.sink.strict_line_ends and _BARE_LINE_END.search(raw):
            # As strict MTAs do: RFC 5321 §2.3.8 forbids a bare LF (or CR) from a client.
            return "500 5.5.2 Line ends must be CRLF: bare LF refused (RFC 5321 2.3.8)"
        if self.sink.hold_data is not None:
            # Keep the client waiting for its reply, as a slow smarthost would.
            self.sink.data_arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.sink.hold_data.wait)
            if self.sink.reply_after_hold:
                return self.sink.reply_after_hold
        with self.sink.lock:
            self.sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                               envelope.original_content or envelope.content,
                                               tuple(session.peer or ()), tuple(envelope.mail_options)))
        return "250 2.0.0 OK stored"


class _ImplicitTls(Controller):
    def _trigger_server(self) -> None:
        # aiosmtpd's own check wraps its probe in a client context made from the server's,
        # which verifies nothing it can: a TLS connection that does not check the test
        # certificate does the same job (the factory is invoked on accept).
        probe = ssl.create_default_context()
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), 1.0) as raw, \
                probe.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            wrapped.recv(1024)


class Sink:
    """Start/stop on a fixed port, so it can be "down" and come back on the same address."""

    def __init__(self, port: int, tls: str | None = None, certificate: tuple | None = None):
        """`tls`: "starttls" (required before MAIL) or "implicit" (port 465 style), with
        `certificate` (cert.pem, key.pem: tests/servers/tls.py write_self_signed)."""
        self.port = port
        self.tls, self.certificate = tls, certificate
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.refuse_rcpt: bool | set[str] = False  # True: every recipient; a set: those addresses
        self.mail_reply_once: str | None = None  # the next MAIL FROM's reply instead of 250
        self.strict_line_ends = False  # True: 500 for a message with a bare LF or CR
        self.quit_reply: str | None = None  # QUIT's answer instead of 221 (a relay that says 250, 421)
        self.hold_data: threading.Event | None = None
        self.reply_after_hold: str | None = None
        self.data_arrived = threading.Event()
        # Announce SMTPUTF8 (RFC 6531) in EHLO and take UTF-8 addresses; as aiosmtpd's
        # default, without it a non-ASCII command is refused.
        self.smtputf8 = False
        # Announce PIPELINING (RFC 2920) in EHLO, as Postfix and most smarthosts do.
        self.pipelining = True
        self._controller: Controller | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Sink":
        if self.tls is None:
            self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                          enable_SMTPUTF8=self.smtputf8)
        else:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.certificate))
            if self.tls == "starttls":
                self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                              tls_context=context, require_starttls=True)
            else:
                self._controller = _ImplicitTls(_Handler(self), hostname="127.0.0.1", port=self.port,
                                                ssl_context=context)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            if self.hold_data is not None:
                self.hold_data.set()
            self._controller.stop()
            self._controller = None

    def messages(self, to: str | None = None) -> list[Received]:
        with self.lock:
            items = list(self.received)
        return [r for r in items if to is None or to in r.rcpt_tos]

    def wait(self, count: int = 1, to: str | None = None, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages(to)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"sink got {len(self.messages(to))} message(s) for {to}, expected {count}")
