"""Letters numbered in the paper emergency register (seed 004, 3.2) into the register."""
from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import json

import pytest

from gateway.tools.emergency_import import parse_emergency_no, parse_when
from tests.letters import letter, make_pdf
from tests.paths import seed_text
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
HEADER = ["เลขทะเบียนฉุกเฉิน", "วันเวลาที่รับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "หมายเหตุ", "ไฟล์สแกน"]


def test_the_seed_example_number_reads_as_its_parts():
    assert "ปท 0013 / ฉ 001" in seed_text("004")  # the example of chapter 3.2
    number = parse_emergency_no("ปท 0013 / ฉ 001")
    assert (number.abbr, number.code, number.seq, str(number)) == ("ปท", "0013", 1, "ปท 0013 / ฉ 001")
    assert parse_emergency_no("ปท ๐๐๑๓/ฉ ๐๐๑") == number  # Thai digits, no spaces
    assert parse_emergency_no("กท.0403/ฉ.12").key == parse_emergency_no("กท 0403 / ฉ 012").key
    with pytest.raises(ValueError, match="is not an emergency register number"):
        parse_emergency_no("ปท 0013/001")  # no ฉ: an ordinary number


def test_dates_as_clerks_write_them():
    assert parse_when("2569-03-05 10:30").isoformat() == "2026-03-05T10:30:00+07:00"
    assert parse_when("5 มี.ค. 2569 10.30 น.").isoformat() == "2026-03-05T10:30:00+07:00"
    assert parse_when("๕ มีนาคม ๒๕๖๙").isoformat() == "2026-03-05T00:00:00+07:00"
    # In figures, day first, as a register is written by hand (refused until session 33)
    assert parse_when("5/3/2569").isoformat() == "2026-03-05T00:00:00+07:00"
    assert parse_when("05.03.69 10.30 น.").isoformat() == "2026-03-05T10:30:00+07:00"
    assert parse_when("๕/๓/๒๕๖๙ ๑๐:๓๐").isoformat() == "2026-03-05T10:30:00+07:00"
    assert parse_when("5-3-2026").isoformat() == "2026-03-05T00:00:00+07:00"
    for bad in ("31/2/2569", "5/3-2569", "5/13/2569", "5/3/2569 25:00"):
        with pytest.raises(ValueError):
            parse_when(bad)
    with pytest.raises(ValueError, match="not a date"):
        parse_when("yesterday")


def write_book(folder, rows):
    path = folder / "emergency.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:  # as Excel saves "CSV UTF-8"
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_import_gives_receive_numbers_in_arrival_order_and_keeps_the_emergency_number(daemon, tmp_path):
    year = this_be_year()
    daemon.send(letter(), LAT)  # the register already runs: 1 is taken
    daemon.wait_idle()
    scans = {}
    for n in (1, 2, 3):
        scans[n] = make_pdf(f"scanned letter {n}")
        (tmp_path / f"scan{n}.pdf").write_bytes(scans[n])
    # Rows in any order: the book's order is when the letters arrived. Times of this year
    # already past whatever the day (a time later than now is refused).
    book = write_book(tmp_path, [
        ["กท 0403 / ฉ 003", f"1 ม.ค. {year} 00.03 น.", "กท 0401/123", "1 มี.ค. 2569", "สำนักการคลัง",
         "ผู้อำนวยการเขตลาดกระบัง", "ขอส่งรายงานการเงินประจำเดือน", "", "scan3.pdf"],
        ["กท 0403 / ฉ 001", f"{year}-01-01 00:01", "กท 0407/ว 57", "13 มิ.ย. 2565", "สำนักการระบายน้ำ",
         "ผู้อำนวยการเขตลาดกระบัง", "แจ้งเตือนน้ำท่วม", "ด่วน รับทางโทรสาร", "scan1.pdf"],
        ["กท 0403 / ฉ 002", f"{year}-01-01 00:02", "", "", "สำนักงานเขตบางกะปิ", "", "ขอเชิญประชุม", "",
         "scan2.pdf"],
    ])
    out = daemon.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang",
                     "--reason", "ระบบล่ม 5-6 มี.ค.")
    assert "3 new, 0 already in the register" in out.stdout
    assert f"กท 0403 / ฉ 001  ->  registered 2/{year}" in out.stdout
    daemon.wait_idle()

    entries = daemon.register("--unit", "saraban.latkrabang")
    assert [e["number"] for e in entries] == [1, 2, 3, 4]
    imported = {e["number"]: e for e in entries[1:]}
    assert [imported[n]["subject"] for n in (2, 3, 4)] == ["แจ้งเตือนน้ำท่วม", "ขอเชิญประชุม", "ขอส่งรายงานการเงินประจำเดือน"]
    assert imported[2]["received_at"] == f"{year - 543}-01-01T00:01:00+07:00"
    assert imported[2]["reference"] == "กท 0407/ว 57" and imported[2]["letter_date"] == "2022-06-13"
    sha = hashlib.sha256(scans[1]).hexdigest()
    assert imported[2]["attachments"][0]["sha256"] == sha
    assert (daemon.data_dir / "vault" / sha[:2] / sha[2:4] / sha).read_bytes() == scans[1]

    shown = json.loads(daemon.cli("register", "show", "saraban.latkrabang", f"2/{year}", "--json").stdout)
    assert shown["emergency_no"] == "กท 0403 / ฉ 001"
    assert shown["actions"][0]["action"] == "emergency_imported" and shown["actions"][0]["reason"] == "ระบบล่ม 5-6 มี.ค."
    assert len(daemon.maildir_files("latkrabang")) == 4  # filed like letters that came by mail
    # Each copy says its emergency number once: the register's (the imported message's own
    # X-Saraban-* header is dropped with any a sender writes, tests/test_fidelity_red_team.py).
    copies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in daemon.maildir_files("latkrabang")]
    assert sorted(str(c.get_all("X-Saraban-Emergency-No")) for c in copies) == [
        "None", "['กท 0403 / ฉ 001']", "['กท 0403 / ฉ 002']", "['กท 0403 / ฉ 003']"]

    csv_out = tmp_path / "register.csv"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(csv_out))
    rows = list(csv.DictReader(open(csv_out, encoding="utf-8-sig")))
    assert rows[1]["เลขทะเบียนฉุกเฉิน"] == "กท 0403 / ฉ 001"
    assert "เลขทะเบียนฉุกเฉิน กท 0403 / ฉ 001" in rows[1]["หมายเหตุ"] and "ด่วน รับทางโทรสาร" in rows[1]["หมายเหตุ"]

    # Importing the same book again (e.g. after fixing another row) changes nothing.
    again = daemon.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang")
    assert "0 new, 3 already in the register" in again.stdout
    assert f"กท 0403 / ฉ 001  ->  already imported as 2/{year}" in again.stdout
    daemon.wait_idle()
    assert len(daemon.register()) == 4 and len(daemon.maildir_files("latkrabang")) == 4


