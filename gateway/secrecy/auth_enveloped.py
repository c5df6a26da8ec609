"""S/MIME authEnveloped-data (RFC 5083) with AES-GCM (RFC 5084), opened in memory.

RFC 8551 (S/MIME 4.0) 2.7: receiving agents MUST support AES-128 GCM and AES-256 GCM,
and OpenSSL 3 (`cms -encrypt -aes-256-gcm`) and S/MIME 4.0 clients send it.
cryptography's PKCS#7 decryption opens enveloped-data only, so this reads the CMS with
asn1crypto and decrypts with cryptography's primitives: the content-encryption key by
RSA key transport (PKCS#1 v1.5 or OAEP, RFC 3560) to one of the gateway's keys, the
content by AES-GCM, whose tag (`mac`) authenticates the ciphertext and the
authenticated attributes.

It also opens enveloped-data (RFC 5652 6) in what cryptography's PKCS#7 decryption
refuses with UnsupportedAlgorithm: RSA-OAEP key transport, AES-192-CBC and triple DES
(RFC 8551 2.7: a receiving agent SHOULD- support it; Outlook 2010-2013 sends it).
CBC authenticates nothing: a changed ciphertext decrypts to garbage, which the letter's
reading then finds (as for AES-CBC through cryptography).

Every failure is one SecrecyError of the same few words whatever went wrong inside
(padding, key size, tag): which step refused is nobody's business outside the
gateway, and telling them apart is what a padding oracle needs.
"""
from __future__ import annotations

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.secrecy import ber
from gateway.secrecy.errors import SecrecyError

# RFC 5084 3.2: the ICV (tag) is 12 to 16 octets; 12 by default.
GCM_KEY_BYTES = {"aes128_gcm": 16, "aes192_gcm": 24, "aes256_gcm": 32}
MIN_TAG, MAX_TAG = 12, 16
NOT_OURS = "the message is not encrypted to any gateway key"
UNREADABLE = "the S/MIME authEnveloped-data cannot be read"
UNSUPPORTED = "encrypted as authEnveloped-data with a cipher other than AES-GCM, which the gateway does not decrypt"
UNSUPPORTED_CBC = "encrypted as enveloped-data with a cipher other than AES or triple DES, which the gateway does not decrypt"
UNREADABLE_CBC = "the S/MIME enveloped-data cannot be read"
# enveloped-data's content ciphers (RFC 3565 AES-CBC, RFC 3370 4.3.1 DES-EDE3-CBC): key bytes, algorithm.
CBC_CIPHERS = {"aes128_cbc": (16, algorithms.AES), "aes192_cbc": (24, algorithms.AES),
               "aes256_cbc": (32, algorithms.AES), "tripledes_3key": (24, TripleDES)}


