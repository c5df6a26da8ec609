"""Session 36: `register import-emergency` read any path a row's scan column named, and
registered and filed it: `../d1/var/keys/copy-seal.key` and `/etc/shadow` went, base64,
into a unit's mailbox folder, and 1000 random bytes named notpdf.pdf were registered as
application/octet-stream. A row under a number already imported, but another letter
(a typing slip), was "already imported" and never registered. The Thai of a row's fault
was the English sentence with "แถวที่ 2:" in front. All through the command, against a
running gateway's data directory."""
from __future__ import annotations

import base64
import csv
import os
import re

from tests.letters import make_pdf
from tests.tools_helpers import this_be_year

HEADER = ["เลขทะเบียนฉุกเฉิน", "วันเวลาที่รับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "หมายเหตุ", "ไฟล์สแกน"]
UNIT = "saraban.latkrabang"


def write_book(folder, rows, name="emergency.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def row(scan, number="กท 0403 / ฉ 001", sender="สำนักการคลัง", subject="ขอส่งรายงาน"):
    return [number, f"{this_be_year()}-01-01 00:01", "", "", sender, "", subject, "", scan]


def imports(daemon, book):
    return daemon.cli("register", "import-emergency", str(book), "--unit", UNIT, check=False)


def thai_part(stderr: str) -> str:
    """The refusal's Thai, which the command prints after the English."""
    assert "ยังไม่ได้บันทึกรายการใด" in stderr, stderr
    return stderr[stderr.index("ยังไม่ได้บันทึกรายการใด"):]


def everything_filed(daemon) -> bytes:
    root = daemon.data_dir / "folders"
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file()) if root.exists() else b""


def refused(daemon, book, written):
    out = imports(daemon, book)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "nothing imported" in out.stderr and "line 2:" in out.stderr
    assert f'"{written}"' in out.stderr and f'"{written}"' in thai_part(out.stderr)  # as written
    assert daemon.register() == []
    return out


def test_a_scan_outside_the_sheets_folder_is_refused_and_the_key_goes_nowhere(daemon, tmp_path):
    key = daemon.data_dir / "keys" / "copy-seal.key"
    secret = key if key.is_file() else daemon.data_dir / "saraban.db"
    sheets = tmp_path / "sheets"
    written = os.path.relpath(secret, sheets)
    assert written.startswith("..")
    out = refused(daemon, write_book(sheets, [row(written)]), written)
    assert "outside the sheet's folder" in out.stderr and "อยู่นอกโฟลเดอร์ของไฟล์ CSV" in out.stderr
    daemon.wait_idle()
    data = secret.read_bytes()[:48]
    filed = everything_filed(daemon)
    assert data not in filed and base64.b64encode(data)[:40] not in filed


def test_an_absolute_path_is_refused(daemon, tmp_path):
    out = refused(daemon, write_book(tmp_path, [row("/etc/passwd")]), "/etc/passwd")
    assert "outside the sheet's folder" in out.stderr


def test_a_symlink_in_the_folder_to_a_file_outside_is_refused(daemon, tmp_path):
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(make_pdf("not the clerk's to import"))
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    (sheets / "scan.pdf").symlink_to(outside)
    out = refused(daemon, write_book(sheets, [row("scan.pdf")]), "scan.pdf")
    assert "outside the sheet's folder" in out.stderr


def test_a_file_that_is_not_a_pdf_or_an_image_is_refused(daemon, tmp_path):
    (tmp_path / "notpdf.pdf").write_bytes(os.urandom(1000))
    out = refused(daemon, write_book(tmp_path, [row("notpdf.pdf")]), "notpdf.pdf")
    assert "PDF, JPEG, PNG or TIFF only" in out.stderr and "PDF, JPEG, PNG หรือ TIFF" in out.stderr


def test_a_good_scan_in_a_sub_folder_or_through_a_symlink_inside_is_imported(daemon, tmp_path):
    year = this_be_year()
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "one.pdf").write_bytes(make_pdf("scanned letter one"))
    (tmp_path / "two.pdf").symlink_to(tmp_path / "scans" / "one.pdf")
    out = imports(daemon, write_book(tmp_path, [row("scans/one.pdf"), row("two.pdf", number="กท 0403 / ฉ 002")]))
    assert out.returncode == 0, out.stderr
    assert "2 new, 0 already in the register" in out.stdout
    shown = daemon.cli("register", "show", UNIT, f"1/{year}", "--json").stdout
    assert "application/pdf" in shown and "one.pdf" in shown


