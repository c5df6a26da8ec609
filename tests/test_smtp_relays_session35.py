"""Folder copies and notices to a real relay over TLS, and over a slow line (red team of
session 35).

Every test forwarded to a relay on 127.0.0.1, whose default is plain text, so no one
saw that no TLS session could start at all: the SMTP client was made without a host
(to connect inside the caller's deadline) and smtplib takes the name it checks the
certificate against from its constructor only. STARTTLS, the default for any relay or
smarthost not on this host, and implicit TLS both failed with "check_hostname requires
server_hostname" before a byte was sent: every folder copy by SMTP and every notice
waited for ever. These send through real STARTTLS and implicit-TLS servers whose
certificate the gateway is told to trust (`ca_file`), and check that one naming another
host is still refused.

And a copy whose upload takes longer than `timeout` (a big letter over a slow line to a
unit's server) was cut at every attempt and never delivered: Python's `sendall` takes
the socket's timeout for the whole call."""
from __future__ import annotations

import ssl
import time

import pytest

from gateway.config.delivery import SmtpForward
from gateway.delivery.smtp import forward
from tests.daemon import free_port
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.servers.passthrough import PassThrough
from tests.servers.tls import write_self_signed

COPY = b"Subject: x\r\nMessage-ID: <tls-relay@test>\r\n\r\nthe folder copy\r\n"
DEPT = "admin.pomprap@bangkok.go.th"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return write_self_signed(tmp_path_factory.mktemp("relay-cert"))  # localhost and 127.0.0.1


@pytest.fixture
def relay(request, certificate):
    sink = Sink(free_port(), tls=request.param, certificate=certificate).start()
    yield sink
    sink.stop()


@pytest.mark.parametrize("relay", ["starttls", "implicit"], indirect=True)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_copy_is_forwarded_over_tls_to_a_relay_whose_certificate_is_trusted(relay, host, certificate):
    tls = {"tls": True} if relay.tls == "implicit" else {"starttls": True}
    forward(SmtpForward(host=host, port=relay.port, ca_file=certificate[0], timeout=10, **tls),
            COPY, "saraban.pomprap@bangkok.go.th", [DEPT])
    (got,) = relay.wait(1, to=DEPT)
    assert b"the folder copy" in got.data


@pytest.mark.parametrize("relay", ["starttls"], indirect=True)
def test_a_relay_whose_certificate_names_another_host_is_refused(relay, tmp_path):
    other = write_self_signed(tmp_path, host="other.example")  # and 127.0.0.1: not localhost
    relay.stop()
    relay.certificate = other
    relay.start()
    with pytest.raises(ssl.SSLCertVerificationError):
        forward(SmtpForward(host="localhost", port=relay.port, starttls=True, ca_file=other[0], timeout=10),
                COPY, "saraban.pomprap@bangkok.go.th", [DEPT])
    # And one the gateway was not told to trust, for the right name.
    with pytest.raises(ssl.SSLCertVerificationError):
        forward(SmtpForward(host="127.0.0.1", port=relay.port, starttls=True, timeout=10),
                COPY, "saraban.pomprap@bangkok.go.th", [DEPT])
    assert relay.messages() == []


@pytest.mark.parametrize("relay", ["starttls"], indirect=True)
def test_the_daemon_files_by_smtp_and_sends_its_notice_over_starttls(relay, certificate, daemon_factory):
    """The whole path: a unit whose copies go to a STARTTLS relay, notices through a
    STARTTLS smarthost, both trusting the relay's private CA (`ca_file`)."""
    cert = certificate[0]
    extra = notices_config(relay, starttls=True, ca_file=str(cert)) + f"""
[delivery.smtp.relay]
host = "127.0.0.1"
port = {relay.port}
starttls = true
ca_file = "{cert}"
timeout = 10

[delivery.units."saraban.pomprap"]
backend = "smtp"
to = ["{DEPT}"]
"""
    d = daemon_factory(extra=extra).start()
    d.send(letter(to="saraban.pomprap@bangkok.go.th"), "saraban.pomprap@bangkok.go.th")
    (copy,) = relay.wait(1, to=DEPT)
    assert b"X-Saraban-Receive-No" in copy.data
    (notice,) = relay.wait(1, to="saraban.dds@bangkok.go.th")
    assert notice.message["Subject"]
    assert not [e for e in d.events() if "server_hostname" in str(e)]


class SlowLine(PassThrough):
    """Carries the client's bytes at `rate` bytes a second."""

    def __init__(self, port: int, rate: int):
        self.rate = rate
        super().__init__(port)

    def carry(self, chunk: bytes, sink, up: bool, state: dict) -> bool:
        sink.sendall(chunk)
        if up:
            time.sleep(len(chunk) / self.rate)
        return True


def test_a_copy_whose_upload_outlasts_the_timeout_is_forwarded_while_it_moves():
    sink = Sink(free_port()).start()
    line = SlowLine(sink.port, rate=200_000)
    try:
        big = COPY + (b"A" * 76 + b"\r\n") * (1_200_000 // 78)  # ~6 s on the line, timeout 2 s
        started = time.monotonic()
        forward(SmtpForward(host="127.0.0.1", port=line.port, starttls=False, timeout=2),
                big, "saraban.pomprap@bangkok.go.th", [DEPT])
        assert time.monotonic() - started > 2  # it did outlast the timeout
        (got,) = sink.wait(1, to=DEPT)
        assert len(got.data) >= len(big) - 4
    finally:
        line.close()
        sink.stop()


def test_a_relay_that_takes_the_letter_slowly_is_given_up_at_the_deadline_and_gets_nothing():
    """Session 35's third red team: the kernel held the letter after `sendall` returned,
    and the wait for it to drain went on as long as the relay took a little each
    `timeout` (244 s past a 42 s deadline). Now the transaction ends at its deadline, and
    the connection is reset, so what the kernel held (the final dot with it) never
    reaches the relay to make a copy the outbox would send again."""
    import smtplib

    from gateway.service.deadline import DeadlinePassed

    sink = Sink(free_port()).start()
    line = SlowLine(sink.port, rate=4_000)
    big = COPY + (b"A" * 76 + b"\r\n") * (150_000 // 78)  # ~37 s on the line; deadline 2 + 3 s
    try:
        started = time.monotonic()
        with pytest.raises((DeadlinePassed, smtplib.SMTPException, OSError)):
            forward(SmtpForward(host="127.0.0.1", port=line.port, starttls=False, timeout=2),
                    big, "saraban.pomprap@bangkok.go.th", [DEPT])
        assert time.monotonic() - started < 9
        time.sleep(3)
        assert sink.messages() == []
    finally:
        line.close()
        sink.stop()


@pytest.mark.parametrize("reply", ["250 bye", "421 4.4.2 closing", "500 5.5.1 unknown"])
def test_a_relay_that_answers_quit_oddly_after_taking_the_letter_has_it_once(reply):
    """`with client` raised for any answer to QUIT but 221, after the relay's 250 to the
    letter: the outbox counted a failure and sent it again at each attempt."""
    sink = Sink(free_port()).start()
    sink.quit_reply = reply
    try:
        forward(SmtpForward(host="127.0.0.1", port=sink.port, starttls=False, timeout=5),
                COPY, "saraban.pomprap@bangkok.go.th", [DEPT])
        assert len(sink.wait(1, to=DEPT)) == 1
    finally:
        sink.stop()
