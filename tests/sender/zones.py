"""Test zones: a ministry, a BMA district office, an agency without DMARC, an attacker,
and a forwarder that seals with ARC; each with its own DKIM key made here."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MINISTRY = "moi.go.th"  # กระทรวงมหาดไทย: SPF, DKIM, DMARC p=reject
DISTRICT = "dindaeng.bangkok.go.th"  # สำนักงานเขตดินแดง, under the BMA's bangkok.go.th (p=quarantine)
NO_DMARC = "dla.go.th"  # an agency that signs but publishes no DMARC
ATTACKER = "m0i-go.example"  # the attacker's own domain, fully "authenticated"
FORWARDER = "relay.example"  # a mail service that forwards and seals ARC
OTHER = "chula.ac.th"  # a university: DMARC p=reject, not a go.th domain
SELECTOR = "sel2569"

# The ministry's mail servers; loopback (where tests connect from) is not among them.
MINISTRY_IPS = "192.0.2.0/24"


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    dns_txt: str


@lru_cache(maxsize=None)
def key(domain: str) -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return Key(pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())


def zones() -> dict[str, dict[str, list]]:
    z: dict[str, dict[str, list]] = {}

    def add(name: str, rtype: str, value) -> None:
        z.setdefault(name, {}).setdefault(rtype, []).append(value)

    add(MINISTRY, "TXT", f"v=spf1 ip4:{MINISTRY_IPS} -all")
    add(MINISTRY, "A", "192.0.2.10")
    add(f"{SELECTOR}._domainkey.{MINISTRY}", "TXT", key(MINISTRY).dns_txt)
    add(f"_dmarc.{MINISTRY}", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@moi.go.th")
    add("bangkok.go.th", "TXT", "v=spf1 ip4:198.51.100.0/24 -all")
    add("_dmarc.bangkok.go.th", "TXT", "v=DMARC1; p=quarantine; sp=quarantine")
    add(DISTRICT, "A", "198.51.100.20")
    add(f"{SELECTOR}._domainkey.{DISTRICT}", "TXT", key(DISTRICT).dns_txt)
    add(NO_DMARC, "TXT", "v=spf1 ip4:203.0.113.0/24 ~all")
    add(f"{SELECTOR}._domainkey.{NO_DMARC}", "TXT", key(NO_DMARC).dns_txt)
    add(ATTACKER, "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    add(f"{SELECTOR}._domainkey.{ATTACKER}", "TXT", key(ATTACKER).dns_txt)
    add(f"_dmarc.{ATTACKER}", "TXT", "v=DMARC1; p=none")
    add(FORWARDER, "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    add(f"{SELECTOR}._domainkey.{FORWARDER}", "TXT", key(FORWARDER).dns_txt)
    add(OTHER, "TXT", "v=spf1 -all")
    add(f"{SELECTOR}._domainkey.{OTHER}", "TXT", key(OTHER).dns_txt)
    add(f"_dmarc.{OTHER}", "TXT", "v=DMARC1; p=reject")
    return z


SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]


def dkim_sign(raw: bytes, domain: str, selector: str = SELECTOR, headers: list[bytes] = SIGNED_HEADERS) -> bytes:
    """raw with a DKIM-Signature of `domain` prepended, as the agency's server adds it."""
    signature = dkim.sign(raw, selector.encode(), domain.encode(), key(domain).private_pem,
                          include_headers=headers)
    return signature + raw


def arc_seal(raw: bytes, sealer: str, authserv_id: str, results: str) -> bytes:
    """What a forwarder does: record what it saw (Authentication-Results), then seal."""
    with_ar = f"Authentication-Results: {authserv_id}; {results}\r\n".encode() + raw
    headers = dkim.arc_sign(with_ar, SELECTOR.encode(), sealer.encode(), key(sealer).private_pem,
                            authserv_id.encode(), include_headers=SIGNED_HEADERS)
    return b"".join(headers) + with_ar
