"""Receive numbers (เลขรับ) on SQLite and on PostgreSQL: the same code, the same guarantees."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Letter, Message
from storage.register import NewLetter, allocate_number, query_letters, register_letter

RECEIVED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)  # BE 2569


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.create_schema()
    yield database
    database.dispose()


def _register(db: Database, queue_id: str, unit: str = "saraban.latkrabang", book: str = "general",
              start: int = 1, fail_after: bool = False) -> int:
    with db.session() as session:
        session.add(Message(queue_id=queue_id, received_at=RECEIVED, mail_from="a@b", recipients=[unit],
                            size=1, sha256="0" * 64, state="processing", attempts=1, outcome={}))
        session.flush()
        letter = register_letter(session, NewLetter(queue_id=queue_id, unit=unit, book=book,
                                                    received_at=RECEIVED, sender="saraban.dds@bangkok.go.th",
                                                    raw_sha256="0" * 64, subject="เรื่อง ทดสอบ"),
                                 start=start)
        if fail_after:
            raise RuntimeError("crash before commit")
        return letter.number


def test_numbers_run_per_unit_book_and_year(db):
    assert [_register(db, f"q{i}") for i in range(3)] == [1, 2, 3]
    assert _register(db, "p1", unit="saraban.pomprap") == 1
    assert _register(db, "s1", book="secret") == 1
    with db.session() as session:
        assert allocate_number(session, "saraban.latkrabang", "general", 2570) == 1
        assert allocate_number(session, "saraban.latkrabang", "general", 2569) == 4


def test_cut_over_start_number(db):
    assert _register(db, "q1", start=1572) == 1572
    assert _register(db, "q2", start=1572) == 1573


def test_a_cut_over_start_set_after_the_year_began_is_a_floor(db):
    # The register had begun (1, 2) when the previous system's last number (1571) was
    # configured: the next is 1572, not 3; a start below the counter changes nothing.
    assert [_register(db, "q1"), _register(db, "q2")] == [1, 2]
    assert _register(db, "q3", start=1572) == 1572
    assert _register(db, "q4", start=1572) == 1573
    assert _register(db, "q5", start=100) == 1574
    # 3-1571 are the previous system's: said once in the register's actions (session 54),
    # which the printed book and `register show` read (tests/test_register_red_team_session54.py).
    from storage.actions import skipped_numbers

    with db.session() as session:
        assert skipped_numbers(session, "saraban.latkrabang", "general", 2569) == [
            (3, 1571, "numbers_skipped_for_cut_over", None)]


def test_a_register_that_begins_at_its_cut_over_number_skips_nothing(db):
    from storage.actions import skipped_numbers

    assert [_register(db, "q1", start=1572), _register(db, "q2", start=1572)] == [1572, 1573]
    with db.session() as session:
        assert skipped_numbers(session, "saraban.latkrabang", "general", 2569) == []


def test_a_rolled_back_registration_gives_its_number_back(db):
    assert _register(db, "q1") == 1
    with pytest.raises(RuntimeError):
        _register(db, "q2", fail_after=True)
    assert _register(db, "q3") == 2
    with db.session() as session:
        assert [letter.number for letter in query_letters(session)] == [1, 2]


def test_thai_text_round_trips(db):
    _register(db, "q1")
    with db.session() as session:
        assert session.scalar(select(Letter.subject)) == "เรื่อง ทดสอบ"


def test_concurrent_registrations_are_gapless_and_unique(db):
    """Eight threads, each its own connection, all numbering in one register."""
    numbers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            for j in range(10):
                number = _register(db, f"t{index}-{j}")
                with lock:
                    numbers.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(numbers) == list(range(1, 81))
