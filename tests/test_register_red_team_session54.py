"""The receive register as a legal record: session 54's red team (area "register")."""
from __future__ import annotations

import csv

import pytest

from gateway.intake.clock_guard import EARLIEST_YEAR
from tests.letters import letter, make_pdf
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
HEADER = ["เลขทะเบียนฉุกเฉิน", "วันเวลาที่รับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "หมายเหตุ", "ไฟล์สแกน"]


def _book(folder, when):
    (folder / "scan1.pdf").write_bytes(make_pdf("scanned letter"))
    path = folder / "emergency.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerow(["กท 0403 / ฉ 001", when, "กท 0401/123", "", "สำนักการคลัง", "", "ขอส่งรายงาน", "",
                         "scan1.pdf"])
    return path


@pytest.mark.parametrize("when, year_read", [
    ("5/3/26 10.30", 2526),  # a clerk writing the Christian year's two figures: read as พ.ศ. 2526
    ("5 มี.ค. 2559 10.30 น.", 2559),  # a slip of one figure (2559 for 2569)
])
def test_emergency_import_refuses_a_time_received_before_the_gateway_ran(daemon, tmp_path, when, year_read):
    year = this_be_year()
    daemon.send(letter(), LAT)
    daemon.wait_for(lambda: len(daemon.register()) == 1, what="the first letter registered")
    book = _book(tmp_path, when)
    out = daemon.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang",
                     "--reason", "ระบบล่ม", check=False)
    # Before: "1 new", registered 1/2526 (a register of 43 years ago opened, its book
    # printed "พ.ศ. 2526", the letter dated 5 มี.ค. 2526 in the legal record).
    said = out.stdout + out.stderr
    assert out.returncode == 1, said
    # The row, its year as read, and the first year of the register, in English and Thai.
    assert "nothing imported" in said and "ยังไม่ได้บันทึกรายการใด" in said, said
    assert f"line 2: received_at (วันเวลาที่รับ) \"{when}\" is read as พ.ศ. {year_read}, before the register " \
           f"began (พ.ศ. {EARLIEST_YEAR})" in said, said
    assert f"แถวที่ 2: วันเวลาที่รับ \"{when}\" อ่านได้เป็นปี พ.ศ. {year_read}" in said, said
    assert "Traceback" not in said
    entries = daemon.register("--unit", "saraban.latkrabang")
    assert [(e["number"], e["year"]) for e in entries] == [(1, year)]
    listed = daemon.cli("register", "list", "--unit", "saraban.latkrabang", "--year", str(year_read), "--json",
                        check=False)
    assert year_read not in [e.get("year") for e in _json_or_empty(listed.stdout)]


def _json_or_empty(text):
    import json
    try:
        return json.loads(text)
    except ValueError:
        return []


def test_confirm_numbers_is_recorded_with_who_and_why(tmp_path):
    """`backup confirm-numbers` is the operator's word that the receive numbers given
    since the backup are accounted for (a unit's folder lost with the old machine), and
    numbering goes on past them. Until session 54 it took no reason and left no trace
    in the register's actions: when a number filed in the lost folder came back on a
    second letter, nobody could answer who let numbering go on, when, or on what grounds."""
    from gateway.tools.backup import RESTORED
    from storage.db import Database
    from storage.models import OperatorAction
    from sqlalchemy import select
    from tests.daemon import Daemon, write_config
    from tests.tools_helpers import backed_up_then_numbered

    year = this_be_year()
    archive = backed_up_then_numbered(tmp_path, after=2)  # 2/ and 3/ filed in the old folders only
    # check_retry: the folders read again every 0.3 s, not the default 30 s (this test is
    # about the confirmation and its record, not how often a held numbering looks again).
    fresh = write_config(tmp_path / "new", extra="[register]\ncheck_retry = 0.3\n"
                         "[register.start_numbers]\n\"saraban.latkrabang\" = { %d = 4 }\n" % year)
    new = Daemon(fresh)
    assert new.cli("backup", "restore", str(archive)).returncode == 0
    new.start()
    try:
        new.send(letter(), LAT)  # accepted, waits: the Maildir of Lat Krabang was not put back
        new.wait_for(lambda: new.status_here()["numbering"].get("state") == "held", timeout=30, what="held")

        refused = new.cli("backup", "confirm-numbers", check=False)
        assert refused.returncode == 2, refused
        assert "give a reason (--reason" in refused.stderr and "กรุณาระบุเหตุผล" in refused.stderr, refused.stderr
        assert (new.data_dir / RESTORED).exists()  # still held: nothing confirmed
        assert [e["receive_no"] for e in new.register()] == [f"1/{year}"]  # the backup's

        why = "โฟลเดอร์เก่าหาย ใบตอบรับล่าสุดคือ 3/%d จึงตั้ง start_numbers เป็น 4" % year
        done = new.cli("backup", "confirm-numbers", "--reason", why)
        assert "numbers_confirmed" in done.stdout, done.stdout
        entries = new.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(new.register()), timeout=60,
                               what="numbered after the confirmation")
        assert [e["receive_no"] for e in entries] == [f"1/{year}", f"4/{year}"]
    finally:
        new.stop()
    db = Database(f"sqlite:///{new.data_dir / 'saraban.db'}")
    try:
        with db.session() as session:
            [act] = session.scalars(select(OperatorAction).where(OperatorAction.action == "numbers_confirmed")).all()
            assert act.reason == why and act.who and act.at is not None
            assert act.details["archive"] == str(archive)
            assert "latkrabang" in act.details["held"] and "missing" in act.details["held"], act.details
            assert act.details["start_numbers"] == {"saraban.latkrabang": {str(year): 4}}
    finally:
        db.dispose()


