from __future__ import annotations

import os

import pytest

from gateway.secrecy import SecrecyError
from gateway.secrecy.errors import TamperedError
from gateway.secrecy.shred import shred
from gateway.secrecy.vault_crypto import (
    blob_key_fingerprint,
    decrypt_blob,
    encrypt_blob,
)

PLAIN = ("ลับ ที่ กท ๐๕๐๘/๒๐๕๙ MARKER-vault-51c2 " * 50).encode("utf-8")


def test_round_trip_and_no_plaintext_in_the_blob(store):
    blob = encrypt_blob(PLAIN, store)
    assert b"MARKER-vault" not in blob
    assert decrypt_blob(blob, store) == PLAIN


def test_each_object_gets_its_own_key_and_nonce(store):
    assert encrypt_blob(PLAIN, store) != encrypt_blob(PLAIN, store)


def test_empty_object_round_trips(store):
    assert decrypt_blob(encrypt_blob(b"", store), store) == b""


def _regions(blob: bytes) -> dict[str, int]:
    n = int.from_bytes(blob[36:38], "big")
    return {
        "magic": 1,
        "key fingerprint": 10,
        "wrapped key length": 37,
        "wrapped key": 38 + n // 2,
        "nonce": 38 + n + 3,
        "ciphertext": 38 + n + 12 + 100,
        "tag": len(blob) - 3,
    }


@pytest.mark.parametrize("region", ["magic", "key fingerprint", "wrapped key length",
                                    "wrapped key", "nonce", "ciphertext", "tag"])
def test_a_flipped_byte_anywhere_is_detected(store, region):
    blob = bytearray(encrypt_blob(PLAIN, store))
    blob[_regions(bytes(blob))[region]] ^= 0x01
    with pytest.raises(SecrecyError):
        decrypt_blob(bytes(blob), store)


def test_flipped_ciphertext_is_reported_as_tampering(store):
    blob = bytearray(encrypt_blob(PLAIN, store))
    blob[-100] ^= 0x80
    with pytest.raises(TamperedError, match="changed"):
        decrypt_blob(bytes(blob), store)


@pytest.mark.parametrize("cut", [1, 16, 200])
def test_truncation_is_detected(store, cut):
    blob = encrypt_blob(PLAIN, store)
    with pytest.raises(SecrecyError):
        decrypt_blob(blob[:-cut], store)


def test_rotation_keeps_older_blobs_readable(store):
    old_fp = store.current_fingerprint()
    old_blob = encrypt_blob(b"stored last year", store)
    store.create_gateway_key("saraban-gateway rotated")
    new_blob = encrypt_blob(b"stored today", store)
    assert blob_key_fingerprint(old_blob) == old_fp
    assert blob_key_fingerprint(new_blob) == store.current_fingerprint() != old_fp
    assert decrypt_blob(old_blob, store) == b"stored last year"
    assert decrypt_blob(new_blob, store) == b"stored today"


def test_a_removed_key_is_a_clear_error(store):
    blob = encrypt_blob(PLAIN, store)
    fp = store.current_fingerprint()
    os.rename(store.path / "gateway" / fp, store.path / f"gone-{fp}")
    with pytest.raises(SecrecyError, match="cannot be loaded"):
        decrypt_blob(blob, store)


def test_shred_removes_the_file_and_its_content(tmp_path):
    target = tmp_path / "spool-entry"
    target.write_bytes(PLAIN)
    other_name = tmp_path / "same-inode"
    os.link(target, other_name)  # a second name shows what happened to the data itself
    assert shred(target) is True
    assert not target.exists()
    assert b"MARKER-vault" not in other_name.read_bytes()


def test_shred_twice_is_shred_once(tmp_path):
    target = tmp_path / "x"
    target.write_bytes(b"abc")
    assert shred(target) is True
    assert shred(target) is False


def test_shred_does_not_follow_symlinks(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"keep me")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(SecrecyError):
        shred(link)
    assert real.read_bytes() == b"keep me"
