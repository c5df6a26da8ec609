"""Free disk space at MAIL FROM (Postfix's queue_minfree) and the runners' CPU priority,
on the real daemon over loopback."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway.config.settings import Settings
from gateway.intake.disk_space import StorageGuard, free_bytes, size_parameter
from tests.daemon import Daemon, free_port, write_config
from tests.hostile.smtp_raw import Raw
from tests.letters import letter, make_pdf

SENDER = "saraban.dds@bangkok.go.th"
UNIT = "saraban.latkrabang@bangkok.go.th"


def _session(port: int, size: int | None = None) -> tuple[Raw, bytes]:
    client = Raw(port)
    assert client.reply().startswith(b"220")
    assert client.cmd("EHLO test.example").startswith(b"250")
    return client, client.cmd(f"MAIL FROM:<{SENDER}>" + (f" SIZE={size}" if size is not None else ""))


@pytest.fixture
def disk_too_small(tmp_path):
    """A floor no disk can keep: 1 PiB."""
    http = free_port()
    daemon = Daemon(write_config(tmp_path, smtp_extra="min_free_mb = 1073741824\n",
                                 extra=f"[http]\nenabled = true\nport = {http}\n")).start()
    daemon.http = f"http://127.0.0.1:{http}"
    yield daemon
    daemon.stop()


def test_mail_from_is_452_4_3_1_when_the_disk_is_below_the_floor(disk_too_small):
    client, reply = _session(disk_too_small.port)
    with client:
        assert reply.startswith(b"452 4.3.1 ")
        assert reply.isascii() and b"insufficient system storage" in reply
        # Nothing was started: the session goes on, and a RCPT has no transaction to join.
        assert client.cmd(f"RCPT TO:<{UNIT}>").startswith(b"503")
        assert client.cmd("QUIT").startswith(b"221")
    assert list((disk_too_small.data_dir / "spool" / "tmp").iterdir()) == []
    refused = [e for e in disk_too_small.events() if e.get("event") == "mail_refused"]
    assert refused and refused[-1]["reason"] == "low_disk" and refused[-1]["mail_from"] == SENDER


def test_status_shows_the_free_space_and_warns_below_the_floor(disk_too_small):
    text = disk_too_small.cli("status").stdout
    assert "letters refused below 1073741824 MiB" in text
    assert "WARNING    the disk is below [smtp] min_free_mb (1073741824 MiB): new letters are refused with 452 4.3.1" in text
    status = disk_too_small.status()
    assert status["disk"]["floor_mib"] == 1073741824 and status["disk"]["free_mib"] > 0


def test_healthz_names_the_disk_when_it_is_below_the_floor(disk_too_small):
    try:
        urllib.request.urlopen(disk_too_small.http + "/healthz", timeout=30)
        raise AssertionError("healthz answered 200 with the disk below the floor")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        body = json.loads(exc.read())
    assert body["failed"] == ["disk"]
    assert "letters refused below 1073741824 MiB" in body["checks"]["disk"]["detail"]


@pytest.fixture
def no_floor(tmp_path):
    # No size cap worth the name, so SIZE= larger than the free space reaches the check
    # (aiosmtpd answers 552 itself above the cap).
    daemon = Daemon(write_config(tmp_path, smtp_extra="min_free_mb = 0\nmax_message_size = 4611686018427387904\n")).start()
    yield daemon
    daemon.stop()


def test_a_size_larger_than_the_free_space_is_refused_and_a_small_one_goes_through(no_floor):
    free = free_bytes(no_floor.data_dir)
    client, reply = _session(no_floor.port, size=free + 1024 ** 3)
    with client:
        assert reply.startswith(b"452 4.3.1 ")
    client, reply = _session(no_floor.port, size=2000)
    with client:
        assert reply.startswith(b"250")
        assert client.cmd(f"RCPT TO:<{UNIT}>").startswith(b"250")
        assert client.cmd("DATA").startswith(b"354")
        raw = letter(subject="ทดสอบพื้นที่ว่าง").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        client.send(raw + (b"" if raw.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        assert client.reply().startswith(b"250 2.0.0 queued as ")
    no_floor.wait_idle()
    assert "the disk is below" not in no_floor.cli("status").stdout
    [row] = no_floor.register()
    assert row["subject"] == "ทดสอบพื้นที่ว่าง"


def test_the_default_floor_is_one_and_a_half_times_the_largest_message():
    settings = Settings.model_validate({"smtp": {"max_message_size": 40 * 1024 * 1024}})
    assert settings.min_free_bytes == 60 * 1024 * 1024
    assert Settings.model_validate({"smtp": {"min_free_mb": 7}}).min_free_bytes == 7 * 1024 * 1024


def test_the_guard_looks_at_each_file_system_once_and_at_the_parent_of_what_is_not_there(tmp_path):
    seen = []

    def measure(path: Path) -> int:
        seen.append(path)
        return 10_000

    missing = tmp_path / "var" / "vault" / "objects"
    guard = StorageGuard([tmp_path, missing, tmp_path / "var"], floor=1_000, measure=measure)
    assert guard.paths == [tmp_path]  # one file system, one statvfs
    assert not guard.refuses(8_000)
    assert guard.refuses(9_001)
    assert seen == [tmp_path, tmp_path]


def test_the_guard_takes_the_fullest_file_system_and_refuses_when_it_cannot_measure(tmp_path):
    root = Path("/proc") if os.stat("/proc").st_dev != os.stat(tmp_path).st_dev else None
    if root is None:
        pytest.skip("needs two file systems")
    guard = StorageGuard([tmp_path, root], floor=1, measure=lambda p: 5 if p == root else 10**9)
    assert guard.free() == 5 and not guard.refuses(3) and guard.refuses(5)

    def broken(path: Path) -> int:
        raise OSError(5, "Input/output error")

    assert StorageGuard([tmp_path], floor=0, measure=broken).refuses(1)


def test_size_parameter_reads_rfc_1870_size():
    assert size_parameter(["BODY=8BITMIME", "SIZE=12345"]) == 12345
    assert size_parameter(["SMTPUTF8"]) == 0


def _nice(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of proc(5), counting from the state


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_runners_run_at_a_lower_priority_than_smtp_and_its_data_check(tmp_path):
    daemon = Daemon(write_config(tmp_path, workers=1, extra="[service]\nbackground_nice = 7\n")).start()
    try:
        # A file that may be signed (its bytes name /ByteRange) goes to the pipeline's
        # signature worker; an unsigned one's text was read at DATA and starts none.
        daemon.send(letter(subject="ลำดับความสำคัญ", files=[("a.pdf", make_pdf("signed? /ByteRange"))]), UNIT)
        daemon.wait_idle()  # the runners are up and have done their work
        assert [row["subject"] for row in daemon.register()] == ["ลำดับความสำคัญ"]
        supervisor = daemon.proc.pid
        base = _nice(supervisor)
        # The runners and DATA-check workers are the fork server's children
        # (gateway/service/fork_server.py), the server at the supervisor's priority.
        [server] = [p for p in _children(supervisor) if _cmdline(p).rstrip().endswith(" fork-server")]
        assert _nice(server) == base
        children = _children(server)
        data_check = [p for p in children if "gateway.secrecy.markings" in _cmdline(p)]
        runners = [p for p in children if "gateway.service.child" in _cmdline(p)]
        assert data_check and len(runners) == 2  # one pipeline, one delivery
        assert {_nice(p) for p in data_check} == {base}
        assert {_nice(p) for p in runners} == {min(19, base + 7)}
        # and what they start (the pipeline's PDF workers) inherits it
        grandchildren = [g for p in runners for g in _children(p)]
        assert grandchildren and {_nice(g) for g in grandchildren} == {min(19, base + 7)}
    finally:
        daemon.stop()
