"""Red team of STARTTLS on SMTP intake (session 20), through the real daemon over
loopback: what a hostile or broken sending server does after STARTTLS.

Found and fixed:
* a second STARTTLS inside TLS was answered 220 and a TLS session stacked inside the
  first (RFC 3207 4.2 forbids it); closing one logged asyncio's TypeError traceback at
  error level. Now `503 5.5.1 TLS already active`, the session goes on.
* a failed handshake was logged with Python's text (`[SSL: UNSUPPORTED_PROTOCOL]
  unsupported protocol (_ssl.c:1006)`), or an empty reason for a client that went away.
  Now OpenSSL's reason in words.
* a certificate file that is not PEM (the key and the certificate swapped, an empty file)
  was said as "[SSL] PEM lib (_ssl.c:3905)", a chain in the wrong order as
  KEY_VALUES_MISMATCH. Now which file holds what is missing, and the order to use.
* a key under a passphrase: OpenSSL asked for it on the terminal (check-config in a
  shell, or a daemon started from one at its reload, waited there, the event loop with
  it); without a terminal the reason was "Invalid argument". Now refused at once, said so.

Tried and found sound (not tested here again): STARTTLS then silence or a ClientHello a
byte at a time (closed by the command timeout, the per-IP slot released), dropped
handshakes (slots released), TLS 1.0/1.1 (refused, closed), client-initiated
renegotiation under TLS 1.2 (refused by OpenSSL: "no renegotiation"), STARTTLS inside a
transaction (state reset: DATA then asks for HELO, RCPT for MAIL), a close_notify or a
reset in the middle of DATA over TLS (draft discarded, nothing registered)."""
from __future__ import annotations

import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from tests.daemon import Daemon, write_config
from tests.paths import REPO
from tests.test_smtp_tls import HOST, LAT, served_certificate, write_certificate


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls20")
    cert, cert_path, key_path = write_certificate(folder, "gw")
    config = write_config(folder / "gw", smtp_extra=f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n')
    d = Daemon(config).start()
    d.cert, d.cert_path, d.key_path, d.folder = cert, cert_path, key_path, folder
    yield d
    d.stop()


def _plain_until_starttls(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b"EHLO mail.hostile.example\r\nSTARTTLS\r\n")
    while not reader.readline().startswith(b"220 "):
        pass
    return sock


def _python_text(gateway) -> list[dict]:
    """Error lines, and TLS lines with Python's text in them."""
    return [e for e in gateway.events()
            if e.get("level") in ("error", "critical")
            or ("tls" in e.get("event", "") and any(s in str(e) for s in ("_ssl.c", "[SSL:", "Error(")))]


def test_a_second_starttls_inside_tls_is_refused_and_the_session_goes_on(gateway):
    sock = _plain_until_starttls(gateway.port)
    tls = ssl._create_unverified_context().wrap_socket(sock, server_hostname=HOST)  # noqa: S323
    reader = tls.makefile("rb")
    try:
        tls.sendall(b"EHLO mail.hostile.example\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        tls.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"503 5.5.1 TLS already active")
        # still the same encrypted session, still taking commands
        tls.sendall(b"MAIL FROM:<saraban.dds@bangkok.go.th>\r\nRCPT TO:<" + LAT.encode() + b">\r\nRSET\r\nQUIT\r\n")
        assert [reader.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"221"]
    finally:
        tls.close()
    assert not _python_text(gateway)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_a_failed_handshake_is_logged_in_words(gateway):
    before = len(gateway.events())
    # an old client: TLS 1.1 only
    subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{gateway.port}",
                    "-tls1_1", "-brief"], input=b"QUIT\r\n", capture_output=True, timeout=30)
    # a client that goes away half-way through its ClientHello
    sock = _plain_until_starttls(gateway.port)
    sock.sendall(b"\x16\x03\x01\x02\x00\x01")
    sock.close()

    def failed():
        return [e for e in gateway.events()[before:] if e.get("event") == "smtp_tls_handshake_failed"]

    gateway.wait_for(lambda: len(failed()) >= 2, what="both handshakes logged")
    assert sorted(e["reason"] for e in failed()) == ["the connection closed during the handshake",
                                                      "unsupported protocol"]
    assert not _python_text(gateway)


def _protected_pair(folder):
    """The module's kind of key pair, the key under a passphrase (as `openssl genpkey -aes256`)."""
    cert, cert_path, key_path = write_certificate(folder, "protected")
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"secret")))
    return cert_path, key_path


def test_a_key_under_a_passphrase_is_said_not_asked_for(gateway, tmp_path):
    cert_path, key_path = _protected_pair(tmp_path)
    config = write_config(tmp_path / "gw", smtp_extra=f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n')
    checked = Daemon(config).cli("check-config", check=False)
    assert checked.returncode != 0
    assert f"the key {key_path} is protected by a passphrase" in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr and "Enter PEM pass phrase" not in checked.stderr + checked.stdout
    if shutil.which("script"):
        # the sysadmin's shell: a terminal, where OpenSSL asked for the passphrase and waited
        command = shlex.join([sys.executable, "-m", "gateway", "--config", str(config), "check-config"])
        in_a_terminal = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=REPO, capture_output=True,
                                       stdin=subprocess.DEVNULL, text=True, timeout=60)
        assert "protected by a passphrase" in in_a_terminal.stdout, in_a_terminal.stdout
        assert "Enter PEM pass phrase" not in in_a_terminal.stdout

    # a renewal that leaves the key under a passphrase: the reload keeps the working one
    working = gateway.key_path.read_bytes(), gateway.cert_path.read_bytes()
    before = len(gateway.events())
    shutil.copyfile(key_path, gateway.key_path)
    shutil.copyfile(cert_path, gateway.cert_path)
    try:
        gateway.proc.send_signal(signal.SIGHUP)
        gateway.wait_for(lambda: [e for e in gateway.events()[before:] if e.get("event") == "smtp_tls_reload_failed"],
                         what="the protected key refused")
        failed = [e for e in gateway.events()[before:] if e.get("event") == "smtp_tls_reload_failed"]
        assert "protected by a passphrase" in failed[0]["error"]
        assert served_certificate(gateway.port).serial_number == gateway.cert.serial_number
    finally:
        gateway.key_path.write_bytes(working[0])
        gateway.cert_path.write_bytes(working[1])


def test_a_pair_that_cannot_be_used_is_said_in_words(tmp_path):
    cert, cert_path, key_path = write_certificate(tmp_path, "leaf")
    _, intermediate, _ = write_certificate(tmp_path, "intermediate")
    wrong_order = tmp_path / "wrong-order.pem"
    wrong_order.write_bytes(intermediate.read_bytes() + cert_path.read_bytes())
    cases = {
        "order": (wrong_order, key_path, f"the key does not match the first certificate in {wrong_order}"),
        "swapped": (key_path, cert_path, f"{key_path} holds no PEM certificate"),
    }
    for name, (certificate, key, said) in cases.items():
        config = write_config(tmp_path / name, smtp_extra=f'tls_certificate = "{certificate}"\ntls_key = "{key}"\n')
        checked = Daemon(config).cli("check-config", check=False)
        assert checked.returncode != 0 and said in checked.stderr, (name, checked.stderr)
        assert "_ssl.c" not in checked.stderr and "PEM lib" not in checked.stderr, (name, checked.stderr)
