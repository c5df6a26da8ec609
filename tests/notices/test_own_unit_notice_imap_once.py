"""A notice filed into a unit's IMAP folder is filed once, as the unit's letters are
(red team of 7 Dec 2026, delivery).

With `[notices] own_units = "file"` the acknowledgement to a unit of this gateway goes
into that unit's folder by its own backend. On IMAP an attempt done again (the daemon
killed after the APPEND, before the outbox said done; a connection that dropped before
the server's OK) searched the account for the notice and could never find it: it had
no X-Saraban-Queue-Id, X-Saraban-Unit or seal. The clerk of saraban.dds then had the
same acknowledgement, same receive number, as new mail twice. Now it carries them, with
a seal of its own, and a retry finds it wherever the clerk put it; a message mailed to
the account with the notice's headers does not stand for it. docs/notices.md."""
from __future__ import annotations

import sqlite3

from gateway.intake.imap_session import mailbox_name
from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.test_imap_seal_session37 import _drop_all

DDS = "saraban.dds@bangkok.go.th"
LAT = "saraban.latkrabang@bangkok.go.th"
FOLDER = "Saraban"
DONE = mailbox_name("ดำเนินการแล้ว")


def _notices(dovecot, user: str, folder: str) -> list:  # noqa: ANN001
    return [m for _flags, m in folder_messages(dovecot, user, folder) if m["X-Saraban-Notice"] is not None]


def _again(d: Daemon) -> None:
    """As if the daemon had died after its APPEND, before the notice was recorded done."""
    d.kill9()
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'notice'")
    d.start()
    d.wait_idle()


def _move_to_done(dovecot, user: str) -> None:  # noqa: ANN001 - the clerk files it on
    conn = dovecot.imap(user)
    try:
        assert conn.create(f'"{DONE}"')[0] == "OK"
        conn.select(f'"{FOLDER}"')
        assert conn.uid("MOVE", "1:*", f'"{DONE}"')[0] == "OK"
    finally:
        conn.logout()


def _forge_in_inbox(dovecot, user: str, notice) -> None:  # noqa: ANN001 - the real notice
    """What the letter's sender can write: the Message-ID follows from the queue id (the
    250 gives it), the unit's name from the addresses."""
    forged = (f"From: attacker@example.org\r\nTo: {DDS}\r\nSubject: not the notice\r\n"
              f"Message-ID: {notice['Message-ID']}\r\nX-Saraban-Queue-Id: {notice['X-Saraban-Queue-Id']}\r\n"
              f"X-Saraban-Unit: {notice['X-Saraban-Unit']}\r\nX-Saraban-Notice: ack\r\n\r\nforged\r\n").encode()
    conn = dovecot.imap(user)
    try:
        conn.append("INBOX", None, None, forged)
    finally:
        conn.logout()


def test_a_notice_filed_over_imap_is_not_filed_again_by_an_attempt_done_again(tmp_path, dovecot, dovecot_user):
    user, password = dovecot_user
    extra = notices_config(None, own_units="file") + delivery_config(dovecot, user, password, unit="saraban.dds",
                                                                      folder=FOLDER)
    d = Daemon(write_config(tmp_path / "gw", extra=extra)).start()
    try:
        d.send(letter(to=LAT, sender=DDS, subject="N1 ขอความร่วมมือ"), LAT, sender=DDS)
        d.wait_idle()
        d.wait_for(lambda: _notices(dovecot, user, FOLDER), timeout=30, what="the notice in IMAP")
        [notice] = _notices(dovecot, user, FOLDER)
        assert "N1 ขอความร่วมมือ" in str(notice["Subject"])

        _again(d)  # in its folder: found, not filed again
        assert len(_notices(dovecot, user, FOLDER)) == 1, "the clerk got the acknowledgement twice"
        assert any(e.get("event") == "imap_already_filed" for e in d.events())

        _move_to_done(dovecot, user)  # the clerk filed it on; then an attempt done again
        _again(d)
        assert _notices(dovecot, user, FOLDER) == []
        assert len(_notices(dovecot, user, DONE)) == 1

        # Gone (the clerk deleted it) and a forged look-alike in INBOX: filed again.
        _drop_all(dovecot, user, DONE)
        _forge_in_inbox(dovecot, user, notice)
        _again(d)
        [again] = _notices(dovecot, user, FOLDER)
        assert again["Message-ID"] == notice["Message-ID"] and again["X-Saraban-Copy-Seal"]
        assert str(again["Subject"]) == str(notice["Subject"])
    finally:
        d.stop()
