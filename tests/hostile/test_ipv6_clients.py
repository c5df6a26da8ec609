"""An IPv6 client owns a whole /64 and can take a new address for every connection: the
per-client limits (max_connections_per_ip, data_checks_per_ip) count its network, not
its address (gateway/intake/client_block.py). Real sockets from real IPv6 addresses:
the test puts documentation addresses (2001:db8::/32) on the loopback interface, which
needs root (CAP_NET_ADMIN), and takes them away after."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest

from gateway.intake.client_block import ClientKeys, client_block
from gateway.intake.smtp_protocol import ConnectionLimits
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.test_intake_starvation import SLOW_MARK, Sender, slow_letter

PER_IP = 3
# Four addresses of one /64 (one attacker), and one of another /64 (someone else).
ATTACKER = [f"2001:db8:5a:1::{n}" for n in range(1, 5)] + ["2001:db8:5a:1:ffff:ffff:ffff:fffe"]
OTHER = "2001:db8:5a:2::1"


def test_a_clients_key_is_its_ipv4_address_or_its_ipv6_network():
    assert client_block("192.0.2.7") == "192.0.2.7"
    assert client_block("2001:db8:5a:1::1") == client_block("2001:db8:5a:1:ffff:ffff:ffff:fffe") \
        == "2001:db8:5a:1::/64"
    assert client_block("2001:db8:5a:2::1") == "2001:db8:5a:2::/64"
    assert client_block("2001:db8:5a:1::1", 128) == "2001:db8:5a:1::1"
    assert client_block("::ffff:192.0.2.7") == "192.0.2.7"  # a dual-stack listener's IPv4 client
    assert client_block("fe80::1%lo") == "fe80::/64"
    assert client_block("not an address") == "not an address"
    assert client_block(None) is None
    limits = ConnectionLimits(total=100, per_ip=2)
    keys = [limits.client(ip) for ip in ("2001:db8::1", "2001:db8::2", "2001:db8::3")]
    assert [limits.admit(key) for key in keys] == [None, None, "per_ip"]


def test_a_listed_relay_is_no_client_of_the_per_ip_limits_but_counts_in_the_total():
    keys = ClientKeys(exceptions=["192.0.2.0/24", "2001:db8:5a::/48"])
    assert keys("192.0.2.7") is None and keys("::ffff:192.0.2.7") is None
    assert keys("2001:db8:5a:1::1") is None
    assert keys("198.51.100.1") == "198.51.100.1"
    assert keys("2001:db8:5b:1::1") == "2001:db8:5b:1::/64"
    assert keys("not an address") == "not an address"
    with pytest.raises(ValueError, match="mail.bangkok.go.th"):
        ClientKeys(exceptions=["mail.bangkok.go.th"])
    limits = ConnectionLimits(total=3, per_ip=1, exceptions=["192.0.2.25"])
    relay, other = limits.client("192.0.2.25"), limits.client("198.51.100.1")
    assert [limits.admit(relay), limits.admit(relay), limits.admit(other), limits.admit(other)] \
        == [None, None, None, "total"]
    limits.release(relay)
    assert limits.admit(other) == "per_ip" and limits.open == 2


def _ip(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def addresses():
    added = []
    for address in ATTACKER + [OTHER]:
        if not _ip("-6", "addr", "add", f"{address}/128", "dev", "lo", "nodad"):
            break
        added.append(address)
    try:
        if len(added) < len(ATTACKER) + 1:
            pytest.skip("cannot put IPv6 addresses on the loopback interface (needs root, CAP_NET_ADMIN)")
        yield
    finally:
        for address in added:
            _ip("-6", "addr", "del", f"{address}/128", "dev", "lo")


@pytest.fixture(scope="module")
def gw(addresses, tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("ipv6"), host="::1",
                          smtp_extra=f"max_connections_per_ip = {PER_IP}\n")
    daemon = Daemon(config, env={"SARABAN_TEST_SLOW_CHECK": SLOW_MARK}).start()
    yield daemon
    daemon.kill9()


def _greet(port: int, source: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("::1", port), timeout=30, source_address=(source, 0))
    return sock, sock.recv(4096)


def test_new_addresses_of_one_ipv6_network_share_its_connection_cap(gw):
    held = []
    try:
        banners = []
        for address in ATTACKER:
            sock, banner = _greet(gw.port, address)
            held.append(sock)
            banners.append(banner[:9])
        # A new address for each connection is still the same /64: beyond its share, 421.
        assert [b[:3] for b in banners[:PER_IP]] == [b"220"] * PER_IP, banners
        assert banners[PER_IP:] == [b"421 4.7.0"] * (len(ATTACKER) - PER_IP), banners
        sock, banner = _greet(gw.port, OTHER)  # another network: its own share
        held.append(sock)
        assert banner.startswith(b"220"), banner
        refused = [e for e in gw.events() if e.get("event") == "smtp_connection_refused"]
        assert refused and refused[0]["peer"] == "2001:db8:5a:1::/64", refused
    finally:
        for sock in held:
            sock.close()


def _sender(gw: Daemon, ip: str, raw: bytes) -> Sender:
    sender = Sender(gw.port, ip, raw, host="::1")
    sender.start()
    return sender


def test_slow_letters_from_new_addresses_of_one_network_hold_one_data_check(gw):
    time.sleep(0.5)  # the previous test's sessions are released
    first = _sender(gw, ATTACKER[0], slow_letter())
    assert first.in_data.wait(30)
    time.sleep(1.0)  # its check has begun
    second = _sender(gw, ATTACKER[1], slow_letter())  # the same /64, another address
    assert second.in_data.wait(30)
    time.sleep(0.5)
    honest = _sender(gw, OTHER, letter(subject="หนังสือปกติ"))
    code, text = honest.result()
    assert code == 250, (code, text)
    # The attacker's second address waited for its network's turn, not for a worker.
    code, text = second.result()
    assert code == 451 and text.startswith(b"4.3.2 ") and text.isascii(), (code, text)
    busy = [e for e in gw.events() if e.get("event") == "data_check_busy"]
    assert busy and busy[0]["reason"] == "per_ip", busy
