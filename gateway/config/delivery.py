"""Configuration of the mail-server backends: IMAP folders, SMTP forwards, IMAP intake.

Kept apart from gateway/config/settings.py so that the delivery and intake keys read as one
idea. Every table forbids unknown keys, like the rest of the configuration, so a
misspelt `pasword` is an error at start-up and not a login failure at 3 a.m.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.bounds import Section
from gateway.config.views import AccountDerived, ImapIntakeDerived, SmtpForwardDerived, is_loopback

SECRET_KEYS = ("password",)


class _Strict(Section):
    pass


class _Account(_Strict, AccountDerived):
    """Who to log in as. `password_file` (a systemd credential, say) beats `password`
    (AccountDerived.secret)."""

    username: str | None = None
    password: str | None = None
    password_file: Path | None = None


def _tls_unless_loopback(host: str, tls: bool) -> None:
    """Without TLS the letters and the password cross the network in the clear: only a
    server on this host may go without (the documented rule, refused since session 14)."""
    if not tls and not is_loopback(host):
        raise ValueError(f"tls = false would send letters and the password to {host} unencrypted; "
                         "it is allowed only for a server on this host (127.0.0.1, ::1, localhost): "
                         "use tls = true (IMAPS, port 993)")


def _verified_unless_loopback(host: str, verify: bool) -> None:
    """An unverified certificate is no better than none against a server put in the
    mail server's place (a poisoned DNS entry, a spoofed LAN address): it gets the
    password at LOGIN and every letter. Refused like `tls = false` (red team of 7 Dec
    2026): a private CA is trusted with `ca_file`."""
    if not verify and not is_loopback(host):
        raise ValueError(f"verify = false would accept any certificate from {host}, so a server in its place "
                         "would get the password and the letters; it is allowed only for a server on this host "
                         "(127.0.0.1, ::1, localhost): give the server's CA (or its certificate) as ca_file instead")


def no_plain_password(host: str, encrypted: bool, username: str | None, what: str) -> None:
    """An SMTP account's password is sent (AUTH PLAIN/LOGIN: base64, not encryption) only
    inside TLS, unless the server is on this host: smtplib logs in over a plain session
    whenever the server offers AUTH there."""
    if username and not encrypted and not is_loopback(host):
        raise ValueError(f"{what}: username is set but starttls (or tls) is not: the password would cross the "
                         f"network to {host} in plain text; set starttls = true (or tls = true for port 465)")


class ImapServer(_Account):
    """[delivery.imap.<name>]: a mail server whose folders receive filed letters."""

    host: str
    port: int = Field(993, ge=1, le=65535)
    tls: bool = True  # implicit TLS (IMAPS); false only for a loopback or test server
    ca_file: Path | None = None  # trust this CA/certificate instead of the system store
    verify: bool = True
    timeout: float = Field(30.0, gt=0)  # seconds for any one IMAP command
    # Folder names use "/" between levels; the gateway asks the server for its own
    # hierarchy separator and personal-namespace prefix (NAMESPACE, LIST "" "") and
    # spells the name with them, so "Saraban/{folder}" works on a "." server too.
    folder: str = "Saraban/{folder}"  # {folder}: the unit's folder in units.toml; {unit}: its address
    # The secret registrar's (นายทะเบียนลับ) copies of ลับ/ลับมาก letters (S/MIME, sealed).
    registrar_folder: str = "Saraban/{folder}/Secret"
    keyword: str = "$SarabanRegistered"  # IMAP keyword set on every filed copy

    @model_validator(mode="after")
    def _tls(self) -> "ImapServer":
        _tls_unless_loopback(self.host, self.tls)
        _verified_unless_loopback(self.host, self.verify)
        return self

    @field_validator("keyword")
    @classmethod
    def _atom(cls, value: str) -> str:
        if not value or any(ch in value for ch in ' (){%*"\\]') or not value.isascii():
            raise ValueError("an IMAP keyword is one ASCII word without spaces or ( ) { % * \" \\ ]")
        return value


class SmtpForward(_Account, SmtpForwardDerived):
    """[delivery.smtp.<name>]: a relay through which copies go to departmental addresses."""

    host: str
    port: int = Field(25, ge=1, le=65535)
    tls: bool = False  # implicit TLS (port 465)
    # None (not set): STARTTLS unless the relay is on this host, as [notices] starttls.
    starttls: bool | None = None
    ca_file: Path | None = None
    timeout: float = Field(30.0, gt=0)
    from_address: str | None = None  # envelope sender; default: the unit's own address

    @model_validator(mode="after")
    def _password_encrypted(self) -> "SmtpForward":
        no_plain_password(self.host, self.tls or self.uses_starttls, self.username, "[delivery.smtp]")
        return self


class RegistrarRoute(_Account):
    """[delivery.units."<unit>".registrar]: where the unit's secret registrars
    (นายทะเบียนลับ) get the S/MIME copies of ลับ/ลับมาก letters, through the unit's backend.

    IMAP: the registrar's own account (username/password; default the unit's) and folder
    (default the server's `registrar_folder`). SMTP: the registrars' addresses (`to`)."""

    folder: str | None = None
    to: list[str] = Field(default_factory=list)


class UnitDelivery(_Account):
    """[delivery.units."<unit>"]: where this unit's letters are filed."""

    backend: Literal["maildir", "imap", "smtp"]
    server: str | None = None  # name in [delivery.imap] / [delivery.smtp]; default: the only one
    folder: str | None = None  # IMAP folder for this unit (else the server's template)
    to: list[str] = Field(default_factory=list)  # SMTP forward: departmental addresses
    registrar: RegistrarRoute | None = None  # secret registrar's copies (default: see RegistrarRoute)


class ImapIntake(_Account, ImapIntakeDerived):
    """[[imap_intake]]: a central mailbox the gateway pulls letters from."""

    unit: str  # the unit the letters are addressed to (local part, e.g. saraban.latkrabang)
    host: str
    port: int = Field(993, ge=1, le=65535)
    tls: bool = True
    ca_file: Path | None = None
    verify: bool = True
    mailbox: str = "INBOX"
    processed_folder: str | None = None  # move registered messages here (created if missing)
    keyword: str = "$SarabanRegistered"  # set once the registration is committed
    use_idle: bool = True  # false: poll even if the server offers IDLE
    # Re-issue IDLE this often: servers drop idle clients, and a peer gone silently (a
    # NAT entry expired) is only noticed when IDLE is re-issued. RFC 2177 has clients
    # re-issue it within 29 minutes, when a server may log them off.
    idle_interval: float = Field(300.0, gt=0, le=29 * 60)
    poll_interval: float = Field(60.0, gt=0)  # without IDLE: look for new mail this often
    timeout: float = Field(30.0, gt=0)  # seconds for any one IMAP command
    reconnect_max: float = Field(60.0, gt=0)  # longest wait between reconnection attempts
    lease_ttl: float = Field(60.0, ge=2)  # another gateway takes over this long after we vanish
    max_size: int | None = None  # bigger messages are left on the server (default: smtp.max_message_size)

    @model_validator(mode="after")
    def _tls(self) -> "ImapIntake":
        _tls_unless_loopback(self.host, self.tls)
        _verified_unless_loopback(self.host, self.verify)
        return self

    @field_validator("unit")
    @classmethod
    def _local(cls, value: str) -> str:
        return value.split("@", 1)[0].lower()


def check_routes(imap: dict[str, ImapServer], smtp: dict[str, SmtpForward],
                 units: dict[str, UnitDelivery], default_backend: str = "maildir") -> None:
    """Every unit route names a server that exists, of the right kind."""
    if default_backend == "imap" and len(imap) != 1:
        raise ValueError('backend = "imap" for every unit needs exactly one [delivery.imap.<name>] table '
                         '(or name the server per unit in [delivery.units."<unit>"])')
    if default_backend == "smtp":
        raise ValueError('backend = "smtp" needs departmental addresses per unit: '
                         'set it in [delivery.units."<unit>"] with to = [...]')
    for unit, route in units.items():
        if route.backend == "maildir":
            continue
        pool = imap if route.backend == "imap" else smtp
        section = f"delivery.{route.backend}"
        if route.server is None:
            if len(pool) != 1:
                raise ValueError(f'units."{unit}": backend {route.backend!r} needs server = one of '
                                 f"[{section}.<name>] ({', '.join(pool) or 'none configured'})")
        elif route.server not in pool:
            raise ValueError(f'units."{unit}": server {route.server!r} is not a [{section}.<name>] table '
                             f"(have: {', '.join(pool) or 'none'})")
        if route.backend == "smtp" and not route.to:
            raise ValueError(f'units."{unit}": backend "smtp" needs to = ["department@..."]')
        if route.backend == "smtp" and route.registrar is not None and not route.registrar.to:
            raise ValueError(f'units."{unit}".registrar: backend "smtp" needs to = ["registrar@..."]')


def mask_secrets(data: object) -> object:
    """A copy of a configuration dump with every password replaced by stars, also the
    one inside a URL (`storage.database_url`, printed in clear by check-config until
    session 36)."""
    if isinstance(data, dict):
        return {k: ("********" if k in SECRET_KEYS and v else mask_secrets(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str):
        return mask_url(data)
    return data


def mask_url(url: str) -> str:
    """`scheme://user:password@host/...` with the password as stars; anything else as it is."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:********@{host}"
    return url