def test_the_same_row_twice_is_already_imported_and_another_under_its_number_is_refused(daemon, tmp_path):
    year = this_be_year()
    (tmp_path / "scan.pdf").write_bytes(make_pdf("scanned letter"))
    first = imports(daemon, write_book(tmp_path, [row("scan.pdf")]))
    assert first.returncode == 0 and "1 new" in first.stdout, first.stderr
    again = imports(daemon, write_book(tmp_path, [row("scan.pdf")], "again.csv"))
    assert again.returncode == 0, again.stderr
    assert f"กท 0403 / ฉ 001  ->  already imported as 1/{year}" in again.stdout
    assert "0 new, 1 already in the register" in again.stdout
    # A typing slip of the number: another letter, with a letter after it that is new
    (tmp_path / "other.pdf").write_bytes(make_pdf("another letter"))
    slip = write_book(tmp_path, [row("other.pdf", sender="สำนักอนามัย", subject="เรื่องอื่นโดยสิ้นเชิง"),
                                 row("other.pdf", number="กท 0403 / ฉ 005", subject="เรื่องใหม่")], "slip.csv")
    out = imports(daemon, slip)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "already imported as" not in out.stdout
    assert "line 2: กท 0403 / ฉ 001 was already imported as 1/" in out.stderr
    assert "sender (จาก), subject (เรื่อง)" in out.stderr and "ขอส่งรายงาน" in out.stderr
    thai = thai_part(out.stderr)
    assert "แถวที่ 2: เลขทะเบียนฉุกเฉิน กท 0403 / ฉ 001 นำเข้าแล้วเป็นเลขรับ 1/" in thai
    assert not re.search(r"[A-Za-z]+(?:\s+[A-Za-z]+){2,}", thai), thai
    entries = daemon.register("--unit", UNIT)
    assert len(entries) == 1  # nothing registered for the slip, nor for the row after it
    # Its note is not the letter: a changed note is the same letter
    noted = row("scan.pdf")
    noted[7] = "รับทางโทรสาร"
    assert imports(daemon, write_book(tmp_path, [noted], "noted.csv")).returncode == 0


def test_the_thai_of_a_rows_fault_is_thai(daemon, tmp_path):
    (tmp_path / "ok.pdf").write_bytes(make_pdf("ok"))
    book = write_book(tmp_path, [
        row("missing.pdf"),
        ["กท 0403 / 002", "2569-03-05 11:00", "", "", "สำนักการคลัง", "", "เรื่องสอง", "", "ok.pdf"],
        ["กท 0403 / ฉ 003", "เมื่อวาน", "", "", "สำนักการคลัง", "", "เรื่องสาม", "", "ok.pdf"],
        ["กท 0403 / ฉ 004", "2569-03-05 12:00", "", "xx", "สำนักการคลัง", "", "เรื่องสี่", "", "ok.pdf"],
        ["กท 0403 / ฉ 1", "2569-03-05 12:00", "", "", "สำนักการคลัง", "", "", "", "ok.pdf"],
        ["กท 0403 / ฉ 006", "2569-03-05 12:00", "", "", "สำนักการคลัง", "", "ซ้ำ", "", ""],
        ["กท 0403 / ฉ 007", "2699-03-05 12:00", "", "", "สำนักการคลัง", "", "อนาคต", "", "ok.pdf"],
    ])
    out = imports(daemon, book)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    thai = thai_part(out.stderr)
    for line in range(2, 9):
        assert f"แถวที่ {line}: " in thai
    assert "ไม่พบไฟล์สแกน \"missing.pdf\"" in thai
    # English words only where a value is quoted (a file's name, the folder's path)
    assert not re.search(r"[A-Za-z]+(?:\s+[A-Za-z]+){2,}", thai), thai
    assert "line 2: scan \"missing.pdf\" not found" in out.stderr  # the English kept beside it
    assert daemon.register() == []
