"""The verdict in the register, on SQLite and PostgreSQL (migration 0005_sender_auth)."""
from __future__ import annotations

import datetime as dt

from gateway.sender.results import DkimSignature, SenderAuth, sender_label
from storage.db import Database
from storage.messages import finish_message, get_message
from storage.models import Message
from storage.register import NewLetter, letter_as_dict, query_letters, register_letter

RECEIVED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def test_sender_verdict_round_trips_in_the_register(database_url):
    db = Database(database_url)
    db.create_schema()  # every migration, 0005_sender_auth included
    auth = SenderAuth(status="fail", from_domain="moi.go.th", spf="pass", spf_domain="m0i-go.example",
                      dkim=[DkimSignature("m0i-go.example", "sel2569", "pass")], dmarc="fail",
                      dmarc_policy="reject", reason="no aligned DKIM signature or SPF pass").stamp()
    try:
        with db.session() as session:
            session.add(Message(queue_id="q-auth", received_at=RECEIVED, mail_from="x@m0i-go.example",
                                recipients=["saraban.latkrabang"], size=1, sha256="0" * 64,
                                state="processing", attempts=1, outcome={}))
            session.flush()
            register_letter(session, NewLetter(queue_id="q-auth", unit="saraban.latkrabang", book="general",
                                               received_at=RECEIVED, sender="saraban@moi.go.th",
                                               raw_sha256="0" * 64, subject="โอนเงินด่วน",
                                               sender_auth=auth.as_dict()))
            finish_message(session, "q-auth", "done", {}, sender_auth=auth.as_dict())
        with db.session() as session:
            [letter] = query_letters(session, unit="saraban.latkrabang")
            stored = letter_as_dict(letter)["sender_auth"]
            assert SenderAuth.from_dict(stored) == auth
            assert sender_label(stored) == "ยืนยันผู้ส่ง: ไม่ผ่าน (moi.go.th)"
            assert get_message(session, "q-auth").sender_auth["dmarc_policy"] == "reject"
    finally:
        db.dispose()
