"""A new clerk's red team of the command line (session 37).

1. `quarantine reject --reason ""` (or spaces, or control characters only, or no
   --reason at all) closed the entry with no reason on record; a 100 KB reason or one
   with terminal escapes was kept as typed.
2. `register import-emergency` read a scan of any size whole into memory (a 2 GB file:
   MemoryError's traceback, or 2 GB of the server's memory); the desk takes at most
   `[web] max_upload_mb`.
"""
from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys

from tests.letters import letter
from tests.paths import REPO
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
EMPTY_REASON_TH = "กรุณาระบุเหตุผล"


def held_entry(daemon) -> int:
    daemon.send(letter(files=[]), LAT)  # no document: held by the default policy
    daemon.wait_idle()
    [held] = json.loads(daemon.cli("quarantine", "list", "--json").stdout)
    return held["id"]


def refused_as_usage(result, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, English and Thai
    assert lines[0].startswith("saraban-gateway: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""


def test_reject_without_a_reason_is_refused_and_changes_nothing(daemon):
    entry = held_entry(daemon)
    for reason in ([], ["--reason", ""], ["--reason", "   "], ["--reason", "\x01\x1b\u200b\u202e"]):
        out = daemon.cli("quarantine", "reject", str(entry), *reason, check=False)
        refused_as_usage(out, "give a reason", EMPTY_REASON_TH)
    out = daemon.cli("quarantine", "reject", str(entry), "--reason", "x" * 100_000, check=False)
    refused_as_usage(out, "the reason is 100000 characters", "at most 500", "ไม่เกิน 500 ตัวอักษร")
    # release: no --reason is still allowed; one given must say something
    refused_as_usage(daemon.cli("quarantine", "release", str(entry), "--reason", " ", check=False),
                     EMPTY_REASON_TH)
    shown = json.loads(daemon.cli("quarantine", "show", str(entry), "--json").stdout)
    assert shown["state"] == "held" and shown["actions"] == []


def test_a_reason_with_control_characters_is_kept_cleaned(daemon):
    entry = held_entry(daemon)
    out = daemon.cli("quarantine", "reject", str(entry), "--reason", "ผู้ส่ง\x1b[2Jส่งใหม่\u202eแล้ว\n  ครับ")
    assert "rejected quarantine entry" in out.stdout
    [action] = json.loads(daemon.cli("quarantine", "show", str(entry), "--json").stdout)["actions"]
    assert action["action"] == "quarantine_rejected"
    assert action["reason"] == "ผู้ส่ง [2Jส่งใหม่แล้ว ครับ", action  # one line, no ESC, no override


# 2. The emergency import's scans: at most the desk's upload limit, found by the size
#    on disk before the file is read.

HEADER = ["เลขทะเบียนฉุกเฉิน", "วันเวลาที่รับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "หมายเหตุ", "ไฟล์สแกน"]


def book_with_a_scan_of(folder, size: int):
    scan = folder / "scan.pdf"
    with open(scan, "wb") as out:  # sparse: no disk, but read() returns every byte
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        out.truncate(size)
    book = folder / "emergency.csv"
    with open(book, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerow(["กท 0403 / ฉ 001", f"{this_be_year()}-01-01 00:01", "", "", "สำนักการคลัง", "",
                         "ขอส่งรายงาน", "", "scan.pdf"])
    return book


def test_a_scan_over_the_desks_limit_is_a_rows_fault(daemon_factory, tmp_path):
    d = daemon_factory(extra="[web]\nmax_upload_mb = 1\n").start()
    book = book_with_a_scan_of(tmp_path, 1024 * 1024 + 1)
    out = d.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert 'line 2: scan "scan.pdf" is 1 MB; a scan may be at most 1 MB' in out.stderr, out.stderr
    assert 'แถวที่ 2: ไฟล์สแกน "scan.pdf" มีขนาด 1 MB ใหญ่เกินกำหนด (ไม่เกิน 1 MB' in out.stderr, out.stderr
    assert d.register() == []


def test_a_2_gb_scan_is_refused_before_it_is_read(daemon, tmp_path):
    book = book_with_a_scan_of(tmp_path, 2 * 1024 ** 3)

    def at_most_1_5_gb() -> None:  # the command with less memory than the file
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 ** 2, 1536 * 1024 ** 2))

    out = subprocess.run([sys.executable, "-m", "gateway", "--config", str(daemon.config), "register",
                          "import-emergency", str(book), "--unit", "saraban.latkrabang"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, preexec_fn=at_most_1_5_gb)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "MemoryError" not in out.stderr, out.stderr
    assert "is 2048 MB; a scan may be at most 20 MB" in out.stderr, out.stderr
    assert "มีขนาด 2048 MB ใหญ่เกินกำหนด (ไม่เกิน 20 MB" in out.stderr
    assert daemon.register() == []
