"""A full disk after the 250: the letter waits (visible in the log and in /metrics),
is never parked, and is registered and filed by itself once space returns. A disk
below `[smtp] min_free_mb` before the MAIL FROM: 452 4.3.1, and letters again once
there is room.

The data directory is a real small file system (tmpfs, mounted by the test as root),
filled with a real file: ENOSPC comes from the kernel, nothing is simulated."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.daemon import Daemon, write_config
from tests.hostile.smtp_raw import Raw
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


def _daemon_with_data_on(disk, tmp_path, smtp_extra: str, pipeline: str = "") -> Daemon:
    """The daemon with its whole data directory on the small disk (`pipeline`: lines
    added to its [pipeline] table)."""
    config = write_config(tmp_path / "gw", smtp_extra=smtp_extra)
    text = config.read_text().replace(str(tmp_path / "gw" / "var"), str(disk / "var"))
    config.write_text(text.replace("[pipeline]\n", f"[pipeline]\n{pipeline}", 1))
    daemon = Daemon(config)
    daemon.data_dir = disk / "var"
    return daemon.start()


def test_a_letter_acknowledged_before_the_disk_filled_waits_and_is_filed_after(small_disk, tmp_path):
    # No floor at MAIL FROM: this is about what happens when the space goes after the 250.
    # A letter failing [pipeline] max_attempts times is parked; one that waits for the
    # disk must not be, however often it is tried: tried max_attempts + 3 times here.
    # The runner's back-off doubles at each try (poll_interval * 2^tries): with the
    # default max_attempts of 5, the eight tries took 5 s and the ninth, after the space
    # returned, came 10 s later; with 3, six tries take 2.5 s and the seventh 2.6 s more.
    max_attempts = 3
    daemon = _daemon_with_data_on(small_disk, tmp_path, "min_free_mb = 0\n",
                                  pipeline=f"max_attempts = {max_attempts}\n")
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
                                    and e.get("queue_id") == queue_id) >= max_attempts + 3,
                        60, what=f"{max_attempts + 3} storage_unavailable retries")
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


def _mail_from(port: int, options: str = "") -> bytes:
    with Raw(port) as client:
        assert client.reply().startswith(b"220")
        assert client.cmd("EHLO test.example").startswith(b"250")
        return client.cmd(f"MAIL FROM:<saraban.dds@bangkok.go.th>{options}")


def test_mail_from_is_452_below_the_floor_and_letters_come_again_once_there_is_room(small_disk, tmp_path):
    daemon = _daemon_with_data_on(small_disk, tmp_path, "min_free_mb = 8\n")
    try:
        daemon.send(letter(subject="ก่อนดิสก์เต็ม"), UNIT)
        daemon.wait_idle()
        filler = small_disk / "filler"
        with open(filler, "wb") as handle:  # 4 MiB left: under the 8 MiB floor
            handle.write(b"\0" * (_free(small_disk) - 4 * 1024 * 1024))
        reply = _mail_from(daemon.port)
        assert reply.startswith(b"452 4.3.1 ") and reply.isascii()
        # 2 MiB over the floor, but not for a message announcing 3 MiB (RFC 1870 SIZE)
        os.truncate(filler, os.path.getsize(filler) - 6 * 1024 * 1024)
        assert _mail_from(daemon.port, f" SIZE={3 * 1024 * 1024}").startswith(b"452 4.3.1 ")
        filler.unlink()
        daemon.send(letter(subject="หลังดิสก์ว่าง"), UNIT)
        daemon.wait_idle()
        assert sorted(r["subject"] for r in daemon.register()) == ["ก่อนดิสก์เต็ม", "หลังดิสก์ว่าง"]
    finally:
        daemon.stop()


def test_a_full_folders_disk_alone_is_enough_for_452(small_disk, tmp_path):
    """The spool and the vault have room (the data directory is on the big disk); only the
    units' folders, on their own small file system, are full. The stamped copies go
    there after the 250, so MAIL FROM is refused all the same, also with SMTPUTF8 and
    8BITMIME beside SIZE=."""
    config = write_config(tmp_path / "gw", smtp_extra="min_free_mb = 8\n")
    config.write_text(config.read_text().replace(
        "retry_base = 0.2", f'retry_base = 0.2\nfolders_dir = "{small_disk / "folders"}"'))
    daemon = Daemon(config).start()
    try:
        daemon.send(letter(subject="ก่อนโฟลเดอร์เต็ม"), UNIT)
        daemon.wait_idle()
        assert list((small_disk / "folders").glob("*/new/*"))  # filed on the small disk
        filler = small_disk / "filler"
        with open(filler, "wb") as handle:
            handle.write(b"\0" * (_free(small_disk) - 4 * 1024 * 1024))
        assert _free(daemon.data_dir) > 64 * 1024 * 1024  # the spool's disk has room
        for options in ("", " BODY=8BITMIME SMTPUTF8", " SIZE=1000 BODY=8BITMIME"):
            reply = _mail_from(daemon.port, options)
            assert reply.startswith(b"452 4.3.1 "), (options, reply)
        assert "the disk is below [smtp] min_free_mb (8 MiB)" in daemon.cli("status").stdout
        filler.unlink()
        assert _mail_from(daemon.port, " SIZE=1000").startswith(b"250")
    finally:
        daemon.stop()


def _upload(port: int, options: str, body_bytes: int) -> bytes:
    """A whole transaction whose message is `body_bytes` of text; the reply to its dot."""
    with Raw(port) as client:
        client.sock.settimeout(60)
        assert client.reply().startswith(b"220")
        assert client.cmd("EHLO test.example").startswith(b"250")
        assert client.cmd(f"MAIL FROM:<saraban.dds@bangkok.go.th>{options}").startswith(b"250")
        assert client.cmd(f"RCPT TO:<{UNIT}>").startswith(b"250")
        assert client.cmd("DATA").startswith(b"354")
        client.send(b"From: saraban.dds@bangkok.go.th\r\nSubject: big\r\n\r\n")
        line = b"x" * 1022 + b"\r\n"
        for _ in range(body_bytes // len(line)):
            client.send(line)
        return client.cmd(".")


@pytest.mark.parametrize("options", ["", " SIZE=1000"])
def test_a_message_that_would_take_the_disk_below_the_floor_is_452_at_its_end(small_disk, tmp_path, options):
    """Session 50's red team: MAIL FROM judges a message by the space free then and by
    its SIZE=, which a client may leave out or understate. 6 MiB uploaded over a disk
    2 MiB above the 8 MiB floor were taken (250) and left 4 MiB for the letters
    already acknowledged to be registered in. Now the floor holds while the message is
    written: 452 4.3.1 at its end, the draft shredded, the space back."""
    daemon = _daemon_with_data_on(small_disk, tmp_path, "min_free_mb = 8\n")
    try:
        daemon.send(letter(subject="ก่อนดิสก์ใกล้เต็ม"), UNIT)
        daemon.wait_idle()
        filler = small_disk / "filler"
        with open(filler, "wb") as handle:  # 10 MiB left: 2 MiB over the floor
            handle.write(b"\0" * (_free(small_disk) - 10 * 1024 * 1024))
        reply = _upload(daemon.port, options, 6 * 1024 * 1024)
        assert reply.startswith(b"452 4.3.1 ") and reply.isascii(), reply
        spool = daemon.data_dir / "spool"
        daemon.wait_for(lambda: not any((spool / "tmp").iterdir()), 10, what="the draft shredded")
        assert not any((spool / "new").iterdir())
        assert _free(small_disk) >= 9 * 1024 * 1024  # the floor and more are free again
        refused = [e for e in daemon.events() if e.get("event") == "mail_refused" and e.get("at") == "data"]
        assert refused and refused[0]["reason"] == "low_disk", daemon.log_tail()
        # A letter that fits above the floor is still taken on the same disk.
        daemon.send(letter(subject="หลังดิสก์ใกล้เต็ม"), UNIT)
        daemon.wait_idle()
        assert sorted(r["subject"] for r in daemon.register()) == ["ก่อนดิสก์ใกล้เต็ม", "หลังดิสก์ใกล้เต็ม"]
    finally:
        daemon.stop()
