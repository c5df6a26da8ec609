"""A restore never gives a receive number twice (session 19).

The register put back from an older backup holds the backup's counters; the numbers
given since are on the copies filed in the units' folders (IMAP on Dovecot, Maildir).
Before session 19 the restored gateway gave those numbers again to new letters (two
letters under one เลขรับ), and a letter that was in the spool when the backup was
taken, registered and filed after it, was filed a second time. Now the gateway reads
the numbers back from the folders before it numbers a letter, skips those given
(a gap the register's actions explain), enters such a letter again under its own
number, and, after `backup restore`, numbers nothing while a folder cannot be read.

One scenario, through the real parts: the daemon over SMTP, `backup create` while it
runs, `backup restore` into an empty data directory, Dovecot (saraban.latkrabang files
into IMAP) and a Maildir (saraban.pomprap) kept outside the data directory, as a
deployment keeps its folders on the mail server's disk."""
from __future__ import annotations

import datetime as dt
import email
import os
import sqlite3
import time

import pytest
from sqlalchemy import select

from gateway.delivery.copy_seal import copy_seal, copy_seal_key
from gateway.config.settings import load_settings
from gateway.delivery.numbers_seen import numbers_seen
from gateway.service.numbering import check_numbers
from gateway.units.directory import load_directory
from rules.thai_time import be_year
from storage.db import Database
from storage.models import Message, OperatorAction
from storage.register import NewLetter, raise_counters, register_letter
from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, folder_messages, set_delivery_key
from tests.letters import letter
from tests.tools_helpers import cli, this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
POM = "saraban.pomprap@bangkok.go.th"


def _config(path, dovecot, user, password, folders):
    """Saraban.latkrabang files into IMAP, the others into Maildirs under `folders`
    (None: the data directory's own)."""
    config = write_config(path, extra="[register]\ncheck_retry = 0.3\n" + delivery_config(dovecot, user, password))
    if folders is not None:
        set_delivery_key(config, f'folders_dir = "{folders}"')
    return config


def _numbers(entries, unit):
    return [e["number"] for e in entries if e["unit"] == unit]


def _maildir_numbers(folder):
    out = []
    for sub in ("new", "cur"):
        for path in sorted((folder / sub).glob("*")):
            out.append(email.message_from_bytes(path.read_bytes())["X-Saraban-Receive-No"])
    return sorted(out)


