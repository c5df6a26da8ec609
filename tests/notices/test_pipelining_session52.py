"""Notices to a smarthost that announces PIPELINING (RFC 2920): MAIL, RCPT and DATA in
one write, their replies read after it, each failure mapped as before.

The smarthost here is a raw SMTP server that records which of its reads brought each
command, so "in one write" is what the smarthost saw, not what the client meant."""
from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import threading

import pytest

from gateway.notices.send import _transmit
from tests.letters import letter
from tests.notices.conftest import notices_config

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


class RawSmarthost:
    """One SMTP server thread; `replies` overrides a command's reply ("MAIL", "RCPT",
    "DATA", "END" for the end of the message), once each when `once` is set."""

    def __init__(self, pipelining: bool = True, replies: dict[str, str] | None = None, once: bool = False):
        self.pipelining = pipelining
        self.replies = dict(replies or {})
        self.once = once
        self.commands: list[tuple[int, int, str]] = []  # (connection, read number, command line)
        self.messages: list[bytes] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _reply(self, what: str, default: str) -> str:
        with self.lock:
            reply = self.replies.get(what, default)
            if self.once:
                self.replies.pop(what, None)
        return reply

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._connections += 1
            threading.Thread(target=self._serve, args=(conn, self._connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            self._converse(conn, number)
        except OSError:
            pass  # the client went: a refused transaction's session is closed, not reset
        finally:
            conn.close()

    def _converse(self, conn: socket.socket, number: int) -> None:
        conn.sendall(b"220 raw.test ESMTP\r\n")
        buffer, reads, data = b"", 0, None
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            reads += 1
            buffer += chunk
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                if data is not None:
                    if line == b".":
                        reply = self._reply("END", "250 2.0.0 queued")
                        if reply.startswith("250"):
                            with self.lock:
                                self.messages.append(b"".join(data))
                        data = None
                        conn.sendall(reply.encode() + b"\r\n")
                    else:
                        data.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
                    continue
                text = line.decode("utf-8", "replace")
                verb = text[:4].upper()
                with self.lock:
                    self.commands.append((number, reads, text))
                if verb == "EHLO":
                    extra = "250-PIPELINING\r\n" if self.pipelining else ""
                    conn.sendall(f"250-raw.test\r\n{extra}250-SIZE 10000000\r\n250 8BITMIME\r\n".encode())
                elif verb == "MAIL":
                    conn.sendall(self._reply("MAIL", "250 2.1.0 ok").encode() + b"\r\n")
                elif verb == "RCPT":
                    conn.sendall(self._reply("RCPT", "250 2.1.5 ok").encode() + b"\r\n")
                elif verb == "DATA":
                    reply = self._reply("DATA", "354 go ahead")
                    conn.sendall(reply.encode() + b"\r\n")
                    if reply.startswith("354"):
                        data = []
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def envelope_reads(self) -> list[set[tuple[int, int]]]:
        """For each transaction, the (connection, read) pairs its MAIL, RCPT and DATA came in."""
        with self.lock:
            commands = list(self.commands)
        out = []
        for i, (conn, read, text) in enumerate(commands):
            if text.upper().startswith("MAIL"):
                rest = [c for c in commands[i + 1:i + 3]]
                out.append({(conn, read)} | {(c, r) for c, r, _ in rest})
        return out


@pytest.fixture
def smarthost():
    hosts = []

    def make(**kw) -> RawSmarthost:
        hosts.append(RawSmarthost(**kw))
        return hosts[-1]

    yield make
    for host in hosts:
        host.close()


def _client(host: RawSmarthost) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", host.port, timeout=10)
    client.ehlo("gateway.test")
    return client


def test_the_envelope_and_data_command_reach_a_pipelining_smarthost_in_one_write(smarthost):
    host = smarthost()
    client = _client(host)
    body = b"Subject: x\r\n\r\n.a line that starts with a dot\r\n.\r\nno line end at the end"
    _transmit(client, "saraban-noreply@bangkok.go.th", "somchai@moi.go.th", body, [])
    client.quit()
    assert host.envelope_reads() == [{(1, 2)}]  # EHLO was read 1, MAIL RCPT DATA together read 2
    # What the smarthost stored is the notice as written, its dots undone, a line end added.
    assert host.messages == [body + b"\r\n"]


def test_a_smarthost_without_pipelining_gets_one_command_a_round_trip(smarthost):
    host = smarthost(pipelining=False)
    client = _client(host)
    body = b"Subject: x\r\n\r\n.dot\r\n"
    _transmit(client, "saraban-noreply@bangkok.go.th", "somchai@moi.go.th", body, [])
    client.quit()
    [reads] = host.envelope_reads()
    assert len(reads) == 3  # MAIL, RCPT and DATA each in a read of its own
    assert host.messages == [body]


@pytest.mark.parametrize("command, reply, error, code", [
    ("MAIL", "451 4.3.0 try later", smtplib.SMTPSenderRefused, 451),
    ("MAIL", "421 4.4.2 closing", smtplib.SMTPSenderRefused, 421),
    ("RCPT", "550 5.1.1 no such user", smtplib.SMTPRecipientsRefused, 550),
    ("RCPT", "450 4.2.1 mailbox busy", smtplib.SMTPRecipientsRefused, 450),
    ("DATA", "554 5.5.1 no valid recipients", smtplib.SMTPDataError, 554),
    ("END", "552 5.3.4 message too big", smtplib.SMTPDataError, 552),
    ("END", "451 4.3.0 queue full", smtplib.SMTPDataError, 451),
])
def test_each_refusal_in_a_pipelined_transaction_is_what_sendmail_raised(smarthost, command, reply, error, code):
    host = smarthost(replies={command: reply})
    client = _client(host)
    with pytest.raises(error) as raised:
        _transmit(client, "saraban-noreply@bangkok.go.th", "somchai@moi.go.th", b"Subject: x\r\n\r\nbody\r\n", [])
    client.close()
    exc = raised.value
    got = exc.recipients["somchai@moi.go.th"][0] if isinstance(exc, smtplib.SMTPRecipientsRefused) else exc.smtp_code
    assert got == code
    assert host.messages == []


def _notice_events(daemon, name):
    return [e for e in daemon.events() if e.get("event") == name and e.get("kind", "notice") == "notice"]


def test_the_daemons_acknowledgement_goes_pipelined_and_whole(daemon_factory, smarthost):
    host = smarthost()
    d = daemon_factory(extra=notices_config(host)).start()
    d.send(letter(), LATKRABANG)
    status = d.wait_for(lambda: (s := d.status())["outbox"].get("notice") == {"done": 1} and s,
                        what="the acknowledgement sent")
    assert status["letters"] == 1
    [message] = host.messages
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert "ได้รับหนังสือแล้ว" in parsed["Subject"]
    assert parsed["X-Saraban-Notice"] == "ack"
    [reads] = host.envelope_reads()
    assert len(reads) == 1  # one write: MAIL, RCPT, DATA


def test_a_temporary_refusal_mid_pipeline_is_retried_on_a_new_session_and_sent_once(daemon_factory, smarthost):
    host = smarthost(replies={"RCPT": "450 4.2.1 mailbox busy, try later"}, once=True)
    d = daemon_factory(extra=notices_config(host)).start()
    d.send(letter(), LATKRABANG)
    d.wait_for(lambda: d.status()["outbox"].get("notice") == {"done": 1}, what="the acknowledgement sent")
    retries = [e for e in d.events() if e.get("event") == "delivery_retry" and e.get("kind") == "notice"]
    assert len(retries) == 1 and "450" in retries[0]["error"]
    assert len(host.messages) == 1
    # The refused transaction's session was not used again: the retry came on a second connection.
    first, second = host.envelope_reads()
    assert {conn for conn, _read in first} == {1} and {conn for conn, _read in second} == {2}
