"""JSON columns (quarantine reasons, a letter's findings, outbox payloads) hold Thai as
UTF-8 text, not as \\u escapes: a Thai reason took 6 bytes a letter instead of 3, and
what an operator reads with sqlite3 or psql was unreadable."""
from __future__ import annotations

from sqlalchemy import text

from storage import quarantine
from storage.db import Database

REASON = {"rule": "executable", "verdict": "fail", "message_th": "ไฟล์แนบเป็นโปรแกรม (ลับ)",
          "message_en": "the attachment is a program", "attachment": "โปรแกรม.exe"}


def test_thai_in_a_json_column_is_stored_as_itself(database_url):
    db = Database(database_url)
    db.create_schema()
    with db.session() as session:
        entry = quarantine.hold(session, queue_id="q46json", unit="saraban.latkrabang",
                                sender="saraban.dds@bangkok.go.th", subject="ขอเชิญประชุม", reasons=[REASON],
                                raw_sha256=None)
        entry_id = entry.id
    with db.read_session() as session:
        stored = session.execute(text("select cast(reasons as text) from quarantine where id = :id"),
                                 {"id": entry_id}).scalar_one()
        [reason] = quarantine.find_entry(session, "q46json", "saraban.latkrabang").reasons
    assert "ไฟล์แนบเป็นโปรแกรม (ลับ)" in stored and "โปรแกรม.exe" in stored, stored
    assert "\\u0e" not in stored.lower(), stored
    assert reason["message_th"] == REASON["message_th"] and reason["attachment"] == "โปรแกรม.exe"
    db.dispose()



def test_a_name_with_an_undecodable_byte_is_still_stored(database_url):
    """A file name's byte that is not UTF-8 is a lone surrogate (surrogateescape), which
    UTF-8 cannot hold: a value with one is written escaped, never refused by the database."""
    from storage import outbox

    db = Database(database_url)
    db.create_schema()
    payload = {"filename": "ไฟล์\udcff.exe", "subject": "ขอเชิญประชุม"}
    with db.session() as session:
        outbox.add_once(session, "notice", "ack:q46odd:u", queue_id="q46odd", unit="u", payload=payload)
    with db.read_session() as session:
        [item] = outbox.items_in_state(session)
        assert item.payload["filename"] in ("ไฟล์\udcff.exe", "ไฟล์\ufffd.exe") and item.payload["subject"] == "ขอเชิญประชุม"
    db.dispose()
    # Whichever column takes it as it is, the serializer writes it escaped.
    from storage.db import _json_text

    import json
    assert json.loads(_json_text(payload)) == payload and "ขอเชิญประชุม" not in _json_text(payload)
    assert "ขอเชิญประชุม" in _json_text({"subject": "ขอเชิญประชุม"})
