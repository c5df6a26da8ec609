"""Receive numbers (เลขรับ): per unit, book and BE year; gapless; never reused; unique
with several processes registering for one unit at once."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from gateway.service.process_util import start_child
from storage.db import Database
from storage.models import Letter, Message
from storage.register import NewLetter, allocate_number, register_letter

BKK = dt.timezone(dt.timedelta(hours=7))


def _message(session, queue_id: str, when: dt.datetime) -> None:
    session.add(Message(queue_id=queue_id, received_at=when, mail_from="a@b", recipients=[],
                        size=1, sha256="0" * 64, state="processing", attempts=1, outcome={}))


def _register(db: Database, queue_id: str, unit: str, when: dt.datetime, book: str = "general",
              start: int = 1) -> Letter:
    with db.session() as session:
        _message(session, queue_id, when)
        return register_letter(session, NewLetter(queue_id=queue_id, unit=unit, book=book, received_at=when,
                                                  sender="a@b", raw_sha256="0" * 64), start=start)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'register.db'}")
    database.create_schema()
    yield database
    database.dispose()


def test_numbers_restart_each_buddhist_era_year_in_bangkok_time(db):
    # 31 Dec 2568 BE 23:30 in Bangkok is still 2568; 00:30 on 1 Jan is 2569, even
    # though both are 31 Dec in UTC.
    late = dt.datetime(2025, 12, 31, 23, 30, tzinfo=BKK)
    early = dt.datetime(2026, 1, 1, 0, 30, tzinfo=BKK)
    a = _register(db, "q1", "saraban.latkrabang", late)
    b = _register(db, "q2", "saraban.latkrabang", late)
    c = _register(db, "q3", "saraban.latkrabang", early)
    assert (a.year, a.number) == (2568, 1)
    assert (b.year, b.number) == (2568, 2)
    assert (c.year, c.number) == (2569, 1)
    assert c.receive_no == "1/2569"


def test_books_and_units_number_independently(db):
    when = dt.datetime(2026, 6, 11, 18, 33, tzinfo=BKK)
    assert _register(db, "q1", "saraban.latkrabang", when).number == 1
    assert _register(db, "q2", "saraban.latkrabang", when, book="secret").number == 1
    assert _register(db, "q3", "saraban.dindaeng", when).number == 1
    assert _register(db, "q4", "saraban.latkrabang", when).number == 2


def test_cut_over_start_number_applies_once(db):
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    assert _register(db, "q1", "saraban.latkrabang", when, start=1572).number == 1572
    assert _register(db, "q2", "saraban.latkrabang", when, start=1572).number == 1573


def test_rolled_back_registration_gives_its_number_back(db):
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    with pytest.raises(RuntimeError):
        with db.session() as session:
            assert allocate_number(session, "saraban.latkrabang", "general", 2569) == 1
            raise RuntimeError("crash before commit")
    assert _register(db, "q1", "saraban.latkrabang", when).number == 1  # no gap


def test_cancelled_entry_keeps_its_number(db):
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    first = _register(db, "q1", "saraban.latkrabang", when)
    with db.session() as session:
        session.get(Letter, first.id).status = "cancelled"
    assert _register(db, "q2", "saraban.latkrabang", when).number == 2


def test_database_refuses_a_duplicate_number(db):
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    _register(db, "q1", "saraban.latkrabang", when)
    with pytest.raises(IntegrityError):
        with db.session() as session:
            _message(session, "q2", when)
            session.add(Letter(queue_id="q2", unit="saraban.latkrabang", book="general", year=2569, number=1,
                               received_at=when, sender="x", raw_sha256="0" * 64))


def test_one_registration_per_message_and_unit(db):
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    _register(db, "q1", "saraban.latkrabang", when)
    with pytest.raises(IntegrityError):
        with db.session() as session:
            register_letter(session, NewLetter(queue_id="q1", unit="saraban.latkrabang", book="general",
                                               received_at=when, sender="a@b", raw_sha256="0" * 64))


def _worker(url: str, worker: int, count: int) -> None:
    db = Database(url)
    when = dt.datetime(2026, 6, 11, tzinfo=BKK)
    for i in range(count):
        _register(db, f"w{worker}-{i}", "saraban.latkrabang", when)
    db.dispose()


def register_concurrently(url: str, workers: int = 6, each: int = 40) -> list[int]:
    # Processes as the daemon starts its runners: fresh interpreters, nothing shared.
    procs = [start_child(f"register-{w}", _worker, (url, w, each)) for w in range(workers)]
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    db = Database(url)
    with db.session() as session:
        numbers = sorted(n for (n,) in session.query(Letter.number).filter(Letter.unit == "saraban.latkrabang"))
    db.dispose()
    return numbers


def test_several_processes_registering_for_one_unit_give_1_to_n(db):
    numbers = register_concurrently(db.url)
    assert numbers == list(range(1, 6 * 40 + 1))