class GcmParameters(core.Sequence):
    """RFC 5084 3.2 GCMParameters (asn1crypto does not know them)."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


_OAEP_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
                "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def is_auth_enveloped(der: bytes) -> bool:
    try:
        return cms.ContentInfo.load(der)["content_type"].native == "authenticated_enveloped_data"
    except Exception:  # noqa: BLE001 - not DER: not this
        return False


def _read(der: bytes, info_field: str, unreadable: str) -> tuple:
    """(the content, its cipher's name, the cipher's parameters, the ciphertext, the
    RecipientInfos) of enveloped-data (`encrypted_content_info`) or authEnveloped-data
    (`auth_encrypted_content_info`); SecrecyError(unreadable) for anything malformed."""
    if not ber.within_limit(der):
        raise SecrecyError(unreadable)
    try:
        data = cms.ContentInfo.load(der)["content"]
        eci = data[info_field]
        algorithm = eci["content_encryption_algorithm"]
        encrypted = eci["encrypted_content"]
        # Joined here in one pass: asn1crypto's `.native` joins a constructed one's
        # pieces by repeated concatenation (gateway/secrecy/ber.py).
        ciphertext = ber.octets(encrypted.contents or b"", encrypted.method == 1) \
            if encrypted.contents is not None else b""
        return data, algorithm["algorithm"].native, algorithm["parameters"], ciphertext, list(data["recipient_infos"])
    except Exception:  # noqa: BLE001 - any reading failure is the sender's malformed CMS
        raise SecrecyError(unreadable) from None


def _content_keys(recipients: list, keys, size: int):  # noqa: ANN001, ANN202 - GatewayKeys -> (bytes, key)
    """(content-encryption key, gateway key) for each of `keys`, in order, that a
    RecipientInfo names and whose key is `size` bytes. The first RecipientInfo that names
    the key, as OpenSSL's CMS_decrypt takes it: each one tried costs an RSA decryption,
    and a forger's letter of 25 MB holds 60,000 of them naming the gateway's certificate
    (minutes of CPU in the pipeline runner, which registers nothing else meanwhile)."""
    for key in keys:
        ours = _identifiers(key.certificate)
        info = next((i for i in recipients if _names(i, ours)), None)
        cek = _content_key(info, key) if info is not None else None
        if cek is not None and len(cek) == size:
            yield cek, key


def decrypt_auth_enveloped(der: bytes, keys) -> tuple[bytes, object]:  # noqa: ANN001 - GatewayKey
    """(the decrypted MIME entity, the gateway key that opened it). `keys`: objects with
    `certificate` and `private_key`, tried in order. SecrecyError otherwise."""
    data, cipher, params, ciphertext, recipients = _read(der, "auth_encrypted_content_info", UNREADABLE)
    try:
        tag = data["mac"].native
        attributes = data["auth_attrs"]
        # RFC 5083 2.1: the authenticated attributes are authenticated as a SET OF, not
        # as the [1] IMPLICIT they are carried in.
        aad = b"\x31" + attributes.dump()[1:] if attributes.native is not None else b""
    except Exception:  # noqa: BLE001 - any reading failure is the sender's malformed CMS
        raise SecrecyError(UNREADABLE) from None
    if cipher not in GCM_KEY_BYTES:
        raise SecrecyError(UNSUPPORTED)
    try:
        gcm = GcmParameters.load(params.dump())
        nonce, icvlen = gcm["aes_nonce"].native, gcm["aes_icvlen"].native
    except Exception:  # noqa: BLE001
        raise SecrecyError(UNREADABLE) from None
    if not (MIN_TAG <= icvlen <= MAX_TAG) or len(tag) != icvlen or not nonce:
        raise SecrecyError(UNREADABLE)
    for cek, key in _content_keys(recipients, keys, GCM_KEY_BYTES[cipher]):
        try:
            decryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce, tag, min_tag_length=MIN_TAG)).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(ciphertext) + decryptor.finalize(), key
        except (InvalidTag, ValueError):
            continue
    raise SecrecyError(NOT_OURS)


def decrypt_enveloped(der: bytes, keys) -> tuple[bytes, object]:  # noqa: ANN001 - GatewayKey
    """(the decrypted MIME entity, the gateway key that opened it) of enveloped-data in any
    cipher of CBC_CIPHERS, by RSA key transport (PKCS#1 v1.5 or OAEP). SecrecyError otherwise."""
    _, cipher, params, ciphertext, recipients = _read(der, "encrypted_content_info", UNREADABLE_CBC)
    if cipher not in CBC_CIPHERS:
        raise SecrecyError(UNSUPPORTED_CBC)
    key_bytes, algorithm = CBC_CIPHERS[cipher]
    block = algorithm.block_size // 8
    try:
        iv = params.native
    except Exception:  # noqa: BLE001
        raise SecrecyError(UNREADABLE_CBC) from None
    if not isinstance(iv, bytes) or len(iv) != block or not ciphertext or len(ciphertext) % block:
        raise SecrecyError(UNREADABLE_CBC)
    for cek, key in _content_keys(recipients, keys, key_bytes):
        try:
            decryptor = Cipher(algorithm(cek), modes.CBC(iv)).decryptor()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
            unpadder = block_padding.PKCS7(algorithm.block_size).unpadder()
            return unpadder.update(padded) + unpadder.finalize(), key
        except ValueError:
            continue
    raise SecrecyError(NOT_OURS)


def _content_key(info: cms.RecipientInfo, key) -> bytes | None:  # noqa: ANN001 - GatewayKey
    """The content-encryption key this RecipientInfo (one that names `key`) carries, or None."""
    ktri = info.chosen
    try:
        algorithm = ktri["key_encryption_algorithm"]
        name = algorithm["algorithm"].native
        encrypted = ktri["encrypted_key"].native
        if name == "rsaes_pkcs1v15":
            # cryptography's bundled OpenSSL answers a bad padding with a random key
            # (implicit rejection), which then fails the tag like any wrong key.
            return key.private_key.decrypt(encrypted, padding.PKCS1v15())
        if name == "rsaes_oaep":
            return key.private_key.decrypt(encrypted, _oaep(algorithm["parameters"]))
    except Exception:  # noqa: BLE001 - a wrong key, a bad padding: not for this key
        return None
    return None


def _oaep(params) -> padding.OAEP:  # noqa: ANN001 - asn1crypto RSAESOAEPParams
    digest = _OAEP_HASHES[params["hash_algorithm"]["algorithm"].native]
    mgf_digest = _OAEP_HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]
    label = params["p_source_algorithm"]["parameters"].native or None
    return padding.OAEP(mgf=padding.MGF1(mgf_digest()), algorithm=digest(), label=label)


def _identifiers(certificate) -> tuple:  # noqa: ANN001 - x509.Certificate
    """(issuer, serial number, subject key identifier) of a certificate."""
    parsed = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    return parsed.issuer, parsed.serial_number, parsed.key_identifier


def _names(info: cms.RecipientInfo, ours: tuple) -> bool:
    """A key-transport RecipientInfo that names this certificate (issuer and serial, or
    SKI). Key agreement (ECDH), KEK and password infos name none: the gateway's keys are RSA."""
    if info.name != "ktri":
        return False
    issuer, serial, ski = ours
    try:
        rid = info.chosen["rid"]
        if rid.name == "issuer_and_serial_number":
            return rid.chosen["serial_number"].native == serial and rid.chosen["issuer"] == issuer
        if rid.name == "subject_key_identifier":
            return ski is not None and rid.chosen.native == ski
    except Exception:  # noqa: BLE001 - a malformed identifier names nobody
        return False
    return False
