"""A vault object found under its name but not whole is written again."""
from __future__ import annotations

import hashlib
import os

import pytest

from storage.vault import Vault, VaultObjectDamaged


@pytest.mark.parametrize("left", ["zeros", "short", "other bytes"])
def test_an_object_left_damaged_by_a_crash_is_written_again_by_the_next_attempt(tmp_path, left):
    """What a crash between a deferred write's rename and its syncfs can leave: XFS shows
    a file of the right size that reads as zeros. The size alone was trusted until
    session 52: the letter registered on the next attempt, and every read of its copy
    failed (VaultObjectDamaged), so its folder copy was never made."""
    vault = Vault(tmp_path / "vault")
    data = b"%PDF-1.7 letter " + os.urandom(4000)
    digest = hashlib.sha256(data).hexdigest()
    target = vault.path(digest)
    target.parent.mkdir(parents=True)
    target.write_bytes({"zeros": bytes(len(data)), "short": data[:100],
                        "other bytes": os.urandom(len(data))}[left])
    with pytest.raises(VaultObjectDamaged):
        vault.get(digest)
    assert vault.put(data) == digest
    assert vault.get(digest) == data
    assert target.stat().st_mode & 0o777 == 0o440


def test_a_whole_object_is_not_written_again(tmp_path):
    vault = Vault(tmp_path / "vault")
    data = b"the same enclosure sent to two units"
    digest = vault.put(data)
    inode = vault.path(digest).stat().st_ino
    assert vault.put(data) == digest
    assert vault.path(digest).stat().st_ino == inode  # found whole: left as it was
