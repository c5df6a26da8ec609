"""One client cannot write the log full with what it costs it nothing to send (session 43's
red team).

Each unknown command was a warning line of aiosmtpd's own ("mail.log"), and the fifth
one more ("too many bogus commands") as it closed the session: a client in a loop of
short sessions made 545 a second in 5 s, 1.9 MB of log, about 33 GB a day. Each failed
STARTTLS handshake was a line too. They are now the gateway's `smtp_unknown_command` and
`smtp_tls_handshake_failed` at one line a second (20 at once), the rest counted in
`not_logged` and in saraban_rejected_total."""
from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon import Daemon, free_port, write_config
from tests.test_smtp_tls import write_certificate

SESSIONS = 150


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logflood43")
    _cert, cert_path, key_path = write_certificate(folder, "gw")
    http = free_port()
    config = write_config(folder / "gw", extra=f"[http]\nenabled = true\nport = {http}\n",
                          smtp_extra=(f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n'
                                      "max_connections_per_ip = 50\n"))
    d = Daemon(config).start()
    d.metrics_url = f"http://127.0.0.1:{http}/metrics"
    yield d
    d.stop()


def _rejected(d: Daemon, reason: str) -> float:
    with urllib.request.urlopen(d.metrics_url, timeout=30) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "saraban_rejected_total" and sample.labels == {"stage": "smtp", "reason": reason})


def _session(port: int, sent: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(sent)
        said = b""
        while chunk := sock.recv(65536):
            said += chunk
        return said


def _bounded(lines: list[dict], seconds: float) -> None:
    """At most the burst and one a second, the lines left out said."""
    assert 1 <= len(lines) <= 20 + seconds + 2, (len(lines), seconds)


def test_unknown_commands_in_a_loop_of_sessions_are_a_bounded_few_lines(gateway):
    mark, size = len(gateway.events()), gateway.log_path.stat().st_size
    started = time.monotonic()
    for _ in range(SESSIONS):
        said = _session(gateway.port, (b"X" * 500 + b"\r\n") * 5)
        # What the client hears is unchanged: four 500s, then 502 and the end.
        assert said.count(b"\r\n500 ") == 4 and b"\r\n502 5.5.1 " in said, said
    seconds = time.monotonic() - started
    # The daemon is still serving, and the log has caught up with the sessions.
    assert _session(gateway.port, b"QUIT\r\n").startswith(b"220 ")
    time.sleep(0.5)
    events = gateway.events()[mark:]
    assert not [e for e in events if e.get("logger") == "mail.log"], [e for e in events if e.get("logger") == "mail.log"][:3]
    lines = [e for e in events if e.get("event") == "smtp_unknown_command"]
    _bounded(lines, seconds)
    # The lines left out are counted: said on a later line when a second has passed (a fast
    # machine may end the loop inside the burst's second), and in the metrics below.
    # (five unknown commands a session and the close after them).
    assert len(lines) + sum(e.get("not_logged", 0) for e in lines) <= SESSIONS * 6
    first = lines[0]
    assert first["peer"] == "127.0.0.1" and first["command"] == ascii("X" * 40)
    assert any(e.get("closed") for e in lines)
    # 6 lines a session, ~150 bytes each, were written before: 900 lines for 150 sessions.
    assert gateway.log_path.stat().st_size - size < 30 * 300, gateway.log_path.stat().st_size - size
    assert _rejected(gateway, "unknown_command") >= SESSIONS * 4
    assert _rejected(gateway, "unknown_commands_closed") >= SESSIONS


def test_failed_handshakes_in_a_loop_are_a_bounded_few_lines(gateway):
    mark = len(gateway.events())
    started = time.monotonic()
    for _ in range(60):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=15) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(b"EHLO mail.hostile.example\r\nSTARTTLS\r\n")
            while not reader.readline().startswith(b"220 "):
                pass
            sock.sendall(b"this is no ClientHello\r\n")
            reader.read()
    seconds = time.monotonic() - started
    gateway.wait_for(lambda: _rejected(gateway, "tls_handshake_failed") >= 60, what="every failure counted")
    lines = [e for e in gateway.events()[mark:] if e.get("event") == "smtp_tls_handshake_failed"]
    _bounded(lines, seconds)
    assert lines[0]["peer"] == "127.0.0.1" and lines[0]["reason"]
