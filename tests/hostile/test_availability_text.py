"""Text no database accepts as it is: a NUL in the subject or in a file name, a lone
surrogate from invalid UTF-8. The letter is registered on SQLite and PostgreSQL alike
(the NUL shown as U+FFFD), not retried forever."""
from __future__ import annotations

from storage.db import Database
from storage.models import Message
from tests.letters import letter, make_pdf

UNIT = "saraban.latkrabang@bangkok.go.th"


def _nul_letter() -> bytes:
    raw = letter(files=[("2569_dds_0403_276.pdf", make_pdf("x"))])
    raw = raw.replace(b"Subject: ", b"Subject: =?utf-8?q?NUL=00in_subject?= ", 1)
    return raw.replace(b'filename="2569_dds_0403_276.pdf"', b'filename*=utf-8\'\'2569_dds%00_0403_276.pdf', 1)


def test_a_nul_in_subject_and_file_name_is_registered(database_url, daemon_factory):
    daemon = daemon_factory("gw", database_url=database_url).start()
    queue_id = daemon.send(_nul_letter(), UNIT)
    daemon.wait_idle(120)
    rows = [r for r in daemon.register() if r.get("queue_id") == queue_id]
    assert len(rows) == 1, daemon.log_tail()
    assert not any((daemon.data_dir / "spool" / "failed").iterdir())
    assert not any(e.get("event") == "process_failed" for e in daemon.events()), daemon.log_tail()


def test_storage_replaces_what_postgresql_and_sqlite_refuse(tmp_path):
    import datetime as dt

    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.create_schema()
    with db.session() as session:
        session.add(Message(queue_id="q1", received_at=dt.datetime.now(dt.timezone.utc),
                            mail_from="a\x00b@example.org", recipients=["x\udcff@y"], size=1,
                            sha256="0" * 64, state="processing", attempts=1, outcome={"s": "c\x00d"}))
    with db.session() as session:
        message = session.get(Message, "q1")
        assert message.mail_from == "a\ufffdb@example.org"
        assert message.recipients == ["x\ufffd@y"]
        assert message.outcome == {"s": "c\ufffdd"}
    db.dispose()
