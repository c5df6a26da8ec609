"""What a person types about a classified letter at the desk is sealed as the letter is
(red team of 7 Dec 2026, docs/secrecy.md "Words typed about a classified letter").

A secret registrar's note on a ลับ letter, the reason for cancelling its number, and
the reasons for releasing or rejecting a held ลับ letter may all quote the letter. They
were stored in plain in `letter_notes` and `operator_actions` (and so in the SQLite
file, its WAL and a PostgreSQL dump), written into the daemon's log by `record_action`
(`quarantine_rejected reason=...`), and the rejection's reason was shown to the unit's
clerks on the held entry's page. Each now reaches the database sealed to the gateway
key, the log says "(sealed)", and the registrar reads it after the audited
เปิดดูเนื้อหา, with the letter."""
from __future__ import annotations

import html
import os
import re
import subprocess

import pytest

from tests.classified.helpers import files_containing, log_lines_containing
from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
# What the registrar types, each quoting the letter: an ASCII marker (found whatever the
# encoding, JSON's \\u escapes included) and Thai words a clerk would copy from it.
NOTE = "ส่งต่อผู้อำนวยการ: แผนอพยพท่าอากาศยานหนองงูเห่า NOTE7QX"
CANCEL = "ลงซ้ำกับแผนอพยพท่าอากาศยานหนองงูเห่า CANCEL7QX"
RELEASE = "ตรวจแล้ว แผนกำลังพลหน่วยคุ้มกันสุวรรณภูมิ RELEASE7QX"
REJECT = "ไม่รับ แผนกำลังพลหน่วยคุ้มกันสุวรรณภูมิ ไม่ครบ REJECT7QX"
MARKERS = ("NOTE7QX", "CANCEL7QX", "RELEASE7QX", "REJECT7QX")
THAI = ("ท่าอากาศยานหนองงูเห่า", "หน่วยคุ้มกันสุวรรณภูมิ")


def _held(tag: str) -> bytes:
    # A file of a type the unit does not take: held, and sealed for being ลับ.
    return letter(subject=f"ลับ แผนงาน {tag}", body=f"ลับ\nเรื่อง แผนงาน {tag}\n",
                  files=[(f"{tag}.html", f"<html>{tag}</html>".encode())])


SECRET = letter(subject="ลับ แผนรักษาความปลอดภัย SEALEDTXT", body="ลับ\nเรื่อง แผนรักษาความปลอดภัย SEALEDTXT\n",
                files=[("2569_dds_0407_57.pdf", make_pdf("ลับ cover SEALEDTXT"))])


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("stclerk", "clerk", "saraban.latkrabang"), ("streg", "registrar", "saraban.latkrabang"))
    letters = ((SECRET, LAT), (_held("HELDONE"), LAT), (_held("HELDTWO"), LAT))
    with running_desk(tmp_path_factory.mktemp("sealed_texts"), users, letters) as desk:
        yield desk


def seen(answer) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


def test_what_the_registrar_types_on_a_classified_letter_is_sealed_everywhere(desk: Desk):
    [(letter_id, number, year)] = desk.db("SELECT id, number, year FROM letters WHERE book = 'secret'")
    held = dict(desk.db("SELECT queue_id, id FROM quarantine WHERE state = 'held' ORDER BY id"))
    assert len(held) == 2, held
    first, second = sorted(held.values())
    registrar, clerk = signed_in(desk.url, "streg"), signed_in(desk.url, "stclerk")

    assert registrar.post(f"/letters/{letter_id}/note", {"note": NOTE, "seen": "0"}).status == 303
    # The same note sent twice (a double click) is still kept once, sealed or not.
    assert registrar.post(f"/letters/{letter_id}/note", {"note": NOTE, "seen": "0"}).status == 303
    assert desk.db("SELECT count(*) FROM letter_notes WHERE letter_id = ?", letter_id) == [(1,)]
    assert registrar.post(f"/letters/{letter_id}/cancel", {"reason": CANCEL}).status == 303
    released = registrar.post("/quarantine", [("id", str(first)), ("action", "release"), ("reason", RELEASE)])
    rejected = registrar.post("/quarantine", [("id", str(second)), ("action", "reject"), ("reason", REJECT)])
    assert released.status == 200 and rejected.status == 200, (released.outcomes(), rejected.outcomes())
    assert desk.db("SELECT state FROM quarantine ORDER BY id") == [("released",), ("rejected",)]
    desk.daemon.wait_idle(120)

    # Nowhere on disk in plain (the SQLite file and its WAL included), nowhere in the log.
    data_dir = desk.daemon.data_dir
    for word in MARKERS + THAI:
        assert files_containing(data_dir, word) == [], word
        assert log_lines_containing(desk.daemon, word) == [], word
    stored = desk.db("SELECT text FROM letter_notes") + desk.db(
        "SELECT reason FROM operator_actions WHERE action IN "
        "('letter_note_added', 'register_cancelled', 'quarantine_released', 'quarantine_rejected')")
    assert [value for (value,) in stored if value] and all(
        value.startswith("sgv1:") for (value,) in stored if value), stored
    # The log says a reason was given, not what it was.
    assert any("quarantine_rejected" in line and "sealed" in line
               for line in desk.daemon.log_path.read_text(errors="replace").splitlines())

    # The clerk, who may not read the letter, sees that a reason is sealed, not the reason.
    for qid in (first, second):
        page = seen(clerk.get(f"/quarantine/{qid}"))
        assert "ปิดผนึกไว้" in page and not any(m in page for m in MARKERS), page[-600:]
    # The registrar's register and the letter's page before เปิดดูเนื้อหา: sealed too.
    book = seen(registrar.get(f"/secret?unit=saraban.latkrabang&year={year}"))
    assert f"{number}" in book and "ยกเลิก" in book and "ปิดผนึกไว้" in book and "CANCEL7QX" not in book
    closed = seen(registrar.get(f"/letters/{letter_id}"))
    assert "ปิดผนึกไว้" in closed and not any(m in closed for m in MARKERS)

    # Opened with the letter, under the audit entry that opening writes.
    opened = registrar.post(f"/letters/{letter_id}/reveal", {"confirm": "yes"})
    assert opened.status == 200
    page = seen(opened)
    assert NOTE in page and CANCEL in page, page[-1500:]
    released_letter = desk.db("SELECT letter_id FROM operator_actions WHERE action = 'quarantine_released'")[0][0]
    page = seen(registrar.post(f"/letters/{released_letter}/reveal", {"confirm": "yes"}))
    assert RELEASE in page, page[-1500:]


