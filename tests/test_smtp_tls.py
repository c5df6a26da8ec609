"""STARTTLS on SMTP intake (RFC 3207), against the real daemon over loopback, with
Python's smtplib and the real OpenSSL command-line client as the senders' servers.

Until session 20 the gateway offered no STARTTLS: every letter, a ลับ one too, crossed
the network in plain text, and a sender whose policy demands TLS (MTA-STS, DANE,
Postfix's `smtp_tls_security_level = encrypt`) could not deliver at all."""
from __future__ import annotations

import datetime as dt
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
HOST = "saraban-gateway.bangkok.go.th"


def write_certificate(folder, name: str, days: float = 90.0) -> tuple:
    """A self-signed certificate for HOST (an EC key) and its key, PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, cert_path, key_path


def client_context(cert) -> ssl.SSLContext:
    """A sender that verifies the gateway's certificate (as under MTA-STS)."""
    context = ssl.create_default_context(cadata=cert.public_bytes(serialization.Encoding.PEM).decode())
    return context


def served_certificate(port: int) -> x509.Certificate:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        client = smtplib.SMTP()
        client.sock, client.file, client._host = sock, None, HOST
        client.getreply()
        client.ehlo("tls.example")
        client.starttls(context=ssl._create_unverified_context())  # noqa: S323 - reading what is served
        der = client.sock.getpeercert(binary_form=True)
        client.close()
    return x509.load_der_x509_certificate(der)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, cert_path, key_path = write_certificate(folder, "first")
    # relative to the configuration file, as the docs show
    config = write_config(folder / "gw", smtp_extra=f'tls_certificate = "../{cert_path.name}"\n'
                                                     f'tls_key = "../{key_path.name}"\n')
    d = Daemon(config).start()
    d.cert, d.cert_path, d.key_path, d.folder = cert, cert_path, key_path, folder
    yield d
    d.stop()


def test_a_letter_sent_over_starttls_is_accepted_and_registered(gateway):
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.ehlo("mail.moi.go.th")
        assert client.has_extn("starttls")
        client._host = HOST  # the name the sender's MX lookup found, verified against the certificate
        client.starttls(context=client_context(gateway.cert))
        client.ehlo("mail.moi.go.th")
        assert not client.has_extn("starttls")  # once per session (RFC 3207 4.2)
        assert not client.has_extn("auth")  # no accounts: nothing to guess
        assert client.has_extn("pipelining")
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.mail("saraban.dds@bangkok.go.th")
        client.rcpt(LAT)
        code, text = client.data(letter(subject="ขอเชิญประชุม ผ่าน TLS", files=[("a.pdf", make_pdf("a"))]))
    assert code == 250, text
    queue_id = text.decode().rsplit(" ", 1)[-1]
    gateway.wait_idle()
    assert any(r["subject"] == "ขอเชิญประชุม ผ่าน TLS" for r in gateway.register())
    accepted = [e for e in gateway.events() if e.get("event") == "accepted" and e.get("queue_id") == queue_id]
    assert accepted and accepted[0]["tls"] in ("TLSv1.2", "TLSv1.3") and accepted[0]["cipher"]
    # a plain session is still taken (opportunistic TLS), and said so in its log line
    plain = gateway.send(letter(subject="ขอเชิญประชุม ไม่เข้ารหัส"), LAT)
    assert [e["tls"] for e in gateway.events() if e.get("event") == "accepted" and e.get("queue_id") == plain] == ["no"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_the_openssl_client_negotiates_starttls(gateway):
    """`openssl s_client -starttls smtp`, as a sysadmin checks a mail server."""
    done = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{gateway.port}",
                           "-servername", HOST, "-CAfile", str(gateway.cert_path), "-verify_hostname", HOST,
                           "-verify_return_error", "-brief"],
                          input=b"EHLO openssl.example\r\nQUIT\r\n", capture_output=True, timeout=30)
    said = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, said
    assert "Verification: OK" in said and "Protocol version: TLSv1.3" in said
    assert "250" in said  # the EHLO answered inside the encrypted session


def said_until(sock: socket.socket, commands: bytes, reply: bytes):
    """After the greeting, send `commands` and read up to the line starting `reply`."""
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(commands)
    while not reader.readline().startswith(reply):
        pass
    return reader