def test_outbox_retry_and_notices_release_are_on_the_letters_record(daemon):
    """`outbox retry` and `notices release` are a person's acts on what a letter is owed
    (its copy filed again, an acknowledgement sent days late). The desk's retry left one
    action naming item ids; the two commands left none: `register show` could not say who
    had the copy filed again, or who let held acknowledgements go out, and when."""
    import os

    from tests.cli_fork import run_gateway

    year = this_be_year()
    blocked = daemon.data_dir / "folders" / "latkrabang"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_bytes(b"")  # a plain file where the Maildir goes: the copy fails until removed
    queue_id = daemon.send(letter(), LAT)
    daemon.wait_for(lambda: any(e.get("event") == "delivery_retry" and e.get("queue_id") == queue_id
                                for e in daemon.events()), 30, what="a failed folder copy")
    item = daemon.status_here()["retrying"]["folder"]
    retried = daemon.cli("outbox", "retry", str(item["id"]))  # (before the fix: the daemon's own retry is 0.2 s)
    assert f"1 item(s) queued for another attempt: {item['id']}" in retried.stdout
    blocked.unlink()
    daemon.wait_for(lambda: daemon.maildir_files("latkrabang"), 20, what="the copy filed after the retry")

    # No smarthost while the letter came: its acknowledgement is held; one is set now.
    released = run_gateway(["--config", str(daemon.config), "notices", "release"],
                           env=dict(os.environ, **daemon.env, SARABAN_SMARTHOST="127.0.0.1:9"))
    assert released.returncode == 0 and "released 1 held notice(s)" in released.stdout, released

    shown = daemon.cli("register", "show", "saraban.latkrabang", f"1/{year}").stdout
    acts = shown.split("actions:", 1)[-1] if "actions:" in shown else ""
    assert " outbox_retried by " in acts and " notices_released by " in acts, shown
    data = __import__("json").loads(daemon.cli("register", "show", "saraban.latkrabang", f"1/{year}",
                                               "--json").stdout)
    assert [(a["action"], a["details"].get("kind")) for a in data["actions"]] == [
        ("outbox_retried", "folder"), ("notices_released", "notice")]
    assert all(a["who"] for a in data["actions"])


