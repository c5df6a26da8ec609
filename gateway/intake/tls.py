"""STARTTLS for SMTP intake (RFC 3207): a sender's mail server encrypts the letter on the
wire when this host has a certificate (`[smtp] tls_certificate`, `tls_key`).

Without it every letter, a ลับ one too, crossed the network in plain text, and a sender
whose policy demands TLS (MTA-STS, DANE, a relay configured `smtp_tls_security_level =
encrypt`) could not deliver at all. aiosmtpd does the protocol (STARTTLS, the discarded
plaintext after it, `require_starttls`); this module builds and renews its context."""
from __future__ import annotations

import ssl
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class TlsError(Exception):
    """The certificate or key cannot be used; the message says why, in plain words."""


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, the system's cipher choice, no client
    certificate asked for (a sending MTA rarely has one, and SPF/DKIM/DMARC say who
    sent a letter, not the TLS peer)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # A key under a passphrase: without a callback OpenSSL asks for it on the
        # terminal, so check-config, or a daemon started from a shell at its reload,
        # waited there (the event loop, every SMTP session, with it); without a
        # terminal it said "Invalid argument".
        context.load_cert_chain(certificate, key, password=_no_passphrase)
    except _Passphrase:
        raise TlsError(f"the key {key} is protected by a passphrase, which the gateway cannot type at start "
                       f"or reload: store it without one, readable only by the saraban user "
                       f"(openssl pkey -in {key} -out <new file>)") from None
    except FileNotFoundError as exc:
        raise TlsError(f"no such file: {_named(exc, certificate, key)}") from None
    except PermissionError as exc:
        raise TlsError(f"cannot read {_named(exc, certificate, key)}: permission denied "
                       "(make it readable by the saraban user)") from None
    except ssl.SSLError as exc:
        raise TlsError(f"{certificate} and {key} cannot be used ({_unusable(certificate, key, exc)}): "
                       "a PEM certificate chain and the private key that matches it") from None
    except OSError as exc:
        raise TlsError(f"cannot read {certificate} or {key}: {exc.strerror or exc}") from None
    return context


def _named(exc: OSError, certificate: Path, key: Path) -> str:
    """The file an OSError of load_cert_chain is about: OpenSSL gives no name (it said
    "no such file: None" until session 36), so the one that is missing or unreadable."""
    if exc.filename:
        return str(exc.filename)
    for path in (certificate, key):
        try:
            with open(path, "rb"):
                pass
        except OSError:
            return str(path)
    return f"{certificate} or {key}"


def _unusable(certificate: Path, key: Path, exc: ssl.SSLError) -> str:
    """What is wrong with the pair, in words: OpenSSL's own text for a file that is not
    PEM is "[SSL] PEM lib (_ssl.c:3905)", and a chain whose first certificate is not the
    server's says only KEY_VALUES_MISMATCH."""
    if exc.reason == "KEY_VALUES_MISMATCH":
        return (f"the key does not match the first certificate in {certificate}: another key, or a chain in "
                "the wrong order (the server's own certificate first, then the intermediates, as in "
                "certbot's fullchain.pem)")
    for path, marker, what in ((certificate, b"-----BEGIN CERTIFICATE-----", "no PEM certificate"),
                               (key, b"PRIVATE KEY-----", "no PEM private key")):
        try:
            if marker not in path.read_bytes():
                return f"{path} holds {what}"
        except OSError:
            pass
    return exc.reason.lower().replace("_", " ") if exc.reason else "not a PEM certificate chain and its key"


class _Passphrase(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _Passphrase


# Why a handshake failed, for its log line: OpenSSL's reason in words, not Python's text
# ("[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:1006)", or "" for a client
# that went away).
_HANDSHAKE_ENDED = {
    ConnectionAbortedError: "the handshake took too long",  # asyncio's 60 s handshake timeout
    ConnectionError: "the connection closed during the handshake",  # by the client, or the command timeout
}


def handshake_failure(error: BaseException | None) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason.lower().replace("_", " ")
    for kind, said in _HANDSHAKE_ENDED.items():
        if isinstance(error, kind):
            return said
    return "the handshake failed"


class TlsContexts:
    """The context each new SMTP session takes; replaced at reload, so a renewed
    certificate (certbot, the BMA's CA) is served without a restart. Sessions already
    encrypted keep theirs."""

    def __init__(self, certificate: Path | None, key: Path | None) -> None:
        self.certificate, self.key = certificate, key
        self.current: ssl.SSLContext | None = None
        if certificate is not None and key is not None:
            self.current = server_context(certificate, key)

    def reload(self, certificate: Path | None, key: Path | None) -> None:
        """Read the files again; a bad pair is logged and the old context kept."""
        if certificate is None or key is None or self.current is None:
            return  # switching STARTTLS on or off is a restart (the [smtp] section is read once)
        try:
            self.current = server_context(certificate, key)
        except TlsError as exc:
            log.error("smtp_tls_reload_failed", error=str(exc), kept="previous certificate")
            return
        self.certificate, self.key = certificate, key
        log.info("smtp_tls_reloaded", certificate=str(certificate))
        for warning in certificate_warnings(certificate):  # a "renewal" that is not one
            log.warning("smtp_tls_certificate_expiring", warning=warning)


def session_tls(session) -> dict[str, str] | None:  # noqa: ANN001 - aiosmtpd's Session
    """The protocol and cipher of an encrypted session, for its log lines; None in plain."""
    extra = getattr(session, "ssl", None)
    if not extra:
        return None
    ssl_object = extra.get("ssl_object")
    if ssl_object is None:
        return {"tls": "yes"}
    cipher = ssl_object.cipher()
    return {"tls": ssl_object.version() or "yes", "cipher": cipher[0] if cipher else ""}


EXPIRY_WARNING_DAYS = 14


def certificate_warnings(certificate: Path | None) -> list[str]:
    """A warning when the SMTP certificate has expired or will within two weeks: senders
    that verify it (MTA-STS, DANE) would stop delivering on that day."""
    if certificate is None:
        return []
    import datetime as dt

    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    except (OSError, ValueError):
        return []  # server_context says what is wrong with the file
    left = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    if left.total_seconds() <= 0:
        return [f"the SMTP certificate {certificate} expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
                "renew it, then reload (systemctl reload saraban-gateway)"]
    if left.days < EXPIRY_WARNING_DAYS:
        return [f"the SMTP certificate {certificate} expires on {cert.not_valid_after_utc:%Y-%m-%d} "
                f"({left.days} days): renew it, then reload (systemctl reload saraban-gateway)"]
    return []


def configured_certificate_warnings(settings) -> list[str]:  # noqa: ANN001 - Settings (no import circle)
    """`certificate_warnings` for [smtp] tls_certificate, if set (status, check-config)."""
    if settings.smtp.tls_certificate is None:
        return []
    return certificate_warnings(settings.config_relative(settings.smtp.tls_certificate))
