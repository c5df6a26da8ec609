"""The units' Maildirs on a file system the daemon may not write (session 56, operations
red team).

The shipped unit (systemd/saraban-gateway.service) has ProtectSystem=strict: every path
outside /var/lib/saraban-gateway is read-only for the daemon. A sysadmin who points
`[delivery] folders_dir` at the mail store a Dovecot serves (`/var/vmail/saraban`)
without a ReadWritePaths= drop-in got a daemon that started, answered 250, registered
and acknowledged every letter, and filed none: "Read-only file system", each copy
retried for ever. `check-config`, run outside the unit's namespace, saw nothing wrong.
The start now tries the folder (made if missing, one file written and removed) and
refuses with `folders_unwritable`, the key, and the drop-in to add, exit 1.

The unit's read-only view is made here as systemd makes it: a private mount namespace
(unshare -m) with a read-only mount over the folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO

MOUNT_READ_ONLY = 'mount -t tmpfs -o ro,size=200m saraban-ro "$1" && shift && exec "$@"'


def _read_only_over(place, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT_READ_ONLY, "sh",
                           str(place), *command], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _with_folders_dir(config, folders) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[delivery]\n", f'[delivery]\nfolders_dir = "{folders}"\n', 1), encoding="utf-8")


def test_a_folders_dir_the_daemon_may_not_write_stops_the_start(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to give the daemon a read-only mount, as systemd does")
    mail_store = tmp_path / "vmail"
    mail_store.mkdir()
    if _read_only_over(mail_store, "true").returncode != 0:
        pytest.skip("no private mount namespace here (unshare -m / mount refused)")
    config = write_config(tmp_path / "gw")
    _with_folders_dir(config, mail_store / "saraban")

    started = _read_only_over(mail_store, sys.executable, "-m", "gateway", "--config", str(config), "run")
    assert started.returncode == 1, started.stdout[-2000:] + started.stderr
    events = [json.loads(line) for line in started.stdout.splitlines() if line.startswith("{")]
    [refused] = [e for e in events if e["event"] == "folders_unwritable"]
    assert refused["key"] == "[delivery] folders_dir" and refused["path"] == str(mail_store / "saraban")
    assert refused["error"] == "Read-only file system"
    assert f"add ReadWritePaths={mail_store / 'saraban'} in a drop-in (systemctl edit saraban-gateway)" \
        in refused["hint"]
    assert not any(e["event"] == "smtp_listening" for e in events)  # no letter taken to be left unfiled


def test_a_writable_folders_dir_outside_the_data_directory_still_files(tmp_path):
    """The honest near-miss: a mail store outside the data directory that the daemon may
    write (a drop-in's ReadWritePaths=, or no systemd): it starts and files as before."""
    mail_store = tmp_path / "vmail" / "saraban"  # not there yet: made at start
    config = write_config(tmp_path / "gw")
    _with_folders_dir(config, mail_store)
    d = Daemon(config).start()
    try:
        d.send(letter(subject="ขอเชิญประชุม"), "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
    finally:
        d.stop()
    [copy] = list((mail_store / "latkrabang" / "new").iterdir())
    assert b"X-Saraban-Receive-No" in copy.read_bytes()
    assert not [p for p in mail_store.iterdir() if p.name.startswith(".saraban-write-check")]
