"""S/MIME for secret registrars (นายทะเบียนลับ): sign inside, then encrypt to each of them.

What a registrar receives is an RFC 5751 message:

    Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"
      └ CMS EnvelopedData, AES-256-CBC, RSA key transport to every registrar cert
          └ multipart/signed (protocol="application/pkcs7-signature", SHA-256)
              ├ the letter (the MIME entity the pipeline hands us)
              └ smime.p7s: the gateway's detached CMS signature

Signed-then-encrypted is what Thunderbird and Outlook themselves send, and they show
both the lock and the signature. The inner signature matters: CBC has no integrity,
so without it a changed ciphertext would decrypt to changed garbage unnoticed.
"""
from __future__ import annotations

import base64
import email
import email.parser
import email.policy
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage

import structlog
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.secrecy import ber
from gateway.secrecy.auth_enveloped import decrypt_auth_enveloped, decrypt_enveloped
from gateway.secrecy.errors import SecrecyError, TamperedError
from gateway.secrecy.keys import KeyStore, registrar_cert_problem
from gateway.secrecy.smime_label import smime_labelled

log = structlog.get_logger(__name__)

_PKCS7_MIME = {"application/pkcs7-mime", "application/x-pkcs7-mime"}
_SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature"}
# Headers the envelope itself owns; a caller must not be able to override them.
_ENVELOPE_HEADERS = {"content-type", "content-transfer-encoding", "content-disposition",
                     "mime-version", "content-description"}


def _canonical(data: bytes) -> bytes:
    """CRLF line ends, as S/MIME signs (RFC 5751 3.1.1)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def sign_entity(mime_bytes: bytes, gateway_key, gateway_cert: x509.Certificate,
                chain: Iterable[x509.Certificate] = ()) -> bytes:
    """A multipart/signed (clear-signed) MIME entity around `mime_bytes`; `chain` (the
    seal's issuing CA) travels in the signature so the registrar's client can build
    the path to the CA it trusts."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(_canonical(mime_bytes))
        .add_signer(gateway_cert, gateway_key, hashes.SHA256())
    )
    for cert in chain:
        builder = builder.add_certificate(cert)
    return builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])


def seal_for_registrars(
    mime_bytes: bytes,
    registrar_certs: Iterable[x509.Certificate],
    gateway_key,
    gateway_cert: x509.Certificate,
    *,
    headers: Mapping[str, str] | None = None,
    chain: Iterable[x509.Certificate] = (),
) -> bytes:
    """The complete S/MIME message for the unit's registrars, or SecrecyError.

    `mime_bytes` is the MIME entity to protect (headers + body; see `letter_entity`).
    `headers` are the outer, cleartext headers (From, To, Subject, Date, Message-ID):
    keep the real subject out of them, it travels inside. Never returns plaintext.
    """
    certs = list(registrar_certs or [])
    if not certs:
        raise SecrecyError("no registrar certificate: the letter cannot be encrypted")
    for cert in certs:
        problem = registrar_cert_problem(cert)
        if problem:
            # One bad certificate fails the whole send: the caller chose these
            # recipients, and silently dropping one would lose a registrar's copy.
            raise SecrecyError(f"registrar certificate {cert.subject.rfc4514_string()}: {problem}")
    if gateway_key is None or gateway_cert is None:
        raise SecrecyError("no gateway key to sign with")
    if not mime_bytes:
        raise SecrecyError("nothing to encrypt")
    signed = sign_entity(mime_bytes, gateway_key, gateway_cert, chain)
    builder = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(signed)
        .set_content_encryption_algorithm(algorithms.AES256)
    )
    for cert in certs:
        builder = builder.add_recipient(cert)
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return _wrap_enveloped(der, headers or {})


def _wrap_enveloped(der: bytes, headers: Mapping[str, str]) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    for name, value in headers.items():
        if name.lower() in _ENVELOPE_HEADERS:
            raise SecrecyError(f"header {name} belongs to the envelope")
        if "\r" in str(value) or "\n" in str(value):
            raise SecrecyError(f"header {name} contains a line break")
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg.set_content(
        der,
        maintype="application",
        subtype="pkcs7-mime",
        cte="base64",
        disposition="attachment",
        filename="smime.p7m",
        params={"smime-type": "enveloped-data", "name": "smime.p7m"},
    )
    msg["Content-Description"] = "S/MIME Encrypted Message"
    return msg.as_bytes()


