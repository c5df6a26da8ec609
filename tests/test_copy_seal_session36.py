"""A receive number read back from the folders counts only on a copy the gateway sealed.

Session 36's red team: the numbers read back at every start (gateway/service/numbering.py)
came from any message in a unit's folders, and those folders are mailboxes. One message
sent to the mailbox with `X-Saraban-Receive-No: 77777/2569` made the next letter 77778
(a gap written in the register's actions as numbers "given before the restore"); one
naming another unit and the year 2700 made the clock check refuse every letter from the
next start on. Now each copy carries `X-Saraban-Copy-Seal` (gateway/delivery/copy_seal.py)
and a copy without it is told in the log, never believed; after `backup restore` it holds
numbering until the operator has looked (it may be a copy filed before the seal)."""
from __future__ import annotations

import uuid

from gateway.config.settings import load_settings
from gateway.delivery.copy_seal import copy_seal, copy_seal_key, sealed_by_us
from gateway.delivery.numbers_seen import numbers_seen
from gateway.service.numbering import mark_restored
from gateway.units.directory import load_directory
from rules.thai_time import be_year, now_utc
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang"


def copy(n: int, year: int, unit: str = LAT, seal: str | None = None, queue_id: str | None = None) -> bytes:
    queue_id = queue_id or uuid.uuid4().hex[:24]
    head = (f"From: someone@example.org\nX-Saraban-Receive-No: {n}/{year}\nX-Saraban-Unit: {unit}\n"
            f"X-Saraban-Book: general\nX-Saraban-Queue-Id: {queue_id}\n")
    if seal is not None:
        head += f"X-Saraban-Copy-Seal: {seal}\n"
    return (head + "Subject: x\n\nhello\n").encode()


def drop(folder, name: str, data: bytes) -> None:
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "new" / name).write_bytes(data)


def test_only_sealed_copies_raise_a_counter(tmp_path):
    settings = load_settings(write_config(tmp_path))
    key = copy_seal_key(settings.data_dir)
    year = be_year(now_utc())
    folder = settings.folders_dir / "latkrabang"
    ours = uuid.uuid4().hex[:24]
    drop(folder, "1.a", copy(3, year, seal=copy_seal(key, LAT, "general", f"3/{year}", ours), queue_id=ours))
    drop(folder, "2.b", copy(77777, year))  # no seal: a message sent to the mailbox
    drop(folder, "3.c", copy(900, year, seal=copy_seal(b"k" * 32, LAT, "general", f"900/{year}", "q" * 24),
                              queue_id="q" * 24))  # sealed under another key
    forged = copy_seal(key, LAT, "general", f"3/{year}", ours)
    drop(folder, "4.d", copy(5000, year, seal=forged, queue_id=ours))  # our seal, on another number
    drop(folder, "5.e", copy(5000, 2700, unit="saraban.dindaeng"))
    seen = numbers_seen(settings, load_directory(settings.directory_path), 100)
    assert seen.highest == {(LAT, "general", year): 3}
    assert seen.unsealed[(LAT, "general", year)][0] == 77777
    assert seen.unsealed[("saraban.dindaeng", "general", 2700)][0] == 5000
    assert sealed_by_us(key, forged, LAT.upper(), "general", f"3/{year}", ours)  # as the header reads it back
    assert not sealed_by_us(key, forged, LAT, "general", f"4/{year}", ours)


def test_a_forged_copy_in_a_folder_changes_no_number_and_stops_no_mail(tmp_path):
    d = Daemon(write_config(tmp_path / "gw"))
    year = be_year(now_utc())
    d.start()
    try:
        assert d.data_reply(letter(subject="first", files=[("a.pdf", make_pdf("a"))]))[0] == 250
        d.wait_for(lambda: len(d.maildir_files("latkrabang")) == 1, timeout=60, what="first filed")
    finally:
        d.stop()
    folder = d.data_dir / "folders" / "latkrabang"
    drop(folder, "1700000000.forged1.host", copy(77777, year))
    drop(folder, "1700000000.forged2.host", copy(5000, 2700, unit="saraban.dindaeng"))
    d.start()
    try:
        assert d.data_reply(letter(subject="second", files=[("b.pdf", make_pdf("b"))]))[0] == 250
        d.wait_for(lambda: len(d.maildir_files("latkrabang")) == 4, timeout=60, what="second filed")  # and the 2 forged
        numbers = sorted(r["receive_no"] for r in d.register())
        assert numbers == [f"1/{year}", f"2/{year}"]
        claimed = [e for e in d.wait_for_event("numbers_claimed_without_seal", timeout=10)
                   if e.get("event") == "numbers_claimed_without_seal"]
        assert {(e["unit"], e["claimed"]) for e in claimed} >= {(LAT, 77777), ("saraban.dindaeng", 5000)}
        assert not [e for e in d.events() if e.get("event") == "numbers_given_before_restore"]
    finally:
        d.stop()


def test_after_a_restore_an_unsealed_claim_holds_numbering_until_confirmed(tmp_path):
    d = Daemon(write_config(tmp_path / "gw"))
    year = be_year(now_utc())
    d.data_dir.mkdir(parents=True, exist_ok=True)
    drop(d.data_dir / "folders" / "latkrabang", "1700000000.old.host", copy(12, year))  # filed before the seal
    mark_restored(d.data_dir, "backup.tar")
    d.start()
    try:
        d.wait_for(lambda: d.status_here()["numbering"].get("state") == "held", timeout=30, what="held")
        detail = d.status_here()["numbering"]["detail"]
        assert "without the gateway's seal" in detail and f"12/{year}" in detail
        assert d.data_reply(letter(subject="waits", files=[("c.pdf", make_pdf("c"))]))[0] == 250  # accepted, waits
        assert d.register() == []
        d.cli("backup", "confirm-numbers", "--reason", "a copy filed before the seal; start_numbers set past it")
    finally:
        d.stop()
    d.start()
    try:
        d.wait_for(lambda: len(d.register()) == 1, timeout=60, what="numbered after confirm-numbers")
        assert d.register()[0]["receive_no"] == f"1/{year}"
    finally:
        d.stop()
