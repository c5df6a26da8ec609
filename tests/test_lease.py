"""The database lease that keeps one gateway per pulled mailbox, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest

from storage import lease
from storage.db import Database
from storage.models import ImapMessage


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.create_schema()
    yield database
    database.dispose()


def test_one_holder_at_a_time_and_takeover_after_expiry(db):
    first = lease.acquire(db, "imap://a@mail/INBOX", "gw-a", ttl=2)
    assert (first.ok, first.existed) == (True, False)
    taken = lease.acquire(db, "imap://a@mail/INBOX", "gw-b", ttl=2)
    assert (taken.ok, taken.holder) == (False, "gw-a")
    again = lease.acquire(db, "imap://a@mail/INBOX", "gw-a", ttl=2)  # a restarted runner of gw-a
    assert (again.ok, again.existed) == (True, True)
    with db.session() as session:  # let it run out without waiting for the clock
        session.get(lease.ImapLease, "imap://a@mail/INBOX").expires_at = time.time() - 1
    assert lease.acquire(db, "imap://a@mail/INBOX", "gw-b", ttl=2).ok
    assert not lease.renew(db, "imap://a@mail/INBOX", "gw-a", ttl=2)


def test_a_stale_holder_cannot_record_what_the_new_holder_reads(db):
    lease.acquire(db, "m", "gw-a", ttl=2)
    with db.session() as session:
        session.get(lease.ImapLease, "m").expires_at = time.time() - 1
    assert lease.acquire(db, "m", "gw-b", ttl=60).ok
    with pytest.raises(lease.LeaseLost):
        with db.session() as session:
            lease.fence(session, "m", "gw-a", ttl=60)
            session.add(ImapMessage(mailbox="m", uidvalidity=1, uid=1, queue_id="q", size=1))
    with db.session() as session:
        assert session.get(ImapMessage, ("m", 1, 1)) is None  # rolled back with the fence


def test_racing_contenders_one_winner(db):
    wins: list[str] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        barrier.wait()
        if lease.acquire(db, "race", name, ttl=60).ok:
            wins.append(name)

    threads = [threading.Thread(target=contend, args=(f"gw-{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(wins) == 1
