"""The systemd notify protocol, checked the way systemd sees it: datagrams on a socket.

The test binds a real AF_UNIX datagram socket, hands its name to the daemon in
NOTIFY_SOCKET (as systemd does for Type=notify) and reads what arrives."""
from __future__ import annotations

import os
import signal
import smtplib
import socket
import time
import uuid
from pathlib import Path

import pytest

from gateway.service.sd_notify import Notifier
from tests.daemon import Daemon, write_config


class FakeSystemd:
    """The manager's end of NOTIFY_SOCKET: a bound datagram socket."""

    def __init__(self, name: str | bytes):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(name)
        self.sock.settimeout(0.2)
        self.received: list[dict[str, str]] = []

    def read(self, until, timeout: float = 60.0) -> list[dict[str, str]]:
        """Collect messages until `until(message)` is true for one; return all so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            message = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.received.append(message)
            if until(message):
                return self.received
        raise AssertionError(f"no matching notification; got {self.received}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def socket_path():
    # AF_UNIX names are limited to 108 bytes: pytest's tmp_path can be longer.
    path = Path("/tmp") / f"saraban-notify-{uuid.uuid4().hex[:12]}.sock"
    yield path
    path.unlink(missing_ok=True)


def test_notifier_sends_to_a_filesystem_socket(socket_path):
    manager = FakeSystemd(str(socket_path))
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(socket_path)})
        assert notifier.ready("accepting mail")
        [message] = manager.read(lambda m: True, timeout=5)
        assert message["READY"] == "1"
        assert message["STATUS"] == "accepting mail"
        assert message["MAINPID"] == str(os.getpid())
    finally:
        manager.close()


def test_notifier_sends_to_an_abstract_socket():
    name = f"saraban-test-{uuid.uuid4().hex}"
    manager = FakeSystemd(b"\0" + name.encode())
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.stopping("bye")
        [message] = manager.read(lambda m: True, timeout=5)
        assert message == {"STOPPING": "1", "STATUS": "bye"}
    finally:
        manager.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_a_vanished_manager_socket_does_not_raise(socket_path):
    notifier = Notifier({"NOTIFY_SOCKET": str(socket_path)})  # nobody bound it
    assert notifier.ready() is False
    assert notifier.status("still fine") is False


def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_our_pid():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 15.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "nonsense"}).watchdog_interval is None


def test_daemon_speaks_the_notify_protocol(tmp_path, socket_path):
    """READY only once SMTP answers; WATCHDOG pings; RELOADING then READY on SIGHUP;
    STOPPING on SIGTERM, then a clean exit."""
    manager = FakeSystemd(str(socket_path))
    config = write_config(tmp_path)
    daemon = Daemon(config, env={"NOTIFY_SOCKET": str(socket_path), "WATCHDOG_USEC": "1000000"})
    try:
        daemon.start()
        manager.read(lambda m: m.get("READY") == "1")
        ready = next(m for m in manager.received if m.get("READY") == "1")
        assert ready["MAINPID"] == str(daemon.proc.pid)
        assert "SMTP on 127.0.0.1:" in ready["STATUS"] and "runners" in ready["STATUS"]
        # READY=1 means "accepting mail": the listener answers with its greeting.
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            assert client.noop()[0] == 250
        # Before READY the manager was told what start-up is doing.
        first = manager.received[0]
        assert first.get("STATUS", "").startswith("starting")

        manager.read(lambda m: m.get("WATCHDOG") == "1")
        manager.read(lambda m: m.get("WATCHDOG") == "1")

        daemon.proc.send_signal(signal.SIGHUP)
        manager.read(lambda m: m.get("RELOADING") == "1")
        reloading = next(m for m in manager.received if m.get("RELOADING") == "1")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        manager.read(lambda m: m.get("READY") == "1")

        daemon.proc.send_signal(signal.SIGTERM)
        manager.read(lambda m: m.get("STOPPING") == "1")
        assert daemon.proc.wait(60) == 0
    finally:
        daemon.stop()
        manager.close()
