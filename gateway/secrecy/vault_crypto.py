"""Encryption at rest for classified raw messages and attachments (shredding the
plain files: gateway/secrecy/shred.py).

Blob format, version 1 ("SGV1"), all integers big-endian:

    offset   size  field
    0        4     magic b"SGV1"
    4        32    fingerprint of the gateway key the data key is wrapped to
                   (SHA-256 of its SubjectPublicKeyInfo, see keys.key_fingerprint)
    36       2     N, length of the wrapped data key
    38       N     the 32-byte data key, RSA-OAEP (SHA-256, MGF1-SHA-256) to that key
    38+N     12    AES-GCM nonce
    50+N     ...   AES-256-GCM ciphertext followed by its 16-byte tag

The whole header (bytes 0 .. 50+N) is the GCM associated data, so changing any byte
anywhere — header, wrapped key, nonce, ciphertext or tag — makes decryption fail.
Each blob has its own random data key, so a nonce is never reused under one key.
Naming the key by fingerprint is what makes rotation safe: an old blob says which
old key opens it, and the key store keeps every old key.
"""
from __future__ import annotations

import secrets
import struct

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.secrecy.errors import SecrecyError, TamperedError
from gateway.secrecy.keys import KeyStore, key_fingerprint

log = structlog.get_logger(__name__)

MAGIC = b"SGV1"
_NONCE = 12
_TAG = 16


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def encrypt_blob(data: bytes, keystore: KeyStore) -> bytes:
    """Encrypt to the CURRENT gateway key (its certificate may be expired: at rest
    only the key matters)."""
    public = keystore.sealing_certificate().public_key()
    fp = bytes.fromhex(key_fingerprint(public))
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = public.encrypt(data_key, _oaep())
    nonce = secrets.token_bytes(_NONCE)
    header = MAGIC + fp + struct.pack(">H", len(wrapped)) + wrapped + nonce
    return header + AESGCM(data_key).encrypt(nonce, bytes(data), header)


def blob_key_fingerprint(blob: bytes) -> str:
    """Which gateway key a blob needs (hex), without decrypting it."""
    if len(blob) < 38 or blob[:4] != MAGIC:
        raise TamperedError("not an encrypted vault object (bad magic)")
    return blob[4:36].hex()


HEAD_SIZE = 38  # MAGIC, the key's fingerprint, the wrapped data key's length


def blob_size(head: bytes, plaintext_size: int) -> int | None:
    """How long a blob starting with `head` (its first HEAD_SIZE bytes) is when it holds
    `plaintext_size` bytes whole; None when `head` is no blob's."""
    if len(head) < HEAD_SIZE or head[:4] != MAGIC:
        return None
    (wrapped,) = struct.unpack(">H", head[36:HEAD_SIZE])
    return HEAD_SIZE + wrapped + _NONCE + plaintext_size + _TAG


def decrypt_blob(blob: bytes, keystore: KeyStore) -> bytes:
    """The plaintext, or TamperedError/SecrecyError; never partial output."""
    blob = bytes(blob)
    fp = blob_key_fingerprint(blob)
    (n,) = struct.unpack(">H", blob[36:38])
    body = 38 + n + _NONCE
    if len(blob) < body + _TAG:
        raise TamperedError("encrypted vault object is truncated")
    wrapped = blob[38 : 38 + n]
    nonce = blob[38 + n : body]
    header = blob[:body]
    try:
        gk = keystore.gateway_key(fp)
    except SecrecyError as exc:
        raise SecrecyError(
            f"the object is encrypted to gateway key {fp[:16]}…, which cannot be loaded "
            f"(tampered, or the key was removed from the store): {exc}"
        ) from None
    try:
        data_key = gk.private_key.decrypt(wrapped, _oaep())
    except ValueError:
        raise TamperedError("the wrapped data key does not decrypt: object tampered") from None
    if len(data_key) != 32:
        raise TamperedError("the wrapped data key has the wrong length")
    try:
        return AESGCM(data_key).decrypt(nonce, blob[body:], header)
    except InvalidTag:
        raise TamperedError("authentication failed: the stored object was changed") from None
