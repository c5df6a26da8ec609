"""Faults of the machine in every process of a test daemon (the supervisor and the
runners it spawns import this first), the machine itself untouched.

SARABAN_TEST_DIR_FSYNC_FAILS names a file holding a directory path (empty: no fault):
while it does, an fsync of that directory or of one below it fails with EIO, as a
unit's folder on a network share (NFS, CIFS) answers during a hiccup. Files are
fsynced as usual: only the directory's sync after a rename fails. The test's clock
(tests/clock/sitecustomize.py) comes with it, one sitecustomize being imported."""
from __future__ import annotations

import errno
import os
import runpy
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
