"""A letter without a Message-ID is a resend only by its raw bytes (storage/register.py
`find_same_message_id`, session 43): the same sha256 of the message as received, for
the same unit, from the same sender and envelope sender. Each such letter asks it once,
so it is read through the messages' sha256 index, never through the sender's letters: a
scanner that never writes a Message-ID sends thousands, and SQLite, left to choose,
read every one of them (and each one's message) for each new letter."""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from gateway.config.settings import load_settings
from gateway.service.services import open_services
from storage import register
from tests.daemon import write_config

UNIT, OTHER_UNIT = "saraban.latkrabang", "saraban.pomprap"
SENDER = "scanner@dds.bangkok.go.th"
ENVELOPE = "bounces@dds.bangkok.go.th"
NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.timezone.utc)


def _sha(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def database(tmp_path):
    settings = load_settings(write_config(tmp_path))
    with open_services(settings, "pipeline", upgrade_schema=True) as services:
        path = str(services.db.url).split("///", 1)[1]
    con = sqlite3.connect(path)
    # 2,000 letters of the scanner to the unit, none with a Message-ID, then one to the
    # other unit; letter n's message has raw sha256 n.
    rows = [(n, UNIT) for n in range(1, 2001)] + [(2001, OTHER_UNIT)]
    con.executemany("INSERT INTO messages (queue_id, received_at, mail_from, recipients, size, sha256, state, "
                    "outcome, attempts, updated_at) VALUES (?, ?, ?, '[]', 1, ?, 'done', '{}', 1, ?)",
                    [(f"q{n}", NOW.isoformat(), ENVELOPE, _sha(n), NOW.isoformat()) for n, _ in rows])
    con.executemany("INSERT INTO letters (id, queue_id, unit, book, year, number, received_at, registered_at, "
                    "sender, urgency, secrecy, facts, findings, raw_sha256, status, review) "
                    "VALUES (?, ?, ?, 'general', 2569, ?, ?, ?, ?, 'normal', 'none', '{}', '[]', ?, "
                    "'registered', 0)",
                    [(n, f"q{n}", unit, n, NOW.isoformat(), NOW.isoformat(), SENDER, _sha(n)) for n, unit in rows])
    con.commit()
    yield settings, con
    con.close()


def test_the_same_bytes_are_found_for_their_unit_sender_and_envelope_only(database):
    settings, _con = database
    with open_services(settings, "pipeline") as services, services.db.session() as session:
        def resend_of(sha256, unit=UNIT, sender=SENDER, mail_from=ENVELOPE):
            return register.find_same_message_id(session, unit, sender, None, sha256, mail_from=mail_from).resend_of

        assert resend_of(_sha(1234)) == "1234/2569"
        assert resend_of(_sha(2001), unit=OTHER_UNIT) == "2001/2569"
        assert resend_of(_sha(2001)) is None  # registered for the other unit only
        assert resend_of(_sha(1234), sender="someone@dds.bangkok.go.th") is None
        assert resend_of(_sha(1234), mail_from="relay@bangkok.go.th") is None  # not its server's retry
        assert resend_of(_sha(99999)) is None
        # With a Message-ID the look-up is by the Message-ID, as before.
        assert register.find_same_message_id(session, UNIT, SENDER, "<x@dds.bangkok.go.th>", _sha(1234),
                                             mail_from=ENVELOPE).resend_of is None


def test_the_look_up_goes_through_the_messages_sha256_index(database):
    _settings, con = database
    # No ANALYZE: the gateway never runs it, so SQLite judges by the indexes alone.
    compiled = register._SAME_RAW.compile(dialect=sqlite_dialect.dialect())
    sql = str(compiled)
    params = {"w_sha256": _sha(1234), "w_mail_from": ENVELOPE, "w_unit": UNIT, "w_sender": SENDER}
    values = [compiled.params[name] if params.get(name) is None else params[name] for name in compiled.positiontup]
    plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql, values)]
    assert plan[0] == "SEARCH messages USING INDEX ix_messages_sha256 (sha256=?)", plan
    assert not any(step.startswith("SCAN") or "ix_letter_resend" in step for step in plan), plan
    assert con.execute(sql, values).fetchall() == [(1234, 2569)]
