"""A letter sent again in a new e-mail is found by its files (storage/register.py
`find_same_files`) through the holders of its least held file, each file looked up no
further than FEW_HOLDERS rows: a file in every letter of a sender (the emblem image of
its system's HTML letters) was read whole, all its holders, for each new letter. The
answer is the one the look-up through every file's holders gives."""
from __future__ import annotations

import datetime as dt
import random
import sqlite3

import pytest

from gateway.config.settings import load_settings
from gateway.service.services import open_services
from storage import register
from tests.daemon import write_config

UNITS = ("saraban.latkrabang", "saraban.pomprap")
SENDERS = ("saraban.dds@bangkok.go.th", "saraban.moi@bangkok.go.th")
NOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def settings(tmp_path):
    settings = load_settings(write_config(tmp_path))
    with open_services(settings, "pipeline", upgrade_schema=True):
        pass
    return settings


def _fill(settings, letters: list[tuple[str, str, dt.datetime, str, str, list[str]]]) -> None:
    """(unit, sender, received, status, secrecy, files) each, numbered in order."""
    with open_services(settings, "pipeline") as services:
        path = str(services.db.url).split("///", 1)[1]
    con = sqlite3.connect(path)
    for i, (unit, sender, received, status, secrecy, files) in enumerate(letters, start=1):
        con.execute("INSERT INTO letters (id, queue_id, unit, book, year, number, received_at, registered_at, "
                    "sender, urgency, secrecy, facts, findings, raw_sha256, status, review) "
                    "VALUES (?, ?, ?, 'general', 2569, ?, ?, ?, ?, 'normal', ?, '{}', '[]', ?, ?, 'none')",
                    (i, f"q{i}", unit, i, received.isoformat(), received.isoformat(), sender, secrecy, "0" * 64,
                     status))
        con.executemany("INSERT INTO letter_attachments (letter_id, position, filename, sha256, size, content_type) "
                        "VALUES (?, ?, 'f', ?, 1, 'application/pdf')",
                        [(i, position, sha) for position, sha in enumerate(files)])
    con.commit()
    con.close()


def _through_every_file(session, unit, sender, files, since):  # the look-up before FEW_HOLDERS
    holders = session.scalars(register._HOLDING, {"h_files": sorted(files), "h_count": len(files), "h_from": 0}).all()
    if not holders:
        return None
    rows = session.execute(register._SAME_FILES, {"s_ids": holders, "s_unit": unit, "s_since": since,
                                                  "s_sender": sender}).all()
    for row in rows:
        if register._file_hashes(session, row.id) == files:
            return f"{row.number}/{row.year}"
    return None


def _sha(n: int) -> str:
    return f"{n:064x}"


def test_the_rarest_files_holders_give_the_answer_every_files_holders_give(settings):
    rng = random.Random(28)
    pool = [_sha(n) for n in range(1, 9)]  # few files: letters share them often
    letters = []
    for _ in range(40):
        files = rng.sample(pool, rng.randrange(1, 4))
        letters.append((rng.choice(UNITS), rng.choice(SENDERS), NOW - dt.timedelta(days=rng.randrange(0, 60)),
                        rng.choice(["registered", "registered", "cancelled"]), rng.choice(["none", "none", "lab"]),
                        files))
    _fill(settings, letters)
    since = NOW - dt.timedelta(days=30)
    found = 0
    with open_services(settings, "pipeline") as services, services.db.session() as session:
        for _ in range(300):
            if rng.random() < 0.5:  # a registered letter's files, sent again
                files = frozenset(rng.choice(letters)[5])
            else:
                files = frozenset(rng.sample(pool + [_sha(99)], rng.randrange(1, 4)))
            unit, sender = rng.choice(UNITS), rng.choice(SENDERS)
            ours = register.find_same_files(session, unit, sender, files, since)
            assert ours == _through_every_file(session, unit, sender, files, since), (unit, sender, files)
            found += ours is not None
    assert found > 20


def test_a_file_in_every_letter_is_not_read_whole_and_the_letter_sent_again_is_found(settings, monkeypatch):
    emblem, form = _sha(1), _sha(2)
    letters = [(UNITS[0], SENDERS[0], NOW - dt.timedelta(hours=n), "registered", "none", [emblem, _sha(1000 + n)])
               for n in range(300)]
    letters.append((UNITS[0], SENDERS[0], NOW, "registered", "none", [emblem, form]))  # number 301
    _fill(settings, letters)
    read = []
    since = NOW - dt.timedelta(days=30)
    with open_services(settings, "pipeline") as services, services.db.session() as session:
        original = session.scalars

        def scalars(statement, params=None, **kw):
            rows = original(statement, params, **kw).all()
            read.append((statement, len(rows)))
            return _Rows(rows)

        monkeypatch.setattr(session, "scalars", scalars)
        assert register.find_same_files(session, UNITS[0], SENDERS[0], frozenset({emblem, form}), since) == "301/2569"
        assert register.find_same_files(session, UNITS[0], SENDERS[0], frozenset({emblem, _sha(5)}), since) is None
        assert all(statement is not register._HOLDING for statement, _ in read)
        assert max(count for _, count in read) <= register.FEW_HOLDERS
        # Only the emblem, in 301 letters: through every file's holders, as before.
        read.clear()
        assert register.find_same_files(session, UNITS[0], SENDERS[0], frozenset({emblem}), since) is None
        assert any(statement is register._HOLDING for statement, _ in read)


class _Rows(list):
    def all(self):
        return list(self)


def test_a_sender_whose_every_letter_has_the_same_files_is_answered_with_its_latest(settings):
    """The variation where every file is common: each of 200 letters carries the same
    emblem and the same form. The latest of them is the answer, read among the latest
    rows of one of the files, as it is when the files are rare."""
    emblem, form = _sha(1), _sha(2)
    _fill(settings, [(UNITS[0], SENDERS[0], NOW - dt.timedelta(hours=200 - n), "registered", "none", [emblem, form])
                     for n in range(200)]
          + [(UNITS[1], SENDERS[0], NOW, "registered", "none", [form, emblem])])  # number 201, another unit
    since = NOW - dt.timedelta(days=30)
    with open_services(settings, "pipeline") as services, services.db.session() as session:
        assert register.find_same_files(session, UNITS[0], SENDERS[0], frozenset({emblem, form}), since) == "200/2569"
        assert register.find_same_files(session, UNITS[1], SENDERS[0], frozenset({emblem, form}), since) == "201/2569"
        assert register.find_same_files(session, UNITS[0], SENDERS[1], frozenset({emblem, form}), since) is None
