"""A full disk after the 250: the letter waits (visible in the log and in /metrics),
is never parked, and is registered and filed by itself once space returns.

The data directory is a real small file system (tmpfs, mounted by the test as root),
filled with a real file: ENOSPC comes from the kernel, nothing is simulated."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

UNIT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _free(path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_a_letter_acknowledged_before_the_disk_filled_waits_and_is_filed_after(small_disk, tmp_path):
    config = write_config(tmp_path / "gw")
    config.write_text(config.read_text().replace(str(tmp_path / "gw" / "var"), str(small_disk / "var")))
    daemon = Daemon(config)
    daemon.data_dir = small_disk / "var"
    daemon.start()
    try:
        daemon.send(letter(), UNIT)  # schema, vault and folders exist and work
        daemon.wait_idle()
        raw = letter(files=[("2569_dds_0403_276.pdf", make_pdf("big", filler=1_500_000))])
        # Leave room for the spool copy, not for the vault's: the 250 comes, then ENOSPC.
        filler = small_disk / "filler"
        with open(filler, "wb") as handle:
            handle.write(b"\0" * (_free(small_disk) - int(len(raw) * 1.4)))
        queue_id = daemon.send(raw, UNIT)
        daemon.wait_for(lambda: sum(1 for e in daemon.events() if e.get("event") == "storage_unavailable"
                                    and e.get("queue_id") == queue_id) >= 8,
                        60, what="eight storage_unavailable retries")
        assert not any((daemon.data_dir / "spool" / "failed").iterdir())  # never parked
        assert (daemon.data_dir / "spool" / "new" / f"{queue_id}.msg").exists()
        assert not any(e.get("event") == "message_parked" for e in daemon.events())

        filler.unlink()  # space returns
        daemon.wait_for(lambda: any(e.get("event") == "filed" and e.get("queue_id") == queue_id
                                    for e in daemon.events()), 120, what="letter filed after space returned")
        rows = [r for r in daemon.register() if r.get("queue_id") == queue_id]
        assert len(rows) == 1
    finally:
        daemon.stop()
