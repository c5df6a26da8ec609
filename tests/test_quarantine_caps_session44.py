"""Session 44: what a quarantine entry stores of its reasons is bounded. A hostile
letter of 450 tiny files, each a program named with 200 Thai letters (one reason a
file, the name in it five times), made one entry of 3.2 MB that every `quarantine list`, the
desk's held list and `reprocess` read again, a `quarantine list --json` of 1.7 MB, a
`quarantine show` of 1,366 lines, and a log line naming 450 rules. The letter itself is
kept whole: a release registers all of it. (Past 500 parts a letter is not read to the
end and is held as possibly classified: gateway/pipeline/parse.py MAX_PARTS.)"""
from __future__ import annotations

import json

from tests.letters import letter, make_pdf

COVER = "2569_dds_0403_57.pdf"
FILES = 450
NAME = "ก" * 200
EXE = b"MZ\x90\x00"


def test_a_letter_of_450_refused_long_named_files_is_held_with_its_reasons_bounded(daemon):
    files = [(COVER, make_pdf("cover letter"))] + [(f"{i:03d}_{NAME}.exe", EXE) for i in range(FILES)]
    queue_id = daemon.send(letter(files=files), "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle(240)

    listed = daemon.cli("quarantine", "list", "--json").stdout
    [entry] = json.loads(listed)
    assert entry["queue_id"] == queue_id
    reasons = entry["reasons"]
    # The first 200 reasons, each name kept at its start and its end, then one reason
    # that counts the rest, in Thai and English.
    assert len(reasons) == 201, len(reasons)
    assert [r["rule"] for r in reasons[:200]] == ["executable"] * 200
    assert all(len(r["message_th"]) <= 500 and len(r["attachment"] or "") <= 500 for r in reasons)
    assert "000_" + "ก" * 50 in reasons[0]["message_th"] and ".exe" in reasons[0]["attachment"]
    assert "ก" * 150 not in listed
    left = reasons[-1]
    assert left["rule"] == "reasons_left_out" and left["left_out"] == FILES - 200
    assert left["message_th"].startswith("และเหตุอื่นอีก 250 รายการ")
    assert left["message_en"].startswith("and 250 more reasons")
    assert len(listed.encode()) < 500_000, len(listed.encode())  # was 1.7 MB
    # In SQLite, Thai as UTF-8 (3 bytes a letter), not as \uXXXX (6): 0.75 MB in session 44.
    import sqlite3

    with sqlite3.connect(daemon.data_dir / "saraban.db") as db:
        [(stored,)] = db.execute("select length(cast(reasons as blob)) from quarantine").fetchall()
    assert stored < 500_000, stored

    table = daemon.cli("quarantine", "list").stdout
    assert len(table) < 2_000 and "(และอีก 449 เหตุ)" in table, table

    shown = daemon.cli("quarantine", "show", str(entry["id"])).stdout
    assert len(shown.encode()) < 500_000, len(shown.encode())
    assert left["message_th"] in shown and left["message_en"] in shown
    assert f"and {FILES + 1 - 200} more files" in shown

    # The log's line of the hold names each rule that held it once, and counts the reasons
    # (session 45's line named "executable" 200 times).
    [held] = [e for e in daemon.events() if e.get("event") == "quarantined"]
    assert held["reasons"].count("executable") == 1 and len(held["reasons"]) <= 3, held["reasons"]
    assert held["reason_count"] == FILES

    # Released, the whole letter is registered: every file, not the 200 the entry named.
    daemon.cli("quarantine", "release", str(entry["id"]), "--reason", "ตรวจแล้ว ส่งต่อให้ฝ่ายปกครอง")
    daemon.wait_idle(240)
    [registered] = [e for e in daemon.register() if e["queue_id"] == queue_id]
    assert registered["receive_no"] and len(registered["attachments"]) == FILES + 1
    assert sum(f["rule"] == "executable" for f in registered["findings"]) == FILES
