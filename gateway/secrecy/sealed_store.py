"""Classified letters at rest: one directory of SGV1 blobs per message, never plaintext.

    <data_dir>/secret/<queue_id>/raw.sgv      the message as the registrar gets it
    <data_dir>/secret/<queue_id>/arrival.sgv  the bytes as received, when they differ
                                              (S/MIME encrypted to the gateway)
    <data_dir>/secret/<queue_id>/meta.sgv     subject, sender's name, facts, findings,
                                              file names (JSON)
    <data_dir>/secret/<queue_id>/att-<n>.sgv  each attachment

Blobs are named by queue id, not by a hash of their plaintext: a content hash would let
anyone holding a candidate document confirm that it was received. Writing is idempotent
(an existing blob is kept) so that the pipeline can be re-run after a crash.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.secrecy.audit import append_event, audit_path
from gateway.secrecy.errors import SecrecyError
from storage.fsync import syncfs, write_durably

if TYPE_CHECKING:
    from gateway.secrecy.keys import KeyStore

# The keys and the encryption (over `cryptography`, ~9 MiB of a process) are imported
# when a blob is written or opened: the delivery runner asks every batch whether a
# classified letter's blobs are here (`has`), and most batches hold none.

# A spool queue id, or an imported paper letter's (gateway/tools/emergency_import.py).
_QUEUE_ID = re.compile(r"(?:emg)?[0-9a-f]{16,40}")
_NAME = re.compile(r"(raw|arrival|meta|att-\d{1,4})")


def _whole(target: Path, size: int) -> bool:
    """A blob already at `target` that holds `size` bytes of plaintext whole (its header,
    the wrapped key it names, nonce, ciphertext, tag): kept, as a re-run after a crash
    must not seal the letter again. One a crash left short (renamed before its syncfs)
    is sealed again."""
    from gateway.secrecy.vault_crypto import HEAD_SIZE, blob_size

    try:
        with open(target, "rb") as blob:
            head = blob.read(HEAD_SIZE)
            stored = os.fstat(blob.fileno()).st_size
    except FileNotFoundError:
        return False
    return stored == blob_size(head, size)


class SealedStore:
    def __init__(self, data_dir: str | os.PathLike, keystore: KeyStore | None = None):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "secret"
        self._keystore = keystore
        self.audit_log = audit_path(self.data_dir)

    @property
    def keystore(self) -> KeyStore:
        if self._keystore is None:
            from gateway.secrecy.keys import KeyStore

            self._keystore = KeyStore.for_data_dir(self.data_dir)
        return self._keystore

    def dir_for(self, queue_id: str) -> Path:
        if not _QUEUE_ID.fullmatch(queue_id or ""):
            raise SecrecyError(f"not a queue id: {queue_id!r}")
        return self.root / queue_id

    def path(self, queue_id: str, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise SecrecyError(f"not a sealed object name: {name!r}")
        return self.dir_for(queue_id) / f"{name}.sgv"

    def relative(self, queue_id: str, name: str) -> str:
        return str(self.path(queue_id, name).relative_to(self.data_dir))

    def exists(self, queue_id: str) -> bool:
        return self.dir_for(queue_id).is_dir()

    def put(self, queue_id: str, name: str, data: bytes, *, sync: bool = True) -> str:
        """Encrypt and store (unless already stored whole); the SHA-256 of the stored
        blob. `sync=False`: renamed into place but not yet durable; the caller makes its
        group of such blobs durable at once (`sync`) before it relies on them."""
        target = self.path(queue_id, name)
        if _whole(target, len(data)):
            return hashlib.sha256(target.read_bytes()).hexdigest()
        from gateway.secrecy.vault_crypto import encrypt_blob

        blob = encrypt_blob(data, self.keystore)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.root / "tmp"
        tmp.mkdir(mode=0o700, exist_ok=True)
        write_durably(target, blob, tmp_dir=tmp, mode=0o400, sync=sync)
        return hashlib.sha256(blob).hexdigest()

    def sync(self) -> None:
        """Blobs put with sync=False made durable: one syncfs of the store's filesystem
        instead of an fsync of each (a letter of 500 files, each its own blob)."""
        syncfs(self.root)

    def put_json(self, queue_id: str, name: str, value: dict) -> str:
        return self.put(queue_id, name, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    def has(self, queue_id: str, name: str) -> bool:
        return self.path(queue_id, name).exists()

    def blob(self, queue_id: str, name: str) -> bytes:
        try:
            return self.path(queue_id, name).read_bytes()
        except FileNotFoundError:
            raise SecrecyError(f"sealed object {name} of {queue_id} is missing") from None

    def open(self, queue_id: str, names: list[str], *, who: str, action: str,
             letter_id: str, **details) -> dict[str, bytes]:
        """Decrypt several objects of one letter for one purpose. The audit entry is
        written and fsync'ed first: a decryption without its record cannot happen."""
        from gateway.secrecy.vault_crypto import blob_key_fingerprint, decrypt_blob

        blobs = {name: self.blob(queue_id, name) for name in names}
        append_event(self.audit_log, action=action, letter_id=letter_id, who=who,
                     objects=names, key=blob_key_fingerprint(next(iter(blobs.values())))[:16],
                     **details)
        return {name: decrypt_blob(blob, self.keystore) for name, blob in blobs.items()}

    def open_json(self, queue_id: str, name: str, **audit) -> dict:
        return json.loads(self.open(queue_id, [name], **audit)[name])
