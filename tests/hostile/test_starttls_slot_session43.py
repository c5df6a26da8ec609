"""A STARTTLS handshake cut by the command timeout gives its connection slot back
(session 43's red team).

A client that says STARTTLS and then nothing (or half a ClientHello: a middlebox that
drops TLS, a stalled line) is cut by the command timeout. asyncio's SSL layer tells its
protocol nothing of a connection aborted in the middle of the handshake, so the session
never ended and its slot in the per-IP and total caps was never released: after
`max_connections_per_ip` such sessions that address heard "421 too many connections"
for good, and after `max_connections` every sender did, while /healthz said ok."""
from __future__ import annotations

import socket
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.test_smtp_tls import write_certificate


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls43")
    _cert, cert_path, key_path = write_certificate(folder, "gw")
    config = write_config(folder / "gw", smtp_extra=(
        f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n'
        "max_connections_per_ip = 2\ncommand_timeout = 2.0\n"))
    d = Daemon(config).start()
    yield d
    d.stop()


def _greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        return sock.makefile("rb").readline()


@pytest.mark.parametrize("then", [b"", b"\x16\x03\x01\x02\x00" + b"\x01" * 10], ids=["silence", "half a ClientHello"])
def test_a_handshake_cut_by_the_timeout_gives_its_slot_back(gateway, then):
    held = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(b"EHLO mail.example.go.th\r\nSTARTTLS\r\n")
        while not reader.readline().startswith(b"220 "):
            pass
        sock.sendall(then)
        held.append((sock, reader))
    assert _greeting(gateway.port).startswith(b"421 ")  # both slots of this address taken
    # The command timeout (2 s) cuts each; the server closes them.
    for sock, reader in held:
        assert reader.read() is not None
        sock.close()
    deadline = time.monotonic() + 30
    while (said := _greeting(gateway.port)).startswith(b"421 ") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert said.startswith(b"220 "), said
    assert any(e.get("event") == "smtp_tls_handshake_cut" for e in gateway.events())