def test_a_restored_register_gives_no_number_twice(tmp_path, dovecot, dovecot_user):
    user, password = dovecot_user
    year = this_be_year()
    folders = tmp_path / "folders"  # the Maildirs, outside the lost data directory
    old = Daemon(_config(tmp_path / "old", dovecot, user, password, folders)).start()
    try:
        old.send(letter(), LAT)
        old.send(letter(), POM)
        old.wait_idle()
        # The backup is taken while a letter is accepted and not yet registered: the
        # database is held by another program (a sqlite3 shell) meanwhile.
        holder = sqlite3.connect(old.data_dir / "saraban.db", isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        in_spool = old.send(letter(), LAT)
        archive = tmp_path / "backup" / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
        holder.execute("ROLLBACK")
        holder.close()
        old.send(letter(), LAT)
        old.send(letter(), POM)
        old.wait_idle()
        before = old.register()
        assert _numbers(before, "saraban.latkrabang") == [1, 2, 3]
        assert _numbers(before, "saraban.pomprap") == [1, 2]
    finally:
        old.stop()
    # The clerk has filed the newest letter away into a folder of her own.
    clerk = dovecot.imap(user)
    try:
        clerk.create("Archive")
        clerk.select('"Saraban/latkrabang"')
        _, found = clerk.uid("SEARCH", None, "HEADER", "X-Saraban-Receive-No", f"3/{year}")
        assert clerk.uid("MOVE", found[0].decode(), "Archive")[0] == "OK"
    finally:
        clerk.logout()

    # The disk is lost; the Maildirs and the mail server are not. The mail server is
    # down while the gateway comes back.
    dovecot.halt()
    try:
        new = Daemon(_config(tmp_path / "new", dovecot, user, password, folders))
        restored = new.cli("backup", "restore", str(archive))
        assert "reads back from the units' folders" in restored.stdout
        new.start()
        queued = new.send(letter(), LAT)  # accepted all the same: it waits in the spool
        status = new.wait_for(lambda: (s := new.status_here())["numbering"]["state"] == "held" and s,
                              timeout=30, what="numbering held")
        assert any("numbering held after a restore" in w for w in status["warnings"])
        assert status["spool"]["pending"] == 2  # the restored spool's letter and the new one
        assert status["letters"] == 2  # the backup's: nothing numbered blind
        assert any(e.get("event") == "numbers_check_incomplete" for e in new.events())
        # Nor by hand: the paper emergency register's import (a quarantine release alike).
        paper = new.cli("register", "import-emergency", str(tmp_path / "emergency.csv"),
                        "--unit", "saraban.latkrabang", check=False)
        assert paper.returncode == 1 and "not yet read back from the units' folders" in paper.stderr
    finally:
        dovecot.resume()

    try:
        new.wait_idle()
        new.send(letter(), POM)
        new.wait_idle()
        after = new.register()
        # 2 is the letter that was in the spool, again under its own number; 3 was given
        # before the restore (its copy is in the folder): a gap, not a second letter 3.
        assert _numbers(after, "saraban.latkrabang") == [1, 2, 4]
        assert _numbers(after, "saraban.pomprap") == [1, 3]
        again = next(e for e in after if e["queue_id"] == in_spool)
        assert again["receive_no"] == f"2/{year}"
        assert next(e for e in after if e["queue_id"] == queued)["receive_no"] == f"4/{year}"

        # What the clerks see: every copy once, no number twice.
        copies = [c["X-Saraban-Receive-No"] for folder in ("Saraban/latkrabang", "Archive")
                  for _, c in folder_messages(dovecot, user, folder)]
        assert sorted(copies) == [f"{n}/{year}" for n in (1, 2, 3, 4)]
        assert _maildir_numbers(folders / "pomprap") == [f"{n}/{year}" for n in (1, 2, 3)]

        raised = {e["unit"]: (e["first"], e["last"], e["seen_in"]) for e in new.events()
                  if e.get("event") == "numbers_given_before_restore"}
        assert raised == {"saraban.latkrabang": (2, 3, f"IMAP 'Archive' on {dovecot.host} as {user}"),
                          "saraban.pomprap": (2, 2, "Maildir pomprap")}
        shown = new.cli("register", "show", "saraban.latkrabang", f"2/{year}").stdout
        assert "registered_before_restore" in shown
        # Acknowledged once, before the restore: not again.
        notices = new.cli("outbox", "list", "--kind", "notice", "--json", check=False).stdout
        assert in_spool not in notices
        assert new.status_here()["numbering"]["state"] == "open"
        assert not (new.data_dir / "restored.json").exists()
    finally:
        new.stop()

    # Restored as docs/install.md said before: the whole old data directory moved aside,
    # its Maildirs with it. A missing Maildir is not "nothing filed": numbering waits
    # until they are put back, or the operator confirms the numbers are accounted for.
    aside = _config(tmp_path / "aside", dovecot, user, password, folders=None)
    assert cli(aside, "backup", "restore", str(archive)).returncode == 0
    settings = load_settings(aside)
    ok, why = check_numbers(settings)
    assert not ok and "pomprap: missing" in why
    confirmed = cli(aside, "backup", "confirm-numbers", "--reason", "the Maildir of pomprap is lost for good")
    assert confirmed.returncode == 0 and "check that [register.start_numbers]" in confirmed.stdout
    assert check_numbers(settings) == (True, "")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'register.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_database_url"))
    db = Database(url)
    db.create_schema()
    yield db
    db.dispose()


def test_counters_raised_past_the_folders_on_either_database(database):
    """The same statements on PostgreSQL (restored with pg_restore) as on SQLite: a
    counter behind the folders is raised once, with its gap in the register's actions;
    one at or past them is left alone; a letter filed before the restore is entered
    again under its own number, and the next letter gets the number after the gap."""
    when = dt.datetime.now(dt.timezone.utc)
    year = be_year(when)
    lat, pom = ("saraban.latkrabang", "general", year), ("saraban.pomprap", "general", year)

    def register(queue_id, unit, number=None):
        with database.session() as session:
            session.add(Message(queue_id=queue_id, received_at=when, mail_from="a@b", recipients=[],
                                size=1, sha256="0" * 64, state="processing", attempts=1, outcome={}))
            return register_letter(session, NewLetter(queue_id=queue_id, unit=unit, book="general",
                                                      received_at=when, sender="a@b", raw_sha256="0" * 64),
                                   number=number).number

    assert register("q1", lat[0]) == 1
    assert [register(f"p{n}", pom[0]) for n in (1, 2, 3)] == [1, 2, 3]
    with database.session() as session:
        raised = raise_counters(session, {lat: 4, pom: 2}, {lat: "IMAP 'Saraban/latkrabang'"})
    assert raised == [{"unit": lat[0], "book": "general", "year": year, "first": 2, "last": 4}]
    with database.session() as session:
        assert raise_counters(session, {lat: 4}, {}) == []  # a second start: nothing more
        # A register begun at its cut-over number: the previous system's numbers are no gap.
        cut = ("saraban.dindaeng", "general", year)
        assert raise_counters(session, {cut: 1580}, None, {cut: 1572})[0]["first"] == 1572
        assert raise_counters(session, {cut: 1500}, None, {cut: 1572}) == []
        [action] = session.scalars(select(OperatorAction)).all()
        assert (action.who, action.action, action.unit) == ("gateway", "numbers_given_before_restore", lat[0])
        assert action.details["seen_in"] == "IMAP 'Saraban/latkrabang'" and "restored" in action.reason
    assert register("q2", lat[0], number=3) == 3  # in the restored spool, filed as 3 before
    assert register("q3", lat[0]) == 5
    assert register("p4", pom[0]) == 4


def test_a_big_maildir_is_read_by_its_newest_copies_headers_only(tmp_path):
    """Bounded on a big folder: only the newest `[register] check_copies` copies, known by
    their names (no stat each), and of each only its first block (the X-Saraban-* fields
    lead the copy), whatever its size."""
    settings = load_settings(write_config(tmp_path, extra="[register]\ncheck_copies = 5\n"))
    maildir = settings.folders_dir / "latkrabang"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    year = this_be_year()
    queue = {n: f"{(1_700_000_000 + n) * 10**9:016x}0123abcd" for n in range(1, 31)}  # gateway/spool.py
    for n, queue_id in queue.items():
        path = maildir / ("cur" if n % 2 else "new") / f"{queue_id}.saraban.latkrabang.saraban:2,S"
        seal = copy_seal(copy_seal_key(settings.data_dir), "saraban.latkrabang", "general", f"{n}/{year}", queue_id)
        path.write_bytes(f"X-Saraban-Receive-No: {n}/{year}\nX-Saraban-Unit: saraban.latkrabang\n"
                         f"X-Saraban-Book: general\nX-Saraban-Queue-Id: {queue_id}\n"
                         f"X-Saraban-Copy-Seal: {seal}\nSubject: x\n\n%PDF-".encode())
        os.truncate(path, 64 << 20)  # a 64 MiB letter (sparse: nothing written)
        os.utime(path, (1_800_000_000 - n, 1_800_000_000 - n))  # touched by a client: not the order
    (maildir / "new" / "1750000000.M1P2.host").write_bytes(b"Subject: a clerk's own note\n\nhello\n")
    started = time.monotonic()
    seen = numbers_seen(settings, load_directory(settings.directory_path), settings.register_.check_copies)
    assert time.monotonic() - started < 2
    assert seen.read == 4 and seen.highest == {("saraban.latkrabang", "general", year): 30}  # the note is not one
    assert seen.copies[(queue[30], "saraban.latkrabang")] == ("general", year, 30)
    assert (queue[26], "saraban.latkrabang") not in seen.copies and not seen.unreachable
