"""Thai substring search and the filters of the register page, on SQLite (FTS5
trigram) and on the real PostgreSQL (pg_trgm), through storage/desk.py."""
from __future__ import annotations

import datetime as dt

import pytest

from rules.thai_time import BANGKOK
from storage.db import Database
from storage.desk import RegisterQuery, register_page
from storage.models import Message
from storage.register import NewLetter, register_letter

UNIT = "saraban.latkrabang"
RECEIVED = dt.datetime(2026, 3, 5, 3, 30, tzinfo=dt.timezone.utc)  # 5 มี.ค. 2569 10.30 น.
PASSED = [{"indication": "TOTAL_PASSED"}]
FAILED = [{"indication": "TOTAL_PASSED"}, {"indication": "TOTAL_FAILED", "sub_indication": "HASH_FAILURE"}]


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.create_schema()
    letters = [  # subject, sender name, reference, signatures, review, secrecy
        ("ขอเชิญประชุมคณะกรรมการพัฒนาเขตลาดกระบัง", "สำนักการระบายน้ำ", "กท 0407/ว 57", PASSED, False, "none"),
        ("ขอส่งรายงานการเงินประจำไตรมาส", "สำนักการคลัง", "กท 0401/123", FAILED, True, "none"),
        ("การสมัครขอใช้งานโปรแกรม 100% ออนไลน์", "สำนักงานเขตบางกะปิ", None, None, False, "none"),
        (None, None, None, None, True, "confidential"),  # classified: nothing to search
    ]
    with database.session() as session:
        for n, (subject, name, reference, signatures, review, secrecy) in enumerate(letters):
            qid = f"{n:024x}"
            session.add(Message(queue_id=qid, received_at=RECEIVED + dt.timedelta(hours=n), mail_from="x@y",
                                recipients=[UNIT], size=1, sha256="0" * 64, state="done"))
            session.flush()
            register_letter(session, NewLetter(
                queue_id=qid, unit=UNIT, book="general", received_at=RECEIVED + dt.timedelta(hours=n),
                sender="saraban.dds@bangkok.go.th", raw_sha256="0" * 64, sender_name=name, subject=subject,
                facts={"reference": reference, "secrecy": secrecy}, review=review,
                attachments=[{"sha256": "1" * 64, "size": 1, "content_type": "application/pdf",
                              "signatures": signatures}]))
    yield database
    database.dispose()


def numbers(db, **kwargs) -> list[int]:
    with db.session() as session:
        letters, total = register_page(session, RegisterQuery(unit=UNIT, book="general", year=2569, **kwargs))
        assert total == len(letters) or kwargs.get("per_page")
        return [x.number for x in letters]


def test_thai_substrings_find_the_letter_without_word_boundaries(db):
    assert numbers(db) == [4, 3, 2, 1]  # newest first
    assert numbers(db, search="กรรมการพัฒนา") == [1]  # inside a run of Thai words
    assert numbers(db, search="ระบายน้ำ") == [1]  # the sender's name, with a tone mark
    assert numbers(db, search="0401/1") == [2]  # the reference number
    assert numbers(db, search="การ") == [3, 2, 1]  # three letters: each has การ somewhere
    assert numbers(db, search="เงิน") == [2]
    assert numbers(db, search="ไม่มีคำนี้") == []


def test_short_terms_and_like_characters_are_taken_literally(db):
    assert numbers(db, search="ขอ") == [3, 2, 1]  # two characters: below a trigram, still found
    assert numbers(db, search="0%") == [3]  # % is a character here, not a wildcard
    assert numbers(db, search='"') == []
    assert numbers(db, search='ประชุม" OR "การ') == []  # no FTS5 operators from a search box


def test_filters_review_and_signature_verdict(db):
    assert numbers(db, review_only=True) == [4, 2]
    assert numbers(db, verdict="failed") == [2]
    assert numbers(db, verdict="passed") == [1]
    assert numbers(db, verdict="unsigned") == [4, 3]
    assert numbers(db, review_only=True, search="รายงาน") == [2]


def test_a_letter_flagged_for_review_is_not_listed_as_passed(db):
    """Its signatures verify but the check flagged it (a file with only a document
    timestamp, an unsigned cover letter beside a signed enclosure): its badge says
    ควรตรวจสอบ, and the "passed" filter leaves it out as the badge does."""
    with db.session() as session:
        qid = f"{99:024x}"
        session.add(Message(queue_id=qid, received_at=RECEIVED + dt.timedelta(hours=9), mail_from="x@y",
                            recipients=[UNIT], size=1, sha256="0" * 64, state="done"))
        session.flush()
        register_letter(session, NewLetter(
            queue_id=qid, unit=UNIT, book="general", received_at=RECEIVED + dt.timedelta(hours=9),
            sender="saraban.dds@bangkok.go.th", raw_sha256="0" * 64, subject="ประทับเวลาอย่างเดียว",
            facts={"secrecy": "none"}, review=True,
            attachments=[{"sha256": "2" * 64, "size": 1, "content_type": "application/pdf",
                          "signatures": [{"indication": "TOTAL_PASSED", "kind": "document_timestamp",
                                          "review": True}]}]))
    assert numbers(db, verdict="passed") == [1]
    assert numbers(db, review_only=True) == [5, 4, 2]


def test_date_range_and_paging(db):
    assert numbers(db, received_from=RECEIVED + dt.timedelta(hours=1),
                   received_to=RECEIVED + dt.timedelta(hours=3)) == [3, 2]
    with db.session() as session:
        letters, total = register_page(session, RegisterQuery(unit=UNIT, book="general", year=2569,
                                                              page=2, per_page=3))
    assert total == 4 and [x.number for x in letters] == [1]


def test_bounds_in_bangkok_time_are_bangkok_time(db):
    # The desk's day filter gives Bangkok midnights; SQLite drops a datetime's zone, so
    # 11:00 Bangkok (04:00 UTC) was compared as 11:00 UTC: nothing of the morning found.
    assert numbers(db, received_from=dt.datetime(2026, 3, 5, 11, 0, tzinfo=BANGKOK),
                   received_to=dt.datetime(2026, 3, 5, 13, 0, tzinfo=BANGKOK)) == [3, 2]


def test_a_receive_number_finds_its_entry(db):
    # Session 56: the number the list shows and the acknowledgement tells the sender,
    # which a sender quotes on the telephone, found nothing ("2/2569": no text holds it),
    # and a number alone found the letters whose reference holds those digits.
    assert numbers(db, search="2/2569") == [2]
    assert numbers(db, search="๓/๒๕๖๙") == [3]
    assert numbers(db, search="เลขรับ 1") == [1]
    assert numbers(db, search="เลขรับที่ 4/2569") == [4]  # a classified entry: its number is in the list
    assert numbers(db, search="2/2568") == []  # another year's entry 2
    # and what was found before still is: a reference, digits in the text
    assert numbers(db, search="0401/123") == [2]
    assert numbers(db, search="0407/ว 57") == [1]
    assert numbers(db, search="100%") == [3]
