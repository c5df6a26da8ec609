"""register show / cancel / export against the real daemon: what the central unit
prints and hands to Excel."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import unicodedata

from pypdf import PdfReader

from tests.paths import REPO
from tests.letters import SEED_SUBJECT, letter, make_pdf
from tests.tools_helpers import json_events, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
SUBJECTS = [SEED_SUBJECT, "ขอความร่วมมือแจ้งเวียนเรื่องการป้องกันน้ำท่วมขังในพื้นที่", "ขอเชิญประชุมผู้อำนวยการเขต"]


def nfkc(text: str) -> str:
    """Text as a PDF viewer extracts it, comparable with what was written.

    SARA AM (ำ) is printed as its two glyphs (NIKHAHIT + SARA AA, NFKC-equal), and
    HarfBuzz puts NIKHAHIT before a tone mark (น้ำ -> น ํ ้ า): marks above one
    consonant are compared as a set, spaces are dropped (the extractor adds some)."""
    text = unicodedata.normalize("NFKC", text).replace(" ", "").replace("\n", "")
    out, marks = [], []
    for ch in text:
        if unicodedata.category(ch) == "Mn":
            marks.append(ch)
            continue
        out.extend(sorted(marks))
        marks = []
        out.append(ch)
    return "".join(out + sorted(marks))


def test_show_cancel_and_export_after_real_registrations(daemon, tmp_path):
    year = this_be_year()
    for subject in SUBJECTS:  # letters of their own: each its own file (the same file again is flagged)
        daemon.send(letter(subject=subject, files=[("2565_dds_0407_57.pdf", make_pdf(f"letter: {subject}"))]), LAT)
    daemon.wait_idle()

    shown = json.loads(daemon.cli("register", "show", "saraban.latkrabang", f"2/{year}", "--json").stdout)
    assert (shown["number"], shown["subject"], shown["status"]) == (2, SUBJECTS[1], "registered")
    assert shown["attachments"][0]["filename"] == "2565_dds_0407_57.pdf"
    assert shown["outbox"][0]["kind"] == "folder" and shown["outbox"][0]["state"] == "done"
    text = daemon.cli("register", "show", "saraban.latkrabang", f"๒/{year}").stdout  # Thai digits too
    assert f"เลขรับ 2/{year}" in text and SUBJECTS[1] in text and "folder: done" in text
    assert "13 มิ.ย. 2565" in text  # ลงวันที่ in the Thai way

    cancelled = daemon.cli("-v", "register", "cancel", "saraban.latkrabang", f"2/{year}", "--reason", "หนังสือส่งซ้ำ")
    assert "stays taken" in cancelled.stdout
    [event] = [e for e in json_events(cancelled.stderr) if e.get("event") == "register_cancelled"]
    assert event["reason"] == "หนังสือส่งซ้ำ" and event["who"]
    again = daemon.cli("register", "cancel", "saraban.latkrabang", f"2/{year}", "--reason", "x", check=False)
    assert again.returncode == 1 and "already cancelled" in again.stderr
    no_reason = daemon.cli("register", "cancel", "saraban.latkrabang", f"1/{year}", check=False)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr

    # The cancelled number is never given again.
    daemon.send(letter(files=[("2565_dds_0407_57.pdf", make_pdf("another letter"))]), LAT)
    daemon.wait_idle()
    entries = daemon.register("--unit", "saraban.latkrabang")
    assert [(e["number"], e["status"]) for e in entries] == [
        (1, "registered"), (2, "cancelled"), (3, "registered"), (4, "registered")]
    detail = daemon.cli("register", "show", "saraban.latkrabang", f"2/{year}").stdout
    assert "register_cancelled" in detail and "หนังสือส่งซ้ำ" in detail

    # CSV: UTF-8 with BOM (Excel), the regulation's columns first, one row per number.
    out_csv = tmp_path / "lat.csv"
    done = daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year),
                      "--format", "csv", "-o", str(out_csv))
    assert "wrote 4 entries" in done.stdout
    data = out_csv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:8] == ["เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4"]
    first = dict(zip(rows[0], rows[1]))
    assert first["เรื่อง"] == SUBJECTS[0] and first["จาก"] == "สำนักการระบายน้ำ <saraban.dds@bangkok.go.th>"
    assert first["ที่"] == "กท 0407/ว 57" and first["ลงวันที่"] == "13 มิ.ย. 2565"
    assert first["ถึง"] == "ผู้อำนวยการเขตลาดกระบัง"
    assert first["การปฏิบัติ"].startswith("ส่งเข้าแฟ้มแล้ว ")
    second = dict(zip(rows[0], rows[2]))
    assert second["หมายเหตุ"] == "ยกเลิก (หนังสือส่งซ้ำ)" and second["สถานะ"] == "ยกเลิก"
    assert second["เลขรับ/ปี"] == f"2/{year}"

    # PDF: the printed book; its text layer has the Thai headings and the entries.
    out_pdf = tmp_path / "lat.pdf"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out_pdf))
    reader = PdfReader(out_pdf)
    page = reader.pages[0]
    assert float(page.mediabox.width) > float(page.mediabox.height)  # landscape
    lines = [line for p in reader.pages for line in p.extract_text().splitlines()]
    text = nfkc("".join(lines))
    headings = nfkc(" ".join(lines[2:4]))  # title, subtitle, then the column headings
    assert headings == nfkc("เลขทะเบียนรับ ที่ ลงวันที่ จาก ถึง เรื่อง การปฏิบัติ หมายเหตุ")
    assert nfkc(f"ทะเบียนหนังสือรับ สำนักงานเขตลาดกระบัง พ.ศ. {year}") in text
    assert nfkc("วันที่") in text
    assert nfkc("สำนักการระบายน้ำ") in text and nfkc("ยกเลิก (หนังสือส่งซ้ำ)") in text
    for subject in SUBJECTS:  # subjects wrap over lines, between words
        assert nfkc(subject) in text
    assert text.index(nfkc(SUBJECTS[0])) < text.index(nfkc(SUBJECTS[1])) < text.index(nfkc(SUBJECTS[2]))
    fonts = {str(f) for f in page["/Resources"]["/Font"].values()}
    assert fonts  # an embedded TrueType subset, not a core font
    descriptor = page["/Resources"]["/Font"][list(page["/Resources"]["/Font"].keys())[0]].get_object()
    assert "Garuda" in str(descriptor["/BaseFont"])


def test_show_and_export_refuse_bad_input_clearly(daemon, tmp_path):
    bad_no = daemon.cli("register", "show", "saraban.latkrabang", "fifteen", check=False)
    assert bad_no.returncode == 1 and "write it NUMBER/YEAR" in bad_no.stderr
    missing = daemon.cli("register", "show", "saraban.latkrabang", "7/2569", check=False)
    assert missing.returncode == 1 and "has no receive number 7/2569" in missing.stderr
    unknown = daemon.cli("register", "export", "--unit", "saraban.nowhere", "-o", str(tmp_path / "x.csv"), check=False)
    assert unknown.returncode == 1 and "unknown unit" in unknown.stderr
    bad_year = daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", "2026",
                          "-o", str(tmp_path / "x.csv"), check=False)
    assert bad_year.returncode == 1 and "Buddhist-era" in bad_year.stderr
    # A unit neither in the directory nor in the register: said so, not "no number 1/2569".
    nosuch = daemon.cli("register", "show", "saraban.nosuch", "1/2569", check=False)
    assert nosuch.returncode == 1 and "unknown unit" in nosuch.stderr and "ไม่พบหน่วยงาน" in nosuch.stderr
    assert "has no receive number" not in nosuch.stderr
    for result in (bad_no, missing, unknown, bad_year, nosuch):
        assert "Traceback" not in result.stderr
    # Where a sysadmin finds the addresses to name: the directory as the daemon reads it.
    units = json.loads(daemon.cli("units", "list", "--json").stdout)
    lat = next(u for u in units if u["address"] == "saraban.latkrabang")
    assert lat["name_th"] == "สำนักงานเขตลาดกระบัง" and lat["folder"] == "latkrabang"
    table = daemon.cli("units", "list").stdout
    assert "saraban.latkrabang" in table and "สำนักงานเขตลาดกระบัง" in table
    assert f"\n{len(units)} units in " in table
    # `units list | head`: the reader gone before the first line is written is no error.
    cut = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(daemon.config), "units", "list"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cut.stdout.close()
    assert cut.wait(60) == 0 and cut.stderr.read() == b""
    empty = tmp_path / "empty.pdf"
    daemon.cli("register", "export", "--unit", "saraban.pomprap", "--year", "2569", "-o", str(empty))
    assert "ไม่มีรายการ" in PdfReader(empty).pages[0].extract_text()