def test_the_printed_register_accounts_for_the_numbers_given_before_a_restore(tmp_path):
    """After a restore the numbers given since the backup (read back from the folder)
    are a gap in the register: 2/ and 3/ were filed, the register holds 1/ and 4/.
    The gap's reason was only in the database's actions and the log: the printed book,
    its CSV and `register show 2/...` showed 1, 4 and "no receive number 2", a gapless
    legal register with a hole nobody could explain from it."""
    import json
    import shutil

    from pypdf import PdfReader

    from tests.daemon import Daemon, write_config
    from tests.tools_helpers import backed_up_then_numbered

    year = this_be_year()
    archive = backed_up_then_numbered(tmp_path, after=2)  # 1/ in the backup; 2/ and 3/ filed since
    new = Daemon(write_config(tmp_path / "new"))
    new.cli("backup", "restore", str(archive))
    shutil.move(tmp_path / "old" / "var" / "folders", new.data_dir / "folders")  # the newest folders, put back
    new.start()
    try:
        new.send(letter(subject="หลังกู้คืน"), LAT)
        new.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(new.register()), timeout=60, what="numbered")
        assert [e["receive_no"] for e in new.register()] == [f"1/{year}", f"4/{year}"]

        out = tmp_path / "lat.csv"
        new.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out))
        rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
        assert [r["เลขทะเบียนรับ"] for r in rows] == ["1", "2-3", "4"], rows
        gap = rows[1]
        assert gap["เลขรับ/ปี"] == f"2-3/{year}" and gap["สถานะ"] == "เลขที่ให้ไปก่อนกู้คืน"
        assert gap["เรื่อง"] == ("(เลขรับที่ให้ไปแล้วก่อนการกู้คืนฐานข้อมูลจากสำรอง ดูสำเนาหนังสือในโฟลเดอร์ของหน่วยงาน "
                                 "(Maildir latkrabang))")
        assert gap["หมายเหตุ"] == "เลขที่ให้ไปก่อนกู้คืน" and gap["จาก"] == "" and gap["รหัสคิว"] == ""

        book = tmp_path / "lat.pdf"
        printed = new.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(book))
        assert "wrote 2 entries" in printed.stdout  # the letters; the gap's row is no entry
        text = " ".join(page.extract_text() for page in PdfReader(book).pages)
        assert "2-3" in text and "2 รายการ" in text, text

        shown = new.cli("register", "show", "saraban.latkrabang", f"3/{year}", check=False)
        said = shown.stdout + shown.stderr
        assert shown.returncode == 1
        assert f"3/{year} of saraban.latkrabang was given before the register was restored from a backup" in said
        assert "Maildir latkrabang" in said and "ให้ไปแล้วก่อนการกู้คืนฐานข้อมูลจากสำรอง" in said, said
        missing = new.cli("register", "show", "saraban.latkrabang", f"9/{year}", check=False)
        assert "has no receive number 9/" in missing.stdout + missing.stderr  # a number never given: as before
    finally:
        new.stop()


def test_an_emergency_row_corrected_after_its_entry_was_cancelled_is_imported(daemon, tmp_path):
    """A clerk imported a paper letter with its subject typed wrong (or the wrong scan),
    cancelled the entry as the register requires (its number stays), corrected the row
    and imported the book again. The emergency number's one queue id was taken for good:
    "already imported as 1/2569" for the wrong scan, a clash ("check the number written
    on this row") for the subject, and the corrected letter could never be registered."""
    import json

    year = this_be_year()

    def book(subject, scan_text):
        (tmp_path / "scan1.pdf").write_bytes(make_pdf(scan_text))
        path = tmp_path / "emergency.csv"
        with open(path, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            writer.writerow(["กท 0403 / ฉ 001", f"{year}-01-01 00:01", "กท 0401/123", "", "สำนักการคลัง", "",
                             subject, "", "scan1.pdf"])
        return str(path)

    def imported(path):
        return daemon.cli("register", "import-emergency", path, "--unit", "saraban.latkrabang",
                          "--reason", "ระบบล่ม").stdout

    assert f"registered 1/{year}" in imported(book("ขอส่งรายงานการเงนิ", "scan of the letter"))  # a typo
    daemon.cli("register", "cancel", "saraban.latkrabang", f"1/{year}", "--reason", "พิมพ์เรื่องผิด")
    # The same row again: the cancelled entry, said as such; nothing new.
    again = imported(book("ขอส่งรายงานการเงนิ", "scan of the letter"))
    assert f"already imported as 1/{year} (cancelled, ยกเลิกแล้ว" in again and "0 new" in again, again

    fixed = imported(book("ขอส่งรายงานการเงิน", "scan of the letter"))
    assert f"กท 0403 / ฉ 001  ->  registered 2/{year} (in place of the cancelled 1/{year})" in fixed, fixed
    assert f"already imported as 2/{year}" in imported(book("ขอส่งรายงานการเงิน", "scan of the letter"))

    # The right subject, the wrong scan: cancelled, the scan replaced, imported as 3.
    daemon.cli("register", "cancel", "saraban.latkrabang", f"2/{year}", "--reason", "แนบไฟล์สแกนผิด")
    rescanned = imported(book("ขอส่งรายงานการเงิน", "the right scan"))
    assert f"registered 3/{year} (in place of the cancelled 2/{year})" in rescanned, rescanned

    entries = daemon.register("--unit", "saraban.latkrabang")
    assert [(e["receive_no"], e["status"], e["subject"]) for e in entries] == [
        (f"1/{year}", "cancelled", "ขอส่งรายงานการเงนิ"), (f"2/{year}", "cancelled", "ขอส่งรายงานการเงิน"),
        (f"3/{year}", "registered", "ขอส่งรายงานการเงิน")]
    shown = json.loads(daemon.cli("register", "show", "saraban.latkrabang", f"3/{year}", "--json").stdout)
    assert shown["emergency_no"] == "กท 0403 / ฉ 001"
    assert shown["actions"][0]["details"]["replaces"] == f"2/{year}"
    out = tmp_path / "lat.csv"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out))
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert f"แทนเลขรับ 2/{year} ที่ยกเลิก" in rows[2]["หมายเหตุ"] and "ยกเลิก (แนบไฟล์สแกนผิด)" in rows[1]["หมายเหตุ"]