def test_a_bad_book_imports_nothing_and_names_every_bad_line(daemon, tmp_path):
    (tmp_path / "ok.pdf").write_bytes(make_pdf("ok"))
    book = write_book(tmp_path, [
        ["กท 0403 / ฉ 001", "2569-03-05 10:30", "", "", "สำนักการคลัง", "", "เรื่องหนึ่ง", "", "ok.pdf"],
        ["กท 0403 / 002", "2569-03-05 11:00", "", "", "สำนักการคลัง", "", "เรื่องสอง", "", "ok.pdf"],
        ["กท 0403 / ฉ 003", "เมื่อวาน", "", "", "สำนักการคลัง", "", "เรื่องสาม", "", "ok.pdf"],
        ["กท 0403 / ฉ 004", "2569-03-05 12:00", "", "", "สำนักการคลัง", "", "เรื่องสี่", "", "missing.pdf"],
        ["กท 0403 / ฉ 1", "2569-03-05 12:00", "", "", "สำนักการคลัง", "", "ซ้ำ", "", "ok.pdf"],
    ])
    out = daemon.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "nothing imported" in out.stderr
    for line in ("line 3:", "line 4:", "line 5:", "line 6:"):
        assert line in out.stderr
    assert "line 2:" not in out.stderr and "also on line 2" in out.stderr
    assert daemon.register() == []
    unknown = daemon.cli("register", "import-emergency", str(book), "--unit", "saraban.nowhere", check=False)
    assert unknown.returncode == 1 and "unknown unit" in unknown.stderr