def test_commands_pipelined_with_starttls_are_not_run_after_it(gateway):
    """The STARTTLS injection (CVE-2011-0411 and aiosmtpd's CVE-2024-27305 kind): plain
    text sent in the same packet as STARTTLS must be thrown away, not read as the
    encrypted session's first commands."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        reader = said_until(sock, b"EHLO inject.example\r\n", b"250 ")
        sock.sendall(b"STARTTLS\r\nMAIL FROM:<forged@evil.example>\r\nRCPT TO:<" + LAT.encode() + b">\r\n")
        assert reader.readline().startswith(b"220")
        tls = ssl._create_unverified_context().wrap_socket(sock, server_hostname=HOST)  # noqa: S323
        tls_reader = tls.makefile("rb")
        tls.sendall(b"RCPT TO:<" + LAT.encode() + b">\r\n")
        # the injected MAIL FROM was not run: a RCPT now has no transaction to join
        assert tls_reader.readline().startswith(b"503")
        tls.sendall(b"QUIT\r\n")
        tls.close()


def test_a_broken_or_silent_handshake_ends_the_session_cleanly(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        said_until(sock, b"EHLO broken.example\r\nSTARTTLS\r\n", b"220 ")
        sock.sendall(b"this is not a TLS ClientHello\r\n" * 4)
        sock.settimeout(15)
        assert sock.recv(4096) == b"" or sock.recv(4096) == b""  # closed, not hung
    # asyncio closes the socket before the session's task hears of the failure and logs it
    gateway.wait_for(lambda: any(e.get("event") == "smtp_tls_handshake_failed" for e in gateway.events()),
                     what="the failed handshake logged")
    assert not [e for e in gateway.events() if e.get("event") == "smtp_session_exception"]
    # the daemon still serves the next sender
    assert gateway.send(letter(subject="ขอเชิญประชุม หลังการเชื่อมต่อเสีย"), LAT)


def test_a_renewed_certificate_is_served_after_a_reload(gateway):
    """certbot renews behind the same file names; `systemctl reload` (SIGHUP) serves the
    new certificate to the next session, without a restart."""
    assert served_certificate(gateway.port).serial_number == gateway.cert.serial_number
    renewed, cert_path, key_path = write_certificate(gateway.folder, "renewed")
    shutil.copyfile(cert_path, gateway.cert_path)
    shutil.copyfile(key_path, gateway.key_path)
    gateway.proc.send_signal(signal.SIGHUP)
    gateway.wait_for(lambda: any(e.get("event") == "smtp_tls_reloaded" for e in gateway.events()),
                     what="the certificate read again")
    assert served_certificate(gateway.port).serial_number == renewed.serial_number
    # a renewal gone wrong (a key that does not match) keeps the working certificate
    other, _, other_key = write_certificate(gateway.folder, "other")
    shutil.copyfile(other_key, gateway.key_path)
    gateway.proc.send_signal(signal.SIGHUP)
    gateway.wait_for(lambda: any(e.get("event") == "smtp_tls_reload_failed" for e in gateway.events()),
                     what="the bad pair refused")
    assert served_certificate(gateway.port).serial_number == renewed.serial_number
    shutil.copyfile(key_path, gateway.key_path)


def test_require_tls_refuses_a_plain_transaction_in_ascii(tmp_path):
    cert, cert_path, key_path = write_certificate(tmp_path, "only")
    config = write_config(tmp_path / "gw", smtp_extra=f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n'
                                                      "require_tls = true\n")
    d = Daemon(config).start()
    try:
        with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as client:
            client.ehlo("plain.example")
            code, text = client.mail("saraban.dds@bangkok.go.th")
            assert code == 530 and text.decode().startswith("5.7.0 Must issue a STARTTLS command first")
            assert text.isascii()
            client._host = HOST
            client.starttls(context=client_context(cert))
            client.ehlo("plain.example")
            assert client.mail("saraban.dds@bangkok.go.th")[0] == 250
    finally:
        d.stop()


def test_an_unusable_certificate_is_said_by_check_config_and_at_start(tmp_path):
    cert, cert_path, key_path = write_certificate(tmp_path, "a")
    _, _, wrong_key = write_certificate(tmp_path, "b")
    cases = {
        "missing": (f'tls_certificate = "{tmp_path / "nope.crt"}"\ntls_key = "{key_path}"\n', "no such file"),
        "mismatch": (f'tls_certificate = "{cert_path}"\ntls_key = "{wrong_key}"\n', "cannot be used"),
        "half": (f'tls_certificate = "{cert_path}"\n', "set both tls_certificate and tls_key"),
    }
    for name, (smtp_extra, said) in cases.items():
        config = write_config(tmp_path / name, smtp_extra=smtp_extra)
        d = Daemon(config)
        checked = d.cli("check-config", check=False)
        assert checked.returncode != 0 and said in checked.stderr, (name, checked.stderr)
        assert "Traceback" not in checked.stderr
        if name == "mismatch":
            with pytest.raises(RuntimeError, match="smtp_tls_unusable"):
                d.start(timeout=30)
    # a certificate about to expire is a warning
    _, soon, soon_key = write_certificate(tmp_path, "soon", days=3)
    config = write_config(tmp_path / "soon-gw", smtp_extra=f'tls_certificate = "{soon}"\ntls_key = "{soon_key}"\n')
    soon_gateway = Daemon(config)
    checked = soon_gateway.cli("check-config")
    assert "expires on" in checked.stderr and "renew it" in checked.stderr
    soon_gateway.start()
    try:
        assert any("expires on" in w for w in soon_gateway.status()["warnings"])
        assert any(e.get("event") == "smtp_tls_certificate_expiring" for e in soon_gateway.events())
    finally:
        soon_gateway.stop()
