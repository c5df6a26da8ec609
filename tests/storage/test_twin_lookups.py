"""The register's look-ups for the same letter entered twice, on SQLite and on the real
PostgreSQL (JSON facts, times with their zone, dates): `find_same_sealed_files` (a ลับ
letter sent again in a new e-mail, by the keyed hash of its files) and
`find_mailed_twin` (a row of the paper emergency register that is a letter registered
from e-mail), and the quarantine's `find_same_held` (a held letter's server retry). Each finds the latest letter that is the same and nothing else: not a
cancelled one, not another unit's or sender's, not one outside its window."""
from __future__ import annotations

import datetime as dt

from storage.db import Database
from storage.messages import record_imported
from storage.register import NewLetter, find_mailed_twin, find_same_sealed_files, register_letter

UNIT, OTHER_UNIT = "saraban.latkrabang", "saraban.pomprap"
DDS, MOI = "saraban.dds@bangkok.go.th", "saraban.moi@bangkok.go.th"
NOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
MONTH = dt.timedelta(days=30)


def _add(session, n: int, unit: str, sender: str, received: dt.datetime, *, book: str = "general",
         facts: dict | None = None, files: tuple[str, ...] = (), cancelled: bool = False) -> str:
    queue_id = f"q{n}"
    record_imported(session, queue_id=queue_id, received_at=received, address=unit, size=1, sha256=f"{n:064x}")
    letter = register_letter(session, NewLetter(
        queue_id=queue_id, unit=unit, book=book, received_at=received, sender=sender, raw_sha256=f"{n:064x}",
        facts=facts or {}, attachments=[{"filename": "f.pdf", "sha256": sha, "size": 1, "content_type": "application/pdf"}
                                        for sha in files]))
    if cancelled:
        letter.status = "cancelled"
    return letter.receive_no


def test_a_sealed_letters_files_are_found_by_their_keyed_hash_only(database_url):
    db = Database(database_url)
    db.create_schema()
    secret = {"secrecy": "confidential"}
    with db.session() as s:
        _add(s, 1, UNIT, DDS, NOW - 40 * DAY, book="secret", facts=secret | {"files_mac": "m1"})  # too long ago
        first = _add(s, 2, UNIT, DDS, NOW - 10 * DAY, book="secret", facts=secret | {"files_mac": "m1"})
        _add(s, 3, UNIT, DDS, NOW - 9 * DAY, book="secret", facts=secret | {"files_mac": "m2"})
        _add(s, 4, UNIT, DDS, NOW - 8 * DAY, book="secret", facts=secret | {"files_mac": "m3"}, cancelled=True)
        _add(s, 5, UNIT, MOI, NOW - 7 * DAY, book="secret", facts=secret | {"files_mac": "m4"})
        _add(s, 6, OTHER_UNIT, DDS, NOW - 7 * DAY, book="secret", facts=secret | {"files_mac": "m5"})
        _add(s, 7, UNIT, DDS, NOW - 6 * DAY, facts={"secrecy": "none", "files_mac": "m6"})  # not a sealed letter
    with db.session() as s:
        def found(mac, sender=DDS, unit=UNIT):
            return find_same_sealed_files(s, unit, "secret", sender, mac, NOW, MONTH)

        assert found("m1") == first
        assert found("m2") == "3/2569"
        assert [found(m) for m in ("m3", "m4", "m5", "m6", "nothing", None)] == [None] * 6
        assert found("m4", sender=MOI) == "5/2569" and found("m5", unit=OTHER_UNIT) == "1/2569"
    db.dispose()


