"""The key store: the gateway's own key pairs and each unit's registrar certificates.

Layout under the store directory (default `<data_dir>/keys/`, mode 0700):

    gateway/<key-fp>/key.pem     private key, PKCS#8 PEM, mode 0600
    gateway/<key-fp>/cert.pem    its certificate
    gateway/CURRENT              the key fingerprint new letters are protected with
    seal/<key-fp>/key.pem        the receive stamp's own key (EC P-256), and cert.pem
    seal/CURRENT                 the seal new stamps are signed with; a store without
                                 seal/ (made before session 51) stamps with gateway/
    registrars/<unit>/<cert-fp>.pem   a secret registrar's (นายทะเบียนลับ) certificate

A key is named by the SHA-256 of its SubjectPublicKeyInfo, so a renewed certificate for
the same key keeps its name and stored blobs (which record that fingerprint) stay
readable. Rotation adds a key and moves CURRENT; old keys are never deleted here,
because letters stored years ago must still open.

Private keys are stored unencrypted (the daemon starts unattended) and protected by
the file mode: a key file that group or others can read is refused, as ssh does.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.secrecy.errors import SecrecyError
from gateway.secrecy.key_files import (
    current_gateway_fingerprint,
    current_seal_fingerprint,
    fingerprints_in,
    gateway_dir,
    gateway_key_state,
    keys_dir,
    seal_common_name,
    seal_dir,
)

log = structlog.get_logger(__name__)

MIN_RSA_BITS = 2048
NEW_RSA_BITS = 3072
NEW_CERT_DAYS = 730
# documentSigning (RFC 9336): what the seal's certificate is for, and nothing else.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# Unit codes are the local-part pieces of saraban.<org>[.<unit>] ("dds.sd", "cd&sw");
# they become directory names, so nothing that could climb out of the store.
_UNIT_RE = re.compile(r"^[A-Za-z0-9&_-][A-Za-z0-9.&_-]{0,63}$")


def key_fingerprint(public_key) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo: stable across certificate renewals."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


SAME_FILES_INFO = b"saraban-gateway: files of sealed letters, v1"


def _same_files_key(private_key) -> bytes:
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SAME_FILES_INFO).derive(secret)


def cert_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def registrar_cert_problem(cert: x509.Certificate, now: dt.datetime | None = None) -> str | None:
    """Why this certificate must not be used to encrypt a letter, or None when it may.

    EC certificates are refused: cryptography's PKCS7EnvelopeBuilder only does RSA key
    transport, and we will not hand-roll key agreement for classified mail.
    """
    now = now or _now()
    if cert.not_valid_after_utc <= now:
        return f"expired on {cert.not_valid_after_utc.date().isoformat()}"
    if cert.not_valid_before_utc > now:
        return f"not valid before {cert.not_valid_before_utc.date().isoformat()}"
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC key: only RSA certificates can be encrypted to (S/MIME key transport)"
    if not isinstance(key, rsa.RSAPublicKey):
        return f"unsupported key type {type(key).__name__}"
    if key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})"
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca:
            return "is a CA certificate, not a person's"
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "has no keyUsage extension, so encryption use is not established"
    if not usage.key_encipherment:
        return "keyUsage does not include keyEncipherment"
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if (
            ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
        ):
            return "extendedKeyUsage does not include emailProtection"
    except x509.ExtensionNotFound:
        pass
    return None


def _check_unit(unit: str) -> str:
    if not isinstance(unit, str) or not _UNIT_RE.match(unit) or ".." in unit:
        raise SecrecyError(f"not a valid unit code: {unit!r}")
    return unit


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write, fsync and rename, with the mode set before any byte is written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits; never added any
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _mkdir_private(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _issue(key, ca_key, common_name: str, *, email: str | None, days: int, uses: x509.KeyUsage,
           purpose: x509.ObjectIdentifier) -> tuple[x509.Certificate, x509.Certificate]:
    """(certificate of `key`, the one-off CA's certificate), both signed by `ca_key`,
    which the caller then drops: nothing else can ever be issued under that CA."""
    if not common_name or not common_name.strip():
        raise SecrecyError("a common name is needed for the certificate")
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "saraban-gateway")]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip()), *attrs])
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip() + " CA"), *attrs])
    now = _now()
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(uses, critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), ca_cert


@dataclass(frozen=True)
class GatewayKey:
    fingerprint: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate


class KeyStore:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        # (gateway_key_state, certificate, same-files key) of the last key sealed to:
        # sealing_certificate, same_files_key.
        self._sealing: tuple[tuple, x509.Certificate, bytes] | None = None

    @classmethod
    def for_data_dir(cls, data_dir: str | os.PathLike) -> "KeyStore":
        return cls(keys_dir(data_dir))

    # -- gateway key pairs -------------------------------------------------------

    @property
    def _gateway_dir(self) -> Path:
        return gateway_dir(self.path)

    def create_gateway_key(
        self, common_name: str, *, email: str | None = None, days: int = NEW_CERT_DAYS
    ) -> str:
        """Generate an RSA key and its certificate; it becomes CURRENT.

        The certificate is issued by a one-off local CA ("<common name> CA") rather than
        self-signed: gpgsm (and RFC 5280) treat a self-signed certificate as a CA, and
        refuse one marked CA:FALSE as a signer. The registrar trusts that CA once
        (docs/secrecy.md); its key is thrown away after signing, so nothing else can
        ever be issued under it. `email` (the From of sealed mail) goes into
        subjectAltName, as RFC 8550 §3 asks of a signer.
        An existing key stays in the store (rotation), so older letters stay readable.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
        uses = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                             crl_sign=False, encipher_only=False, decipher_only=False)
        cert, ca_cert = _issue(key, ca_key, common_name, email=email, days=days, uses=uses,
                               purpose=ExtendedKeyUsageOID.EMAIL_PROTECTION)
        return self._store_slot(self._gateway_dir, key, cert, [ca_cert])

    def create_seal_key(self, common_name: str, *, days: int = NEW_CERT_DAYS) -> str:
        """Generate the receive stamp's own key (EC P-256) and its certificate, issued
        like the gateway key's by a one-off CA; it becomes the seal's CURRENT.

        The stamp needs no key that opens mail, and an ECDSA P-256 signature costs ~0.1
        ms where the gateway key's RSA-3072 one costs 1.3-3.5 ms on this project's
        machine: about a third of the stamping child's CPU a letter (docs/signatures.md).
        Older seals stay in the store, so stamps made with them still verify."""
        key = ec.generate_private_key(ec.SECP256R1())
        ca_key = ec.generate_private_key(ec.SECP256R1())
        uses = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                             crl_sign=False, encipher_only=False, decipher_only=False)
        cert, ca_cert = _issue(key, ca_key, common_name, email=None, days=days, uses=uses,
                               purpose=DOCUMENT_SIGNING)
        return self._store_slot(self._seal_dir, key, cert, [ca_cert])

    def import_gateway_key(self, pem_or_p12: bytes, password: bytes | str | None = None) -> str:
        """Import a key and its certificate from one PEM bundle or a PKCS#12 file."""
        if isinstance(password, str):
            password = password.encode("utf-8")
        data = bytes(pem_or_p12)
        try:
            if b"-----BEGIN" in data:
                key = serialization.load_pem_private_key(data, password=password)
                certs = x509.load_pem_x509_certificates(data)
            else:
                key, cert, extra = pkcs12.load_key_and_certificates(data, password)
                certs = [c for c in [cert, *extra] if c is not None]
        except (ValueError, TypeError) as exc:
            raise SecrecyError(f"cannot read the key file (wrong password or format?): {exc}") from None
        if key is None:
            raise SecrecyError("the file holds no private key")
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
            raise SecrecyError(
                f"the gateway key must be RSA of at least {MIN_RSA_BITS} bits "
                "(it decrypts S/MIME and unwraps stored letters)"
            )
        fp = key_fingerprint(key.public_key())
        matching = [c for c in certs if key_fingerprint(c.public_key()) == fp]
        if not matching:
            raise SecrecyError("no certificate in the file matches the private key")
        cert = matching[0]
        if cert.not_valid_after_utc <= _now():
            raise SecrecyError(
                f"the certificate expired on {cert.not_valid_after_utc.date().isoformat()}"
            )
        # The organisation CA's chain travels in every S/MIME signature, so a registrar's
        # client that trusts the organisation's root accepts the seal without more ado.
        chain = [c for c in certs if key_fingerprint(c.public_key()) != fp]
        return self._store_slot(self._gateway_dir, key, cert, chain)

    def gateway_chain(self, fingerprint: str | None = None) -> list[x509.Certificate]:
        """The intermediate (and root) certificates imported with a gateway key, if any."""
        path = self._gateway_dir / (fingerprint or self.current_fingerprint()) / "chain.pem"
        try:
            return x509.load_pem_x509_certificates(path.read_bytes())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise SecrecyError(f"the gateway key's chain {path} cannot be read: {exc}") from None

    def _store_slot(self, directory: Path, key, cert: x509.Certificate,
                    chain: list[x509.Certificate] | None = None) -> str:
        fp = key_fingerprint(key.public_key())
        _mkdir_private(self.path)
        _mkdir_private(directory)
        slot = directory / fp
        _mkdir_private(slot)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomic(slot / "key.pem", key_pem, 0o600)
        _write_atomic(slot / "cert.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        if chain:
            _write_atomic(slot / "chain.pem",
                          b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain), 0o644)
        _write_atomic(directory / "CURRENT", fp.encode() + b"\n", 0o644)
        log.info("seal_key_stored" if directory == self._seal_dir else "gateway_key_stored",
                 fingerprint=fp, not_after=cert.not_valid_after_utc.isoformat())
        return fp

    def current_fingerprint(self) -> str:
        return current_gateway_fingerprint(self.path)

    def gateway_key(self, fingerprint: str) -> GatewayKey:
        """Load one gateway key pair by fingerprint (for opening older letters)."""
        return self._slot_key(self._gateway_dir, fingerprint, "gateway key")

    def _slot_key(self, directory: Path, fingerprint: str, label: str) -> GatewayKey:
        if not re.fullmatch(r"[0-9a-f]{64}", fingerprint or ""):
            raise SecrecyError("not a key fingerprint")
        slot = directory / fingerprint
        key_path = slot / "key.pem"
        try:
            st = key_path.stat()
        except FileNotFoundError:
            raise SecrecyError(f"{label} {fingerprint[:16]}… is not in the key store") from None
        if st.st_mode & 0o077:
            raise SecrecyError(
                f"{key_path} can be read by other users (mode {st.st_mode & 0o777:o}); "
                "run chmod 600 on it"
            )
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate((slot / "cert.pem").read_bytes())
        except (OSError, ValueError) as exc:
            raise SecrecyError(f"{label} {fingerprint[:16]}… cannot be read: {exc}") from None
        if key_fingerprint(key.public_key()) != fingerprint or key_fingerprint(
            cert.public_key()
        ) != fingerprint:
            raise SecrecyError(f"{label} {fingerprint[:16]}… does not match its name")
        return GatewayKey(fingerprint, key, cert)

    def gateway_identity(self, *, require_valid: bool = True, fingerprint: str | None = None):
        """(private key, certificate) of the CURRENT gateway key (or of `fingerprint`).

        With require_valid (the default, for signing) an expired certificate is an error:
        registrars would see a broken signature.
        """
        gk = self.gateway_key(fingerprint or self.current_fingerprint())
        if require_valid and gk.certificate.not_valid_after_utc <= _now():
            raise SecrecyError(
                "the gateway certificate expired on "
                f"{gk.certificate.not_valid_after_utc.date().isoformat()}: rotate it"
            )
        return gk.private_key, gk.certificate

    def sealing_certificate(self) -> x509.Certificate:
        """The CURRENT gateway key's certificate, to encrypt to (expired or not: at rest
        only the key matters). Its key pair is loaded and checked whole (the private key
        there, mode 600, matching: a letter sealed to a key the store cannot open is
        lost) once for this KeyStore (the pipeline makes one for each letter it seals:
        `store_for`), and again only when CURRENT or the slot's files change: loading the
        3072-bit private key costs about 0.2 s of CPU, and a letter of 1,000 parts (499
        files sealed, each on its own) spent 114 s in all."""
        self._load_sealing()
        return self._sealing[1]

    def same_files_key(self) -> bytes:
        """The key of the keyed hash a sealed letter's register row keeps of its files
        (gateway/pipeline/classified.py `files_mac`), derived from the CURRENT gateway
        private key: the same files sent again are recognised (`same_files`), while
        whoever reads the register without the key store cannot test a guessed document
        against it, as a plain SHA-256 would let them. Loaded with the key sealed to, so
        it costs no second load; a rotation gives a new one (see docs/secrecy.md)."""
        self._load_sealing()
        return self._sealing[2]

    def _load_sealing(self) -> None:
        state = gateway_key_state(self.path)
        if self._sealing is None or self._sealing[0] != state:
            private_key, certificate = self.gateway_identity(require_valid=False)
            self._sealing = (state, certificate, _same_files_key(private_key))

    def gateway_fingerprints(self) -> list[str]:
        return fingerprints_in(self._gateway_dir)

    # -- the receive stamp's own key (seal/) ---------------------------------------

    @property
    def _seal_dir(self) -> Path:
        return seal_dir(self.path)

    def seal_fingerprints(self) -> list[str]:
        return fingerprints_in(self._seal_dir)

    def current_seal_fingerprint(self) -> str | None:
        return current_seal_fingerprint(self.path)

    def seal_identity(self, fingerprint: str | None = None):
        """(private key, certificate) of the seal's CURRENT key (or of `fingerprint`),
        its certificate unexpired: a stamp signed with an expired one does not verify."""
        fingerprint = fingerprint or self.current_seal_fingerprint()
        if fingerprint is None:
            raise SecrecyError("no seal key of its own: the receive stamp is signed with the gateway key")
        sk = self._slot_key(self._seal_dir, fingerprint, "seal key")
        if sk.certificate.not_valid_after_utc <= _now():
            raise SecrecyError(
                "the seal certificate expired on "
                f"{sk.certificate.not_valid_after_utc.date().isoformat()}: run `keys create-seal --rotate`"
            )
        return sk.private_key, sk.certificate

    def all_gateway_keys(self) -> list[GatewayKey]:
        """Every gateway key, CURRENT first: decryption tries them all."""
        try:
            current = self.current_fingerprint()
        except SecrecyError:
            current = None
        fps = self.gateway_fingerprints()
        fps.sort(key=lambda fp: fp != current)
        return [self.gateway_key(fp) for fp in fps]

    # -- registrar certificates ---------------------------------------------------

    def _unit_dir(self, unit: str) -> Path:
        return self.path / "registrars" / _check_unit(unit)

    def import_registrar_cert(self, unit: str, pem: bytes) -> str:
        """Add a secret registrar's certificate to a unit (a unit may have several)."""
        data = bytes(pem)
        try:
            if b"-----BEGIN" in data:
                certs = x509.load_pem_x509_certificates(data)
            else:
                certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            # The library's words ("error parsing asn1 value: ParseError { kind:
            # InvalidLength }") tell the sysadmin nothing more.
            raise SecrecyError("not a certificate (PEM or DER expected)") from None
        leaves = [c for c in certs if not _is_ca(c)]
        if not leaves and certs:
            # The usual mistake: the issuing CA's certificate saved instead of the person's.
            raise SecrecyError(
                f"this is a CA certificate ({readable_name(certs[0].subject)}), not a registrar's own "
                "certificate: export the registrar's personal (e-mail protection) certificate instead"
            )
        if len(leaves) != 1:
            raise SecrecyError(
                f"expected exactly one personal certificate in the file, found {len(leaves)}"
            )
        cert = leaves[0]
        problem = registrar_cert_problem(cert)
        if problem:
            raise SecrecyError(f"this certificate cannot be used to encrypt letters: {problem}")
        unit_dir = self._unit_dir(unit)
        _mkdir_private(self.path)
        (self.path / "registrars").mkdir(mode=0o700, exist_ok=True)
        unit_dir.mkdir(mode=0o700, exist_ok=True)
        fp = cert_fingerprint(cert)
        _write_atomic(unit_dir / f"{fp}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("registrar_cert_imported", unit=unit, fingerprint=fp)
        return fp

    def _all_registrar_certs(self, unit: str) -> list[x509.Certificate]:
        unit_dir = self._unit_dir(unit)
        if not unit_dir.is_dir():
            return []
        certs = []
        for p in sorted(unit_dir.glob("*.pem")):
            try:
                certs.append(x509.load_pem_x509_certificate(p.read_bytes()))
            except ValueError:
                log.warning("registrar_cert_unreadable", unit=unit, file=p.name)
        return certs

    def registrar_certs(self, unit: str) -> list[x509.Certificate]:
        """The unit's registrar certificates that may be encrypted to right now."""
        return [c for c in self._all_registrar_certs(unit) if registrar_cert_problem(c) is None]

    def units(self) -> list[str]:
        base = self.path / "registrars"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    # -- reporting ----------------------------------------------------------------

    def listing(self) -> list[dict]:
        now = _now()
        rows: list[dict] = []
        for kind, directory, which in (("gateway", self._gateway_dir, self.current_fingerprint),
                                       ("seal", self._seal_dir, self.current_seal_fingerprint)):
            try:
                current = which()
            except SecrecyError:
                current = None
            for fp in fingerprints_in(directory):
                rows.append(_slot_row(kind, directory / fp, fp, fp == current, now))
        for unit in self.units():
            for cert in self._all_registrar_certs(unit):
                rows.append(
                    _row("registrar", unit, cert_fingerprint(cert), cert,
                         registrar_cert_problem(cert, now), None, now)
                )
        return rows

    def warnings(self, days: int = 30) -> list[str]:
        """Plain sentences for the operator: missing, unusable or soon-expiring keys."""
        return [en for _th, en in self.warning_pairs(days)]

    def warning_pairs(self, days: int = 30) -> list[tuple[str, str]]:
        """`warnings`, each in Thai and English: the desk's operations page shows both
        (until session 15 it showed the English alone to a Thai clerk)."""
        out: list[tuple[str, str]] = []
        rows = self.listing()
        if not any(r["kind"] == "gateway" and r["current"] for r in rows):
            out.append(("ไม่มีกุญแจของระบบที่ใช้อยู่ หนังสือลับจะลงนามและเก็บไม่ได้",
                        "no current gateway key: classified letters cannot be signed or stored"))
        try:
            seal = self.current_seal_fingerprint()
        except SecrecyError as exc:
            out.append((f"กุญแจลงนามตรารับ: {'แฟ้ม CURRENT หายไป' if 'missing' in str(exc) else 'แฟ้ม CURRENT เสียหาย'} "
                        "ตรารับจะลงนามไม่ได้ (สร้างใหม่ด้วย keys create-seal --rotate)",
                        f"seal key: {exc}: receive stamps cannot be signed (keys create-seal --rotate)"))
        else:
            if seal is not None and not any(r["kind"] == "seal" and r["current"] for r in rows):
                out.append((f"กุญแจลงนามตรารับ: แฟ้ม CURRENT ระบุกุญแจ {seal[:16]}… ซึ่งไม่มีในที่เก็บกุญแจ "
                            "ตรารับจะลงนามไม่ได้ (สร้างใหม่ด้วย keys create-seal --rotate)",
                            f"seal key: keys/seal/CURRENT names {seal[:16]}…, which is not in the key store: "
                            "receive stamps cannot be signed (keys create-seal --rotate)"))
        for r in rows:
            who = {"gateway": "gateway key", "seal": "seal key"}.get(r["kind"], f"registrar of {r['unit']}")
            who_th = {"gateway": "กุญแจของระบบ", "seal": "กุญแจลงนามตรารับ"}.get(
                r["kind"], f"ใบรับรองของนายทะเบียนลับ {r['unit']}")
            name = f"{r['subject'] or ''} ({r['fingerprint'][:16]})"
            # Retired keys are kept for old letters and stamps: their expiry is expected, and
            # a warning about it (`--check` exit 1 for its last 30 days) had no remedy.
            retired = r["kind"] != "registrar" and not r["current"]
            if retired and r["problem"] and "expired" in r["problem"]:
                continue
            if r["problem"]:
                out.append((f"{who_th} {name}: {problem_in_thai(r['problem'])}", f"{who} {name}: {r['problem']}"))
            elif r["days_left"] is not None and r["days_left"] <= days and not retired:
                out.append((f"{who_th} {name} จะหมดอายุในอีก {r['days_left']} วัน ({r['not_after'][:10]})",
                            f"{who} {name} expires in {r['days_left']} days ({r['not_after']})"))
        for unit in self.units():
            if not self.registrar_certs(unit):
                out.append((f"หน่วย {unit} ไม่มีใบรับรองของนายทะเบียนลับที่ใช้ได้ หนังสือลับของหน่วยจะค้างอยู่ในรายการกักกัน",
                            f"unit {unit} has no usable registrar certificate: its classified letters stay in quarantine"))
        return out


# A key's or certificate's problem (registrar_cert_problem, listing) in Thai, for the desk.
_PROBLEMS_TH = (
    (r"expired on (\S+)", "หมดอายุแล้วเมื่อ {0}"),
    (r"not valid before (\S+)", "ยังใช้ไม่ได้จนถึง {0}"),
    (r"EC key", "เป็นกุญแจแบบ EC เข้ารหัสหนังสือถึงไม่ได้ (ใช้ได้เฉพาะใบรับรอง RSA)"),
    (r"unsupported key type (\S+)", "กุญแจชนิด {0} ใช้ไม่ได้"),
    (r"RSA key of (\d+) bits is too short \(at least (\d+)\)", "กุญแจ RSA ยาว {0} บิต สั้นเกินไป (ต้องอย่างน้อย {1} บิต)"),
    (r"is a CA certificate", "เป็นใบรับรองของผู้ออกใบรับรอง (CA) ไม่ใช่ของบุคคล"),
    (r"has no keyUsage", "ไม่มีส่วนขยาย keyUsage จึงยืนยันไม่ได้ว่าใช้เข้ารหัสได้"),
    (r"keyUsage does not include keyEncipherment", "keyUsage ไม่มี keyEncipherment จึงใช้เข้ารหัสไม่ได้"),
    (r"extendedKeyUsage does not include emailProtection", "extendedKeyUsage ไม่มี emailProtection"),
    (r"key\.pem mode (\S+) is readable by others", "แฟ้มกุญแจ key.pem (สิทธิ์ {0}) ผู้อื่นอ่านได้"),
    (r"(?:certificate|key) file cannot be read", "อ่านแฟ้มใบรับรองหรือแฟ้มกุญแจไม่ได้"),
    (r"cert\.pem is not this key's certificate", "แฟ้ม cert.pem ไม่ใช่ใบรับรองของกุญแจนี้"),
)


def problem_in_thai(problem: str) -> str:
    for pattern, thai in _PROBLEMS_TH:
        if m := re.search(pattern, problem):
            return thai.format(*m.groups())
    return f"ใช้ไม่ได้ ({problem})"


def seal_address(settings) -> str:
    """The From of sealed mail (`[secrecy] from_address`), which the seal must carry."""
    return settings.secrecy.from_address or f"saraban-gateway@{settings.gateway.domain}"


def cert_addresses(cert: x509.Certificate) -> list[str]:
    """The certificate's e-mail addresses (subjectAltName rfc822Name, else the subject's
    emailAddress), lower-cased: what a mail client compares with From (RFC 8550 §3)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        found = []
    if not found:
        found = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return [str(a).lower() for a in found]


def seal_address_problem(store: "KeyStore", address: str) -> str | None:
    """Why the current gateway key cannot sign mail From `address`, or None (also when
    there is no key yet: then nothing is sent)."""
    try:
        _, cert = store.gateway_identity(require_valid=False)
    except SecrecyError:
        return None
    have = cert_addresses(cert)
    if address.lower() in have:
        return None
    return (f"the gateway certificate ({cert.subject.rfc4514_string()}) carries "
            f"{', '.join(have) if have else 'no e-mail address'}, but sealed mail is sent From "
            f"{address} ([secrecy] from_address): registrars' clients would flag the signer. "
            "Create a key with `saraban-gateway keys create --rotate --email ADDRESS` or import "
            "one issued for that address (`saraban-gateway keys import`)")


def refuse_seal_mismatch(settings) -> None:
    """Start-up and check-config: a seal whose address is not the From of sealed mail is
    a configuration error (ConfigError), not a surprise in a registrar's mail client."""
    from gateway.config.views import ConfigError

    problem = seal_address_problem(KeyStore.for_data_dir(settings.data_dir), seal_address(settings))
    if problem:
        raise ConfigError(f"{settings.source}: {problem}")


def readable_name(name: x509.Name) -> str:
    """'CN=สมศรี ใจดี,E=somsri@bangkok.go.th': the e-mail attribute by a name an operator
    recognises, not its OID (1.2.840.113549.1.9.1), and Thai left readable."""
    # In certificate order (CN first), unlike RFC 4514's reversed one.
    return ",".join(rdn.rfc4514_string({NameOID.EMAIL_ADDRESS: "E"}) for rdn in name.rdns)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _slot_row(kind: str, slot: Path, fp: str, current: bool, now: dt.datetime) -> dict:
    """`listing`'s row of one of the gateway's own key pairs (a gateway key or a seal)."""
    problem = None
    try:
        cert = x509.load_pem_x509_certificate((slot / "cert.pem").read_bytes())
        mode = (slot / "key.pem").stat().st_mode & 0o777
        if mode & 0o077:
            problem = f"key.pem mode {mode:o} is readable by others"
        elif key_fingerprint(cert.public_key()) != fp:  # the slot's name is its key's: stamps would fail
            problem = "cert.pem is not this key's certificate"
        elif cert.not_valid_after_utc <= now:
            problem = f"expired on {cert.not_valid_after_utc.date().isoformat()}"
    except (OSError, ValueError):  # the exception's words are Python's, not an operator's
        return _row(kind, None, fp, None, "certificate or key file cannot be read", current, now)
    return _row(kind, None, fp, cert, problem, current, now)


def _row(kind, unit, fp, cert, problem, current, now) -> dict:
    if cert is None:
        return {"kind": kind, "unit": unit, "fingerprint": fp, "subject": None, "emails": [],
                "not_after": None, "days_left": None, "current": current,
                "usable": False, "problem": problem}
    return {
        "kind": kind,
        "unit": unit,
        "fingerprint": fp,
        "subject": readable_name(cert.subject),
        "emails": cert_addresses(cert),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": (cert.not_valid_after_utc - now).days,
        "current": current,
        "usable": problem is None,
        "problem": problem,
    }


def ensure_gateway_key(store: KeyStore, settings) -> bool:
    """A gateway key to seal with, made at the first classified letter if nobody ran
    `keys create`: a ลับ letter is then sealed like any other, never kept in plaintext
    or parked for want of a key. False only when no key can be made (the key
    directory is not writable); the caller then fails closed."""
    try:
        store.current_fingerprint()
        return True
    except SecrecyError:
        pass
    try:
        if not store.gateway_fingerprints() and not store.seal_fingerprints():
            # The first key comes with the receive stamp's seal, however it is made (the
            # daemon's start, `keys create`, here with the stamp off): a stamp turned on
            # later is then signed as a new installation's, not with this RSA key.
            store.create_seal_key(seal_common_name(settings))
        fp = store.create_gateway_key(f"saraban-gateway ({settings.gateway.domain})",
                                      email=seal_address(settings))
    except (OSError, SecrecyError) as exc:
        log.error("gateway_key_not_created", error=str(exc))
        return False
    log.warning("gateway_key_created", fingerprint=fp,
                hint="back up the keys directory; give secret registrars the seal's CA certificate (docs/secrecy.md)")
    return True
