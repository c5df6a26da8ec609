"""Session 38: a ลับที่สุด (top secret) refusal must be recorded and counted, also when
the register cannot take the record at that moment (its SQLite file moved away or
replaced by a restore while the daemon runs).

Before: the supervisor's pooled connection wrote the record into the file that had
gone, and after a restore by rename it was counted nowhere; with the database away, it
was lost with a log line that named nothing of it."""
from __future__ import annotations

import json
import os
import sqlite3

from tests.classified.helpers import LATKRABANG, MARKER, classified_letter, db_rows, make_gateway_key

OWED = "refusals-owed.json"


def _refused(d, message_id: str) -> None:
    raw, _ = classified_letter("ลับที่สุด", message_id=message_id)
    with d.smtp() as client:
        client.ehlo("test.example")
        client.mail("saraban.dds@bangkok.go.th")
        client.rcpt(LATKRABANG)
        code, _reply = client.data(raw)
    assert code == 550


def _recorded(d) -> list[str]:
    return sorted(m for (m,) in db_rows(d, "select message_id from refusals where reason = 'top_secret'"))


def _started_with_one_refusal(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    _refused(d, "<ts-1@dds.bangkok.go.th>")
    d.wait_for(lambda: _recorded(d) == ["<ts-1@dds.bangkok.go.th>"], what="the first refusal recorded")
    return d


def test_a_refusal_while_the_register_file_is_replaced_is_counted_in_the_register_in_force(daemon_factory, tmp_path):
    d = _started_with_one_refusal(daemon_factory)

    path = d.data_dir / "saraban.db"
    backup = tmp_path / "backup.db"
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(target)
    source.close()
    target.close()
    os.rename(backup, path)  # a restore by rename while the daemon runs

    _refused(d, "<ts-2@dds.bangkok.go.th>")
    [said] = [e for e in d.wait_for_event("refusal_not_recorded", 30, message_id="<ts-2@dds.bangkok.go.th>")
              if e.get("event") == "refusal_not_recorded"]
    assert said["mail_from"] == "saraban.dds@bangkok.go.th" and said["reason"] == "top_secret", said
    kept = (d.data_dir / OWED).read_text(encoding="utf-8")
    assert "<ts-2@dds.bangkok.go.th>" in kept and MARKER not in kept  # who and when, never the content

    assert d.stop() == 0
    d.start()  # the file in place is taken as the restored register
    d.wait_for_event("refusals_recorded_late", 30)
    assert _recorded(d) == ["<ts-1@dds.bangkok.go.th>", "<ts-2@dds.bangkok.go.th>"]
    assert not (d.data_dir / OWED).exists()
    assert d.status()["refused"] == {"top_secret": 2}
    assert "Traceback" not in d.log_path.read_text()


def test_a_refusal_while_the_register_file_is_away_is_recorded_once_when_it_is_back(daemon_factory, tmp_path):
    d = _started_with_one_refusal(daemon_factory)

    path = d.data_dir / "saraban.db"
    away = tmp_path / "away.db"
    os.rename(path, away)
    _refused(d, "<ts-2@dds.bangkok.go.th>")
    _refused(d, "<ts-3@dds.bangkok.go.th>")
    d.wait_for_event("refusal_not_recorded", 30, message_id="<ts-3@dds.bangkok.go.th>")
    assert not path.exists()  # no new, empty register made for the record
    owed = json.loads((d.data_dir / OWED).read_text(encoding="utf-8"))
    assert [r["message_id"] for r in owed] == ["<ts-2@dds.bangkok.go.th>", "<ts-3@dds.bangkok.go.th>"]

    os.rename(away, path)  # put back
    d.wait_for_event("refusals_recorded_late", 30)
    assert _recorded(d) == ["<ts-1@dds.bangkok.go.th>", "<ts-2@dds.bangkok.go.th>", "<ts-3@dds.bangkok.go.th>"]
    assert not (d.data_dir / OWED).exists()
    # Restarted with the file that owed them gone only now: nothing is written twice.
    assert d.stop() == 0
    d.start()
    d.wait_idle()
    assert d.status()["refused"] == {"top_secret": 3}
    assert "Traceback" not in d.log_path.read_text()