def test_an_emergency_row_finds_the_mailed_letter_by_its_reference_and_date_or_its_files(database_url):
    db = Database(database_url)
    db.create_schema()
    dated = {"reference": "กท 0407/ว 57", "letter_date": "2022-06-13"}
    with db.session() as s:
        for n, (received, extra) in enumerate(((NOW - 2 * DAY, {}), (NOW - DAY, {"status": "cancelled"}),
                                               (NOW - 60 * DAY, {}), (NOW, {"source": "emergency_register"})),
                                              start=1):
            record_imported(s, queue_id=f"q{n}", received_at=received, address=UNIT, size=1, sha256=f"{n:064x}")
            letter = register_letter(s, NewLetter(
                queue_id=f"q{n}", unit=UNIT, book="general", received_at=received, sender=DDS,
                raw_sha256=f"{n:064x}", facts=dated | {k: v for k, v in extra.items() if k == "source"},
                attachments=[{"filename": "f.pdf", "sha256": f"{100 + n:064x}", "size": 1,
                              "content_type": "application/pdf"}]))
            if extra.get("status"):
                letter.status = "cancelled"
    with db.session() as s:
        def twin(reference="กท 0407/ว 57", date=dt.date(2022, 6, 13), files=frozenset(), around=NOW, unit=UNIT):
            return find_mailed_twin(s, unit, "general", reference, date, files, around, MONTH)

        assert twin() == "1/2569"  # not the cancelled 2, the one 60 days back, nor the emergency row 4
        assert twin(around=NOW - 50 * DAY) == "3/2569"  # within 30 days of the row's time, either side
        assert twin(around=NOW - 100 * DAY) is None
        assert twin(reference="กท 0407/ว 58") is None and twin(date=dt.date(2022, 6, 14)) is None
        assert twin(unit=OTHER_UNIT) is None
        assert twin(reference=None, files=frozenset({f"{101:064x}"})) == "1/2569"
        assert twin(reference=None, files=frozenset({f"{102:064x}"})) is None  # the cancelled one's file
        assert twin(reference=None, files=frozenset({f"{104:064x}"})) is None  # an emergency row's own scan
        assert twin(reference=None, files=frozenset({f"{101:064x}", f"{999:064x}"})) is None
    db.dispose()


def test_the_sealed_look_up_reads_the_secret_books_rows_not_the_senders_letters(tmp_path):
    """Through uq_letter_number (unit, book, year): a sender with 20,000 ordinary letters
    to the unit cost 88 ms a classified letter through ix_letter_resend (every one of
    them read), 0.5 ms so (measured on this project's machine)."""
    import sqlite3

    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from storage import register

    db = Database(f"sqlite:///{tmp_path / 'saraban.db'}")
    db.create_schema()
    db.dispose()
    con = sqlite3.connect(tmp_path / "saraban.db")
    compiled = register._SAME_SEALED.compile(dialect=sqlite_dialect.dialect())
    sql = str(compiled).replace("(__[POSTCOMPILE_q_years])", "(?)")
    params = {"q_unit": UNIT, "q_book": "secret", "q_years": 2569, "q_sender": DDS,
              "q_since": (NOW - MONTH).isoformat()}
    values = [params[name] if name in params else compiled.params[name] for name in compiled.positiontup]
    plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql, values)]
    # uq_letter_number is SQLite's sqlite_autoindex_letters_2
    assert plan[0].startswith("SEARCH letters USING INDEX ") and "(unit=? AND book=? AND year=?)" in plan[0], plan
    assert not any("ix_letter_resend" in step for step in plan), plan
    con.close()


def test_a_held_messages_retry_is_found_by_its_bytes_sender_and_envelope(database_url):
    """storage/quarantine.py `find_same_held`, on SQLite and PostgreSQL: the entry of
    another message with the same raw sha256, From and envelope sender for this unit,
    held or rejected, never a released one (its letter is registered)."""
    from storage import quarantine
    from storage.messages import open_messages

    db = Database(database_url)
    db.create_schema()
    with db.session() as s:
        open_messages(s, [{"queue_id": q, "received_at": NOW, "mail_from": envelope, "recipients": [UNIT],
                           "size": 1, "sha256": sha}
                          for q, envelope, sha in (("h1", DDS, "a" * 64), ("h2", DDS, "b" * 64),
                                                   ("h3", DDS, "c" * 64), ("new", DDS, "a" * 64))])
        first = quarantine.hold(s, queue_id="h1", unit=UNIT, sender=DDS, subject=None, reasons=[], raw_sha256=None)
        quarantine.hold(s, queue_id="h2", unit=UNIT, sender=DDS, subject=None, reasons=[],
                        raw_sha256=None).state = "released"
        rejected = quarantine.hold(s, queue_id="h3", unit=UNIT, sender=DDS, subject=None, reasons=[], raw_sha256=None)
        rejected.state = "rejected"
        first_id, rejected_id = first.id, rejected.id
    with db.session() as s:
        def held(sha, unit=UNIT, sender=DDS, envelope=DDS, queue_id="new"):
            return quarantine.find_same_held(s, unit, sender, sha, envelope, queue_id)

        assert held("a" * 64) == first_id
        assert held("c" * 64) == rejected_id
        assert held("b" * 64) is None  # released: registered, its retry is a resend of that
        assert held("a" * 64, queue_id="h1") is None  # not itself
        assert [held("a" * 64, unit=OTHER_UNIT), held("a" * 64, sender=MOI), held("a" * 64, envelope=MOI),
                held("d" * 64), held(None), held("a" * 64, envelope=None)] == [None] * 6
    db.dispose()