def test_the_command_line_shows_a_sealed_reason_as_sealed(desk: Desk):
    [(qid,)] = desk.db("SELECT id FROM quarantine WHERE state = 'rejected'")
    shown = desk.daemon.cli("quarantine", "show", str(qid))
    text = shown if isinstance(shown, str) else shown.stdout
    assert "quarantine_rejected" in text and "(sealed: classified)" in text and "REJECT7QX" not in text
    assert "sgv1:" not in text


@pytest.mark.postgres
def test_a_postgresql_dump_holds_no_typed_word(postgres_cluster, tmp_path):
    from tests.classified.helpers import add_registrar, make_gateway_key
    from tests.daemon import Daemon, write_config
    from tests.servers.postgres import find_bindir
    from tests.web.conftest import add_users

    name = f"sealed_texts_{os.getpid()}"
    url = postgres_cluster.create_database(name)
    config = write_config(tmp_path, database_url=url, extra="[web]\nenabled = true\nport = 0\n")
    daemon = Daemon(config)
    try:
        make_gateway_key(daemon)
        add_registrar(daemon, "saraban.latkrabang", "lat registrar")
        add_users(config, ("pgreg", "registrar", "saraban.latkrabang"))
        daemon.start()
        daemon.send(SECRET, LAT)
        daemon.send(_held("HELDPG"), LAT)
        daemon.wait_idle(120)
        registrar = signed_in(f"http://127.0.0.1:{daemon.web_port}", "pgreg")
        with __import__("psycopg").connect(postgres_cluster.conninfo(name)) as con:
            [(letter_id,)] = con.execute("SELECT id FROM letters WHERE book = 'secret'").fetchall()
            [(qid,)] = con.execute("SELECT id FROM quarantine WHERE state = 'held'").fetchall()
        assert registrar.post(f"/letters/{letter_id}/note", {"note": NOTE, "seen": "0"}).status == 303
        assert registrar.post(f"/letters/{letter_id}/cancel", {"reason": CANCEL}).status == 303
        assert registrar.post("/quarantine", [("id", str(qid)), ("action", "reject"), ("reason", REJECT)]).status == 200
        dump = subprocess.run([str(find_bindir() / "pg_dump"), "--data-only", "--no-owner",
                               "-d", postgres_cluster.conninfo(name)], capture_output=True, timeout=120)
        assert dump.returncode == 0, dump.stderr
        assert b"sgv1:" in dump.stdout  # the words are there, sealed
        for word in ("NOTE7QX", "CANCEL7QX", "REJECT7QX") + THAI:
            assert word.encode() not in dump.stdout, word
        assert registrar.post(f"/letters/{letter_id}/reveal", {"confirm": "yes"}).text.count("NOTE7QX") == 1
    finally:
        daemon.stop()
        postgres_cluster.drop_database(name)


def test_the_registrar_reads_a_sealed_rejection_reason_with_the_held_letters_details(desk: Desk):
    # Sealed, the reason was readable nowhere: the held entry's page said "(sealed)" to its
    # own registrar too, and a rejected letter has no page to open it on.
    [(qid,)] = desk.db("SELECT id FROM quarantine WHERE state = 'rejected'")
    registrar, clerk = signed_in(desk.url, "streg"), signed_in(desk.url, "stclerk")
    page = seen(registrar.get(f"/quarantine/{qid}"))
    assert "(เหตุผลปิดผนึกไว้: ลับ)" in page and "REJECT7QX" not in page
    opened = registrar.post(f"/quarantine/{qid}/details", {"confirm": "yes"})
    assert opened.status == 200 and REJECT in seen(opened)
    audit = (desk.daemon.data_dir / "audit" / "audit.log").read_text()
    assert f'"letter_id": "quarantine {qid}"' in audit.replace('":"', '": "') and "view_held" in audit
    assert clerk.post(f"/quarantine/{qid}/details", {"confirm": "yes"}).status == 404
    assert "REJECT7QX" not in seen(clerk.get(f"/quarantine/{qid}"))
