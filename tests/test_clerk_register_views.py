"""What the clerk reads in the register (issue 14, items 1, 2, 4, 5, 6): เรื่อง, ที่ and
ลงวันที่ in their own columns from the letter, the ถึง field as the PDF shows it,
cancelled entries marked in every view, the Buddhist era and Thai markings, and
command output without log noise."""
from __future__ import annotations

import csv
import io
import json
import re

from tests.letters import letter
from tests.thai_pdfs import pdftotext, thai_pdf
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
MAIL_SUBJECT = "ด่วนที่สุด ที่ กท 0403/276 ลงวันที่ 22 ธ.ค. 67 เรื่อง ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม"
COVER = ["ด่วนที่สุด", "ที่ กท 0403/276", "22 ธันวาคม 2567", "เรื่อง ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม",
         "เรียน ผู้อำนวยการเขตลาดกระบัง", "ด้วยกรุงเทพมหานครขอเชิญประชุม"]


def test_register_views_say_what_the_letter_says(daemon, tmp_path):
    year = this_be_year()
    cover = thai_pdf(COVER, "shaped")  # its text layer reads "ผู้อำ$นวยการ"
    daemon.send(letter(subject=MAIL_SUBJECT, body="ส่งหนังสือตามแนบ\n",
                       files=[("2567_kt_0403_276.pdf", cover)]), LAT)
    daemon.send(letter(subject="แจ้งเวียนเรื่องการป้องกันน้ำท่วม", body="ตามแนบ\n",
                       files=[("2567_kt_0403_277.pdf", thai_pdf(["ขอแจ้งเวียน"], "plain"))]), LAT)
    daemon.wait_idle()

    shown = daemon.cli("register", "show", "saraban.latkrabang", f"1/{year}", "--json")
    entry = json.loads(shown.stdout)
    assert entry["subject"] == "ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม"
    assert entry["mail_subject"] == MAIL_SUBJECT
    assert entry["reference"] == "กท 0403/276" and entry["letter_date"] == "2024-12-22"
    assert entry["addressee"] == "ผู้อำนวยการเขตลาดกระบัง"
    assert entry["urgency"] == "most_urgent"  # code values stay in --json
    assert "\\u0e" not in shown.stdout and "ผู้อำนวยการ" in shown.stdout  # readable Thai
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", entry["received_at"])
    assert shown.stderr == ""

    text = daemon.cli("register", "show", "saraban.latkrabang", f"1/{year}").stdout
    assert re.search(r"ชั้นความเร็ว \(urgency\)\s+ด่วนที่สุด\n", text) and "most_urgent" not in text
    assert "เรื่อง (subject)" in text and "ลงวันที่ (dated)" in text and "22 ธ.ค. 2567" in text
    assert re.search(rf"หัวเรื่องอีเมล \(mail subject\)\s+{MAIL_SUBJECT}\n", text)
    assert re.search(rf"รับเมื่อ \(received\)\s+\d+ \S+ {year} \d\d:\d\d", text)

    daemon.cli("register", "cancel", "saraban.latkrabang", f"2/{year}", "--reason", "ส่งซ้ำ")
    listing = daemon.cli("register", "list", "--unit", "saraban.latkrabang")
    assert listing.stderr == ""  # no log lines beside the table
    lines = listing.stdout.splitlines()
    first = next(line for line in lines if f"1/{year}" in line)
    second = next(line for line in lines if f"2/{year}" in line)
    assert "ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม" in first and "ลงวันที่" not in first and "ด่วนที่สุด" in first
    assert "ยกเลิก (cancelled)" in second and "ยกเลิก" not in first
    assert re.search(rf"\d+ (ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\.) {year} \d\d:\d\d", first)
    assert "1 cancelled (ยกเลิก)" in listing.stdout

    out_csv = tmp_path / "lat.csv"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out_csv))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8-sig"))))
    assert rows[0]["เรื่อง"] == "ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม"
    assert rows[0]["ที่"] == "กท 0403/276" and rows[0]["ลงวันที่"] == "22 ธ.ค. 2567"
    assert rows[0]["ถึง"] == "ผู้อำนวยการเขตลาดกระบัง"
    assert re.fullmatch(rf"\d+ \S+ {year} \d\d:\d\d", rows[0]["วันเวลาที่รับ"])
    assert rows[0]["ชั้นความเร็ว"] == "ด่วนที่สุด"
    # "เรื่อง" inside a word of a subject is not the field's keyword.
    assert rows[1]["เรื่อง"] == "แจ้งเวียนเรื่องการป้องกันน้ำท่วม"

    out_pdf = tmp_path / "lat.pdf"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out_pdf))
    book = pdftotext(out_pdf.read_bytes(), layout=False)
    flat = re.sub(r"\s+", "", book).replace("\u0e4d\u0e32", "\u0e33")
    assert "ผู้อำนวยการเขตลาดกระบัง" in flat and "ผู้อำ5" not in flat
    assert "ขอเชิญประชุมคณะกรรมการป้องกันน้ำท่วม" in flat
    assert MAIL_SUBJECT.replace(" ", "") not in flat  # ที่/ลงวันที่ not repeated inside เรื่อง
    assert re.search(rf"เมื่อ\d+\S+{year}\d\d:\d\dน\.", flat)  # the footer in BE
    assert not re.search(r"เมื่อ20\d\d-", flat)

    outbox = json.loads(daemon.cli("outbox", "list", "--json").stdout)
    assert outbox and all(item["created_at"].endswith("+07:00") for item in outbox)
    assert all(item["last_error"] is None for item in outbox if item["state"] == "done")
    held = daemon.cli("outbox", "list", "--state", "held")
    assert held.returncode == 0