def letter_entity(raw_letter: bytes, note: str) -> bytes:
    """A multipart/mixed entity: a short text note and the original letter, byte for byte.

    The original goes in written out by hand rather than through the email package,
    which would refold its headers: the registrar may need the exact bytes the sender
    sent as evidence. Two details keep it exact (docs/secrecy.md, tests by SHA-256):
    the CRLF before the closing delimiter belongs to the delimiter (RFC 2046 §5.1.1),
    so one is added after the letter rather than borrowing the letter's last one; and
    a letter that is not CRLF-canonical (a bare LF or CR) cannot travel as message/rfc822
    inside a signature that canonicalises line ends, so it goes base64-encoded as
    application/octet-stream `letter.eml`, which no step may alter.
    """
    letter = bytes(raw_letter)
    # A CR alone is no more canonical than an LF alone (`x\r\r\n`, line ends converted
    # twice on Windows): the S/MIME writer made it CRLF inside the signature, whose digest
    # was taken before, and the registrar's OpenSSL and gpgsm called a genuine seal forged
    # (session 43's red team).
    canonical = letter.count(b"\r") == letter.count(b"\r\n") == letter.count(b"\n")
    if canonical:
        encoding = b"7bit" if letter.isascii() else b"8bit"
        part_head = (b"Content-Type: message/rfc822\r\n"
                     b"Content-Transfer-Encoding: " + encoding + b"\r\n")
        body = letter
    else:
        part_head = (b'Content-Type: application/octet-stream; name="letter.eml"\r\n'
                     b"Content-Transfer-Encoding: base64\r\n")
        body = base64.encodebytes(letter).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    while True:
        boundary = "saraban-" + secrets.token_hex(16)
        if boundary.encode() not in letter:
            break
    note_b64 = base64.encodebytes(note.encode("utf-8")).replace(b"\n", b"\r\n")
    b = boundary.encode()
    return b"".join([
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n',
        b"--" + b + b"\r\n",
        b'Content-Type: text/plain; charset="utf-8"\r\n',
        b"Content-Transfer-Encoding: base64\r\n\r\n",
        note_b64,
        b"--" + b + b"\r\n",
        part_head,
        b'Content-Disposition: attachment; filename="letter.eml"\r\n\r\n',
        body,
        b"\r\n--" + b + b"--\r\n",
    ])


def letter_from_entity(entity: bytes) -> bytes:
    """The original letter out of a `letter_entity` (as a registrar's tools see it):
    the second part's body, cut out by boundary, decoded if it was base64."""
    msg = email.message_from_bytes(entity, policy=email.policy.compat32)
    b = (msg.get_boundary() or "").encode("ascii")
    if not b:
        raise SecrecyError("the sealed letter has no MIME boundary")
    parts = bytes(entity).split(b"\r\n--" + b + b"\r\n")  # preamble end, the note, the letter
    if len(parts) != 3:
        raise SecrecyError("the sealed letter does not have its two parts")
    second = parts[2]
    head, _, rest = second.partition(b"\r\n\r\n")
    body = rest.rsplit(b"\r\n--" + b + b"--", 1)[0]
    if b"base64" in head.lower():
        return base64.b64decode(b"".join(body.split()))
    return body


@dataclass(frozen=True)
class OpenedLetter:
    content: bytes  # the MIME entity that was signed, CRLF line ends
    signer: x509.Certificate


def open_envelope(
    smime_message: bytes,
    recipient_key,
    recipient_cert: x509.Certificate,
    *,
    trusted_signers: Iterable[x509.Certificate],
) -> OpenedLetter:
    """Decrypt what `seal_for_registrars` made and check the gateway's inner signature.

    For tests and the CLI. Raises SecrecyError if it cannot be decrypted and
    TamperedError if the signature is missing, wrong or from an untrusted signer.
    """
    der = _enveloped_der(smime_message)
    try:
        inner = pkcs7.pkcs7_decrypt_der(der, recipient_cert, recipient_key, [])
    except ValueError as exc:
        raise SecrecyError(f"cannot decrypt: {exc}") from None
    content, signature = split_multipart_signed(inner)
    signer = verify_detached(content, signature, list(trusted_signers))
    return OpenedLetter(content=content, signer=signer)


