"""Certificates made in the test: a registrar's key pair as a CA would issue it."""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_cert(
    name: str = "นายทะเบียนลับ registrar",
    *,
    key=None,
    bits: int = 2048,
    days: int = 365,
    starts_days_ago: int = 1,
    key_encipherment: bool = True,
    key_usage: bool = True,
    ec_key: bool = False,
    email_eku: bool = True,
):
    """(private key, certificate), self-issued; validity shifted as asked."""
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1()) if ec_key else rsa.generate_private_key(65537, bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=starts_days_ago))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if key_usage:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=key_encipherment, data_encipherment=False,
                key_agreement=ec_key, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    if email_eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return key, builder.sign(key, hashes.SHA256())


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
