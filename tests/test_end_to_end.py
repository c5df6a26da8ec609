"""One letter from SMTP to the unit's folder, as the central unit sees it."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib

from tests.letters import SEED_SUBJECT, letter, make_pdf


def test_letter_is_registered_and_filed_with_its_receive_number(daemon):
    cover = make_pdf("cover letter", filler=200_000)
    enclosure = make_pdf("enclosure 1")
    raw = letter(files=[("2569_dds_0403_57.pdf", cover), ("2569_dds_0403_57_1.pdf", enclosure)])
    queue_id = daemon.send(raw, "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()

    [entry] = daemon.register("--unit", "saraban.latkrabang")
    year_be = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).year + 543
    assert entry["unit"] == "saraban.latkrabang"
    assert (entry["book"], entry["year"], entry["number"]) == ("general", year_be, 1)
    assert entry["received_at"].endswith("+07:00")
    assert entry["sender"] == "saraban.dds@bangkok.go.th"
    assert entry["subject"] == SEED_SUBJECT
    assert entry["message_id"].endswith("@dds.bangkok.go.th>")
    assert entry["queue_id"] == queue_id
    files = {a["filename"]: a for a in entry["attachments"]}
    assert files["2569_dds_0403_57.pdf"] == {
        "filename": "2569_dds_0403_57.pdf",
        "sha256": hashlib.sha256(cover).hexdigest(),
        "size": len(cover),
        "content_type": "application/pdf",
        "declared_type": "application/pdf",
        "signatures": [],
    }
    assert files["2569_dds_0403_57_1.pdf"]["sha256"] == hashlib.sha256(enclosure).hexdigest()

    # The vault holds the attachment byte for byte, under its hash, not its name.
    sha = hashlib.sha256(cover).hexdigest()
    assert (daemon.data_dir / "vault" / sha[:2] / sha[2:4] / sha).read_bytes() == cover

    [copy_path] = daemon.maildir_files("latkrabang")
    copy = email.message_from_bytes(copy_path.read_bytes(), policy=email.policy.default)
    receive_no = f"1/{year_be}"
    assert copy["X-Saraban-Receive-No"] == receive_no
    assert copy["X-Saraban-Unit"] == "saraban.latkrabang"
    assert copy["Subject"] == f"[รับ {receive_no}] {SEED_SUBJECT}"
    pdfs = [p.get_content() for p in copy.iter_attachments()]
    assert cover in pdfs and enclosure in pdfs  # the clerk opens the same bytes


def test_numbers_run_per_unit_and_follow_arrival(daemon):
    for _ in range(3):
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
    daemon.send(letter(), "saraban.pomprap@bangkok.go.th")
    daemon.wait_idle()
    numbers = [(e["unit"], e["number"]) for e in daemon.register()]
    assert sorted(numbers) == [("saraban.latkrabang", 1), ("saraban.latkrabang", 2),
                               ("saraban.latkrabang", 3), ("saraban.pomprap", 1)]
    lat = daemon.register("--unit", "saraban.latkrabang")
    received = [e["received_at"] for e in lat]
    assert received == sorted(received)  # number order is arrival order


def test_cut_over_start_number_from_configuration(daemon_factory):
    year_be = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).year + 543
    d = daemon_factory(extra=f'[register.start_numbers]\n"saraban.latkrabang" = {{ {year_be} = 1572 }}\n').start()
    d.send(letter(), "saraban.latkrabang@bangkok.go.th")
    d.send(letter(), "saraban.latkrabang@bangkok.go.th")
    d.send(letter(), "saraban.dindaeng@bangkok.go.th")
    d.wait_idle()
    got = sorted((e["unit"], e["number"]) for e in d.register())
    assert got == [("saraban.dindaeng", 1), ("saraban.latkrabang", 1572), ("saraban.latkrabang", 1573)]


def test_resent_message_id_from_same_sender_is_not_registered_twice(daemon):
    raw = letter(message_id="<resend-1@dds.bangkok.go.th>")
    daemon.send(raw, "saraban.latkrabang@bangkok.go.th")
    daemon.send(raw, "saraban.latkrabang@bangkok.go.th")  # the sender's MTA retried
    daemon.wait_idle()
    assert len(daemon.register()) == 1
    assert len(daemon.maildir_files("latkrabang")) == 1
    # A different sender reusing the Message-ID is a different letter.
    other = letter(message_id="<resend-1@dds.bangkok.go.th>", sender="saraban.pomprap@bangkok.go.th")
    daemon.send(other, "saraban.latkrabang@bangkok.go.th", sender="saraban.pomprap@bangkok.go.th")
    daemon.wait_idle()
    assert len(daemon.register()) == 2


def test_register_list_table_is_readable(daemon):
    daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()
    out = daemon.cli("register", "list").stdout
    assert "เลขรับ" in out and "saraban.latkrabang" in out and SEED_SUBJECT[:20] in out
    assert "1 letter(s)" in out


def test_status_counts_states(daemon):
    daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
    status = daemon.wait_idle()
    assert status["messages"] == {"done": 1}
    assert status["letters"] == 1
    assert status["outbox"]["folder"] == {"done": 1}
    text = daemon.cli("status").stdout
    assert "spool      pending 0" in text


def test_logs_are_json_events_with_queue_id_unit_and_receive_number(daemon):
    queue_id = daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()
    events = daemon.events()
    registered = [e for e in events if e.get("event") == "registered"]
    assert registered and registered[0]["queue_id"] == queue_id
    assert registered[0]["unit"] == "saraban.latkrabang"
    assert registered[0]["receive_no"].startswith("1/")
    assert not [e for e in events if e.get("event") == "non_json_line"]