def _enveloped_der(smime_message: bytes) -> bytes:
    msg = email.message_from_bytes(smime_message, policy=email.policy.compat32)
    if msg.get_content_type() not in _PKCS7_MIME:
        raise SecrecyError(f"not an S/MIME encrypted message ({msg.get_content_type()})")
    smime_type = (msg.get_param("smime-type") or "enveloped-data").lower()
    if smime_type != "enveloped-data":
        raise SecrecyError(f"S/MIME type {smime_type}, not enveloped-data")
    der = msg.get_payload(decode=True)
    if not der:
        raise SecrecyError("the S/MIME body is empty")
    return der


# What an S/MIME letter encrypted to someone is, by its smime-type (RFC 8551 3.2.2):
# enveloped-data, or authEnveloped-data (RFC 5083/5084, AES-GCM: what OpenSSL 3's `cms
# -encrypt -aes-256-gcm` and newer clients send). Until session 40 only the first was
# taken for encrypted: an authEnveloped letter was read as an ordinary one carrying a
# file named smime.p7m, held "no letter found", and its raw kept in the plain vault.
_ENCRYPTED_TYPES = {"enveloped-data", "authenveloped-data"}
_ENCRYPTED_DER = {"enveloped_data", "authenticated_enveloped_data"}



def _content_type(der: bytes) -> str | None:
    if not ber.within_limit(der):
        return None  # asn1crypto would take minutes to find where it ends (gateway/secrecy/ber.py)
    try:
        return cms.ContentInfo.load(der)["content_type"].native
    except Exception:  # noqa: BLE001 - not DER
        return None