def test_reprocess_numbers_nothing_while_numbering_is_held_after_a_restore(tmp_path):
    """After `backup restore` numbering waits until the folders show the numbers given
    since the backup. `quarantine release` and the emergency import refuse meanwhile;
    `reprocess`, which runs the pipeline in the command itself, did not: a letter held
    before the backup and reprocessed after the restore took 2/2569, the number of a
    letter already filed and acknowledged since the backup."""
    import json

    from tests.daemon import Daemon, write_config

    year = this_be_year()
    strict = '[rules.unit_policy]\n"saraban.latkrabang" = { naming = "reject" }\n'
    old = Daemon(write_config(tmp_path / "old", extra=strict)).start()
    try:
        good = [("2565_dds_0407_57.pdf", make_pdf("named as the rule asks"))]
        old.send(letter(files=good), LAT)  # 1/
        held = old.send(letter(subject="ชื่อไฟล์ผิด", files=[("scan0001.pdf", make_pdf("held"))]), LAT)
        old.wait_idle()
        archive = tmp_path / "backup" / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
        old.send(letter(files=good), LAT)  # 2/, filed in the old Maildir only
        old.wait_idle()
        assert [e["receive_no"] for e in old.register()] == [f"1/{year}", f"2/{year}"]
    finally:
        old.stop()

    new = Daemon(write_config(tmp_path / "new"))  # the unit's policy relaxed meanwhile
    new.cli("backup", "restore", str(archive))
    # The old folders not put back yet: numbering is held.
    out = new.cli("reprocess", held, "--reason", "นโยบายเปลี่ยน", check=False)
    said = out.stdout + out.stderr
    assert out.returncode == 1, said
    assert "the register was restored from a backup and the receive numbers given since are not yet read back" in said
    assert "ฐานข้อมูลทะเบียนเพิ่งกู้คืนจากสำรอง" in said and "Traceback" not in said
    assert [e["receive_no"] for e in new.register()] == [f"1/{year}"]  # 2/ not given a second time
    still = json.loads(new.cli("quarantine", "list", "--json").stdout)
    assert [q["queue_id"] for q in still] == [held]  # left as it was


def test_a_late_cut_over_number_is_written_where_the_numbers_are_missing(tmp_path):
    """The gateway numbered 1 and 2 before the operator set the previous system's last
    number as the cut-over ([register.start_numbers] 1500): the next letter is 1500 (a
    floor since session 16), and 3-1499 were missing from the book without a word: no
    action, no row, `register show 700/...` "no receive number"."""
    from tests.daemon import Daemon, write_config

    year = this_be_year()
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        d.send(letter(), LAT)
        d.send(letter(), LAT)
        d.wait_for(lambda: len(d.register()) == 2, what="1 and 2")
    finally:
        d.stop()
    d = Daemon(write_config(tmp_path / "gw", extra='[register.start_numbers]\n"saraban.latkrabang" = { %d = 1500 }\n'
                            % year)).start()
    try:
        d.send(letter(), LAT)
        d.send(letter(), LAT)
        d.wait_for(lambda: len(d.register()) == 4, what="1500 and 1501")
        assert [e["number"] for e in d.register()] == [1, 2, 1500, 1501]
        out = tmp_path / "lat.csv"
        d.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(year), "-o", str(out))
        rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
        assert [r["เลขทะเบียนรับ"] for r in rows] == ["1", "2", "3-1499", "1500", "1501"]
        assert rows[2]["เรื่อง"] == "(เลขรับของระบบเดิม ตั้งเลขเริ่มต้น [register.start_numbers] หลังทะเบียนปีนี้เริ่มแล้ว)"
        assert rows[2]["สถานะ"] == rows[2]["หมายเหตุ"] == "เลขของระบบเดิม"
        shown = d.cli("register", "show", "saraban.latkrabang", f"700/{year}", check=False)
        assert shown.returncode == 1
        assert (f"700/{year} of saraban.latkrabang is a number of the previous system: the cut-over number "
                "([register.start_numbers]) was set after this year's register had begun, from 1500") in shown.stderr
    finally:
        d.stop()
