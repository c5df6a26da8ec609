"""Faults of the machine in every process of a test daemon (the supervisor and the
runners it spawns import this first), the machine itself untouched.

SARABAN_TEST_DIR_FSYNC_FAILS names a file holding a directory path (empty: no fault):
while it does, an fsync of that directory or of one below it fails with EIO, as a
unit's folder on a network share (NFS, CIFS) answers during a hiccup. Files are
fsynced as usual: only the directory's sync after a rename fails.

SARABAN_TEST_KILLER names a file holding a word (empty: no fault): the process that
puts bytes holding it into the vault (the pipeline runner checking the letter) is
killed with SIGKILL, as the kernel's OOM killer ends a runner a letter made grow past
the machine's memory, every time it tries.

SARABAN_TEST_DELIVERY_KILLER: the same for the delivery runner, when it files a copy
holding the word in a Maildir (building a copy too large for the machine's memory).

The test's clock (tests/clock/sitecustomize.py) comes with them, one sitecustomize
being imported."""
from __future__ import annotations

import errno
import os
import runpy
import signal
import stat
from pathlib import Path

if os.environ.get("SARABAN_TEST_CLOCK"):
    runpy.run_path(str(Path(__file__).parent.parent / "clock" / "sitecustomize.py"))

_FILE = os.environ.get("SARABAN_TEST_DIR_FSYNC_FAILS")
if _FILE:
    _real_fsync = os.fsync

    def _fsync(fd: int) -> None:
        try:
            with open(_FILE, encoding="utf-8") as handle:
                failing = handle.read().strip()
        except OSError:
            failing = ""
        if failing and stat.S_ISDIR(os.fstat(fd).st_mode):
            path = os.readlink(f"/proc/self/fd/{fd}")
            if path == failing or path.startswith(failing.rstrip("/") + "/"):
                raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        _real_fsync(fd)

    os.fsync = _fsync


_KILLER = os.environ.get("SARABAN_TEST_KILLER")
if _KILLER:
    import storage.vault as _vault

    _real_put = _vault.Vault.put

    def _put(self, data: bytes, sha256: str | None = None) -> str:  # noqa: ANN001
        with open(_KILLER, encoding="utf-8") as handle:
            word = handle.read().strip().encode()
        if word and word in data:
            os.kill(os.getpid(), signal.SIGKILL)
        return _real_put(self, data, sha256)

    _vault.Vault.put = _put


_DELIVERY_KILLER = os.environ.get("SARABAN_TEST_DELIVERY_KILLER")
if _DELIVERY_KILLER:
    import gateway.delivery.maildir as _maildir

    _real_deliver = _maildir.deliver

    def _deliver(root, folder, queue_id, unit, data, **options):  # noqa: ANN001, ANN003, ANN202
        with open(_DELIVERY_KILLER, encoding="utf-8") as handle:
            word = handle.read().strip().encode()
        if word and word in data:
            os.kill(os.getpid(), signal.SIGKILL)
        return _real_deliver(root, folder, queue_id, unit, data, **options)

    _maildir.deliver = _deliver