def _incoming_encrypted_der(raw: bytes) -> bytes:
    """The CMS of an S/MIME letter encrypted to someone: by its smime-type, or by its
    DER's content type where the parameter is missing or names something else (a client
    that mislabels, or a sender who wants the letter read as signed); SecrecyError
    otherwise."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not smime_labelled(msg):
        raise SecrecyError(f"not an S/MIME encrypted message ({msg.get_content_type()})")
    der = msg.get_payload(decode=True)
    if not der:
        raise SecrecyError("the S/MIME body is empty")
    if msg.get_content_type() not in _PKCS7_MIME:
        # application/octet-stream named .p7m: encrypted when its DER says so. Until
        # session 54 such a letter to the gateway was held "no letter found" and "smime.p7m
        # is application/octet-stream, which is not accepted", its sender told to attach a PDF.
        if _content_type(der) in _ENCRYPTED_DER:
            return der
        raise SecrecyError("an application/octet-stream .p7m that is not encrypted data")
    smime_type = str(msg.get_param("smime-type") or "").lower()
    if smime_type in _ENCRYPTED_TYPES:
        return der
    kind = _content_type(der)
    if kind in _ENCRYPTED_DER or (not smime_type and kind is None):
        return der  # (no smime-type and no DER to tell: tried as enveloped-data, as before)
    raise SecrecyError(f"S/MIME type {smime_type or kind}, not enveloped-data")


def is_encrypted_smime(raw: bytes) -> bool:
    """True when the message's top-level type is S/MIME encrypted to someone
    (enveloped-data or authEnveloped-data)."""
    try:
        _incoming_encrypted_der(raw)
    except SecrecyError:
        return False
    return True


def split_multipart_signed(entity: bytes) -> tuple[bytes, bytes]:
    """(signed content bytes, DER signature) of a multipart/signed entity, byte-exact.

    The content is cut out of the raw bytes by boundary rather than re-serialized by
    the email package, since one changed byte (even a line end) breaks the signature.
    """
    msg = email.message_from_bytes(entity, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/signed":
        raise TamperedError(f"the decrypted letter is not signed ({msg.get_content_type()})")
    boundary = msg.get_boundary()
    if not boundary:
        raise TamperedError("multipart/signed without a boundary")
    data = _canonical(entity)
    b = boundary.encode("ascii", "strict")
    opening = b"--" + b + b"\r\n"
    delim = b"\r\n--" + b + b"\r\n"
    closing = b"\r\n--" + b + b"--"
    first = data.find(opening)
    if first < 0 or (first > 0 and data[first - 2 : first] != b"\r\n"):
        raise TamperedError("multipart/signed: first part not found")
    start = first + len(opening)
    end = data.find(delim, start)
    if end < 0:
        raise TamperedError("multipart/signed: second part not found")
    sig_start = end + len(delim)
    sig_end = data.find(closing, sig_start)
    # Everything the registrar could be shown must be accounted for: exactly two
    # parts, an intact closing delimiter and nothing but white space after it.
    if sig_end < 0 or delim in data[sig_start:sig_end]:
        raise TamperedError("multipart/signed: damaged structure")
    if data[sig_end + len(closing) :].strip():
        raise TamperedError("multipart/signed: data after the closing boundary")
    content = data[start:end]
    sig_part = email.message_from_bytes(data[sig_start:sig_end], policy=email.policy.compat32)
    if sig_part.get_content_type() not in _SIGNATURE_TYPES:
        raise TamperedError("multipart/signed: second part is not a CMS signature")
    if (sig_part.get("Content-Transfer-Encoding") or "").strip().lower() != "base64":
        raise TamperedError("multipart/signed: signature is not base64")
    try:
        body = b"".join(sig_part.get_payload().encode("ascii").split())
        signature = base64.b64decode(body, validate=True)
    except (ValueError, UnicodeEncodeError):
        raise TamperedError("multipart/signed: the signature is not valid base64") from None
    if not signature:
        raise TamperedError("multipart/signed: empty signature")
    return content, signature


_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
           "sha224": hashes.SHA224}


def verify_detached(
    content: bytes, signature_der: bytes, trusted_signers: list[x509.Certificate]
) -> x509.Certificate:
    """Check a detached CMS SignedData over `content` against trusted certificates.

    cryptography signs but does not verify CMS, so this does the RFC 5652 5.4 steps:
    the messageDigest attribute equals the content's digest and the signature over
    the DER SET OF signed attributes verifies with a trusted certificate's key.
    """
    if not trusted_signers:
        raise SecrecyError("no trusted signer certificate to check against")
    try:
        info = cms.ContentInfo.load(signature_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise TamperedError("the signature is not CMS SignedData")
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
    except TamperedError:
        raise
    except Exception as exc:  # asn1crypto raises several types on malformed DER
        raise TamperedError(f"unreadable signature: {exc}") from None
    if not signer_infos:
        raise TamperedError("the signature has no signer")
    for si in signer_infos:
        try:
            cert = _trusted_cert_for(si["sid"], trusted_signers)
            if cert is None:
                continue
            digest_name = si["digest_algorithm"]["algorithm"].native
            if digest_name not in _HASHES:
                raise TamperedError(f"unsupported digest {digest_name}")
            hash_cls = _HASHES[digest_name]
            attrs = si["signed_attrs"]
            if not attrs:
                raise TamperedError("signature without signed attributes")
            md = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
            ct = [a["values"][0].native for a in attrs if a["type"].native == "content_type"]
            if len(md) != 1 or ct != ["data"]:
                raise TamperedError("signed attributes are incomplete")
            h = hashlib.new(hash_cls.name, content).digest()
            if md[0] != h:
                raise TamperedError("the letter was changed after signing (digest mismatch)")
            to_verify = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT -> SET OF, per RFC 5652
            sig = si["signature"].native
            algo = si["signature_algorithm"].signature_algo
            key = cert.public_key()
            if isinstance(key, rsa.RSAPublicKey) and algo == "rsassa_pkcs1v15":
                key.verify(sig, to_verify, padding.PKCS1v15(), hash_cls())
            elif isinstance(key, ec.EllipticCurvePublicKey) and algo == "ecdsa":
                key.verify(sig, to_verify, ec.ECDSA(hash_cls()))
            else:
                raise TamperedError(f"unsupported signature algorithm {algo}")
        except InvalidSignature:
            raise TamperedError("the gateway signature does not verify") from None
        return cert
    raise TamperedError("the letter is not signed by a trusted gateway certificate")


def _trusted_cert_for(sid, trusted: list[x509.Certificate]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for cert in trusted:
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
    elif sid.name == "subject_key_identifier":
        ski = sid.chosen.native
        for cert in trusted:
            try:
                ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ext.value.digest == ski:
                return cert
    return None


MAX_ENCRYPTED_LAYERS = 3  # encrypted inside encrypted (RFC 8551 3.7 allows any nesting)
ENCRYPTED_AGAIN = "S/MIME encrypted again inside"  # how SecrecyError begins for an inner layer


def decrypt_incoming(raw: bytes, keystore: KeyStore) -> bytes:
    """Decrypt S/MIME mail that a sender encrypted to the gateway, in memory.

    Tries every gateway key, old ones included (senders may hold an old certificate).
    Returns the message with its outer headers (minus the envelope's Content-*) and
    the decrypted entity in place of the envelope. Raises SecrecyError when no key fits.

    A letter encrypted again inside (AES-GCM inside AES-CBC, a gateway relaying what it
    received) is opened layer by layer, to MAX_ENCRYPTED_LAYERS. Until session 42 the
    inner layer was taken for the letter, which then had "no document" and a file of a
    type not allowed: the reasons said nothing of the letter being encrypted twice.
    """
    opened = _decrypt_layer(raw, keystore)
    for layer in range(2, MAX_ENCRYPTED_LAYERS + 1):
        if not _pkcs7_mime_by_header(opened) or not is_encrypted_smime(opened):
            return opened
        try:
            opened = _decrypt_layer(opened, keystore)
        except SecrecyError as exc:
            raise SecrecyError(f"{ENCRYPTED_AGAIN}: layer {layer} {exc}") from None
    if _pkcs7_mime_by_header(opened) and is_encrypted_smime(opened):
        raise SecrecyError(f"{ENCRYPTED_AGAIN}: more than {MAX_ENCRYPTED_LAYERS} times over")
    return opened


def _pkcs7_mime_by_header(message: bytes) -> bool:
    """Whether `message`'s top-level type is S/MIME's, from its header block alone: a
    decrypted letter is the sender's, and a whole parse of it here would recurse through
    its nested parts outside the parser's guard (gateway/pipeline/parse.py)."""
    head = message.split(b"\r\n\r\n", 1)[0]
    return smime_labelled(email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\r\n\r\n"))


def _decrypt_layer(raw: bytes, keystore: KeyStore) -> bytes:
    der = _incoming_encrypted_der(raw)
    keys = keystore.all_gateway_keys()
    if not keys:
        raise SecrecyError("no gateway key to decrypt with")
    if _content_type(der) == "authenticated_enveloped_data":
        # cryptography's PKCS#7 decryption opens enveloped-data only (AES-CBC).
        inner, gk = decrypt_auth_enveloped(der, keys)
        log.info("incoming_smime_decrypted", key=gk.fingerprint[:16], cipher="aes-gcm")
        return _outer_headers(raw) + _canonical(inner)
    for gk in keys:
        try:
            inner = pkcs7.pkcs7_decrypt_der(der, gk.certificate, gk.private_key, [])
        except ValueError:
            continue
        except UnsupportedAlgorithm:
            # RSA-OAEP, AES-192-CBC, triple DES: cryptography opens only PKCS#1 v1.5 with
            # AES-128/256-CBC. Until session 54 this escaped as a crash: the letter was
            # retried five times and parked, never registered, its sender never answered.
            break
        log.info("incoming_smime_decrypted", key=gk.fingerprint[:16])
        return _outer_headers(raw) + _canonical(inner)
    # cryptography reads DER alone; streaming encoders (Thunderbird's NSS, Outlook,
    # `openssl cms -stream`) write BER of indefinite lengths, which it refuses as it
    # refuses a wrong key. Until session 54 such a letter, encrypted to the gateway's
    # current certificate, was held "encrypted to a certificate the gateway does not hold".
    inner, gk = decrypt_enveloped(der, keys)
    log.info("incoming_smime_decrypted", key=gk.fingerprint[:16], cipher="own-cms")
    return _outer_headers(raw) + _canonical(inner)


def _outer_headers(raw: bytes) -> bytes:
    """The raw header block without the envelope's own fields (folded lines kept)."""
    data = _canonical(raw)
    head = data.split(b"\r\n\r\n", 1)[0]
    kept: list[bytes] = []
    keep = True
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        keep = not name.startswith("content-")
        if keep:
            kept.append(line)
    return b"".join(line + b"\r\n" for line in kept)
