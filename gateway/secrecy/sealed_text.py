"""Words a person types about a classified letter, sealed in the database.

A note on a ลับ letter's page, the reason a secret registrar gives for releasing or
rejecting a held ลับ letter, the reason for cancelling its number: each may quote the
letter ("ปฏิเสธ: แผนรักษาความปลอดภัยสนามบินสุวรรณภูมิ ยังไม่ครบ"), and the letter itself
is kept only sealed. Such a text is stored as `sgv1:` and the base64 of an SGV1 blob
(gateway/secrecy/vault_crypto.py: AES-256-GCM under its own data key, wrapped to the
gateway key that seals the letter), in the column that held it in plain, and opened
only where the letter is (its page, after the audited เปิดดูเนื้อหา). Until the red team
of 7 Dec 2026 it was plain text in `letter_notes` and `operator_actions`, in the
daemon's log (`quarantine_rejected reason=...`) and in the register's remarks.

`is_sealed` is a prefix test, so that the register's pages, which show a placeholder
for such a text, do not load `cryptography`.
"""
from __future__ import annotations

import base64
import binascii
import os

from gateway.secrecy.errors import SecrecyError, TamperedError

PREFIX = "sgv1:"
# What every page, export, command and log line shows instead of a sealed text.
SHOWN_TH = "(ปิดผนึกไว้: ลับ)"
SHOWN_EN = "(sealed: classified)"
SHOWN = f"{SHOWN_TH} {SHOWN_EN}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal_text(text: str, data_dir: str | os.PathLike, keystore=None) -> str:  # noqa: ANN001 - a KeyStore
    """`text` sealed to the current gateway key, as a database column keeps it.
    SecrecyError when there is no gateway key: the text is then not stored at all."""
    from gateway.secrecy.keys import KeyStore
    from gateway.secrecy.vault_crypto import encrypt_blob

    store = keystore or KeyStore.for_data_dir(data_dir)
    return PREFIX + base64.b64encode(encrypt_blob(text.encode("utf-8"), store)).decode("ascii")


def open_text(value: str, keystore) -> str:  # noqa: ANN001 - a KeyStore
    """The text a `seal_text` value holds (a plain value is returned as it is);
    TamperedError or SecrecyError when it cannot be opened, never a part of it."""
    if not is_sealed(value):
        return value
    from gateway.secrecy.vault_crypto import decrypt_blob

    try:
        blob = base64.b64decode(value[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise TamperedError("a sealed text in the register is not base64: changed") from None
    try:
        return decrypt_blob(blob, keystore).decode("utf-8")
    except UnicodeDecodeError:
        raise SecrecyError("a sealed text in the register is not UTF-8 once opened") from None


class Opener:
    """Opens the sealed texts of one page: each gateway key is loaded once (loading the
    3072-bit private key costs about 0.2 s of CPU; a letter with ten notes loaded it ten
    times)."""

    def __init__(self, keystore) -> None:  # noqa: ANN001 - a KeyStore
        self._keystore = keystore
        self._keys: dict = {}

    def gateway_key(self, fingerprint: str):  # noqa: ANN201 - what KeyStore.gateway_key gives
        if fingerprint not in self._keys:
            self._keys[fingerprint] = self._keystore.gateway_key(fingerprint)
        return self._keys[fingerprint]

    def open(self, value: str) -> str:
        return open_text(value, self)


def shown(value: str | None) -> str | None:
    """What a page, an export or a log line shows of a stored text: the placeholder for
    a sealed one."""
    return SHOWN if is_sealed(value) else value
