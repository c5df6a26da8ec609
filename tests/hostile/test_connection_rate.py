"""New sessions a minute per client IP ([smtp] max_connection_rate_per_ip, Postfix's
smtpd_client_connection_rate_limit). Short sessions opened as fast as a client can (a
TLS handshake each costs the supervisor's event loop 1-2 ms: session 20's STARTTLS red
team) were limited only by how many were open at once; now a client past its rate hears
"421 4.7.0" at connect, before it is a session, and the others are not affected."""
from __future__ import annotations

import socket

import pytest

from gateway.intake.smtp_protocol import ConnectionLimits
from tests.daemon import Daemon, write_config


def greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        line = sock.makefile("rb").readline()
        if line.startswith(b"220"):
            sock.sendall(b"QUIT\r\n")
        return line


def test_the_rate_is_counted_per_client_a_minute_at_a_time():
    now = [1000.0]
    limits = ConnectionLimits(10_000, 50, rate_per_ip=3, clock=lambda: now[0], exceptions=["192.0.2.25"])
    attacker, sender = limits.client("198.51.100.7"), limits.client("203.0.113.9")
    answers = []
    for _ in range(4):
        answers.append(limits.admit(attacker))
        if answers[-1] is None:
            limits.release(attacker)
    assert answers == [None, None, None, "rate"]
    assert limits.admit(sender) is None  # another client is not affected
    limits.release(sender)
    relay = limits.client("192.0.2.25")  # the BMA relay in client_limit_exceptions: no rate
    assert all(limits.admit(relay) is None for _ in range(10))
    now[0] += 60  # the next minute
    assert limits.admit(attacker) is None
    # a flood from many addresses leaves no table behind
    for n in range(2000):
        limits.admit(limits.client(f"10.0.{n // 250}.{n % 250}"))
    now[0] += 60
    limits.admit(attacker)
    assert len(limits._this_minute) == 1  # noqa: SLF001


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("rate") / "gw", smtp_extra="max_connection_rate_per_ip = 5\n")
    d = Daemon(config).start()
    yield d
    d.stop()


def test_a_client_past_its_rate_hears_421_at_connect(gateway):
    heard = [greeting(gateway.port) for _ in range(7)]
    assert [line[:3] for line in heard] == [b"220"] * 5 + [b"421"] * 2
    assert heard[-1].startswith(b"421 4.7.0 too many connections from your address in a minute")
    refused = [e for e in gateway.events() if e.get("event") == "smtp_connection_refused"]
    assert refused and refused[0]["reason"] == "rate"
