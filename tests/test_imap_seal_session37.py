"""A message with the gateway's headers, put in a unit's mailbox by someone else, is not
taken for the folder copy (session 37).

An attempt done again (after a crash, a lost answer) first looks for the copy an
earlier attempt may have stored, by X-Saraban-Queue-Id, X-Saraban-Unit and the
Message-ID. All three are known to the letter's sender (the 250 names the queue id; the
copy keeps the sender's Message-ID), and anyone may mail a unit's mailbox: such a
message stood for the copy, and the copy was never filed, its outbox item done. The
copy's X-Saraban-Copy-Seal (an HMAC under the gateway's key, since session 36) must now
match too (gateway/delivery/imap.py `_holds`)."""
from __future__ import annotations

import email
import email.policy
import sqlite3
import time

from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _forge(dovecot, user: str, folder: str, copy) -> None:  # noqa: ANN001 - the real copy
    """What a sender can write: the copy's gateway headers and Message-ID, no seal."""
    forged = (f"From: attacker@example.org\r\nTo: {LAT}\r\nSubject: not the letter\r\n"
              f"Message-ID: {copy['Message-ID']}\r\nX-Saraban-Queue-Id: {copy['X-Saraban-Queue-Id']}\r\n"
              f"X-Saraban-Unit: {copy['X-Saraban-Unit']}\r\nX-Saraban-Receive-No: {copy['X-Saraban-Receive-No']}\r\n"
              "\r\nforged\r\n").encode()
    conn = dovecot.imap(user)
    try:
        conn.append(f'"{folder}"', None, None, forged)
    finally:
        conn.logout()


def _drop_all(dovecot, user: str, folder: str) -> None:
    conn = dovecot.imap(user)
    try:
        conn.select(f'"{folder}"')
        conn.uid("STORE", "1:*", "+FLAGS", r"(\Deleted)")
        conn.expunge()
    finally:
        conn.logout()


def test_a_forged_copy_in_the_folder_does_not_stand_for_the_letter(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    folder = "Saraban/latkrabang"
    d = daemon_factory(extra=delivery_config(dovecot, user, password)).start()
    d.send(letter(), LAT)
    d.wait_idle()
    [(_, copy)] = folder_messages(dovecot, user, folder)
    assert copy["X-Saraban-Copy-Seal"]
    d.kill9()
    # As if the daemon had died before its APPEND, and meanwhile the sender, who knows
    # the queue id, mailed the unit's mailbox a message with the copy's headers.
    _drop_all(dovecot, user, folder)
    _forge(dovecot, user, folder, copy)
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'folder'")
    d.start()
    d.wait_idle()
    messages = [m for _, m in folder_messages(dovecot, user, folder)]
    sealed = [m for m in messages if m["X-Saraban-Copy-Seal"]]
    assert len(messages) == 2 and len(sealed) == 1, [m["Subject"] for m in messages]
    assert sealed[0]["X-Saraban-Copy-Seal"] == copy["X-Saraban-Copy-Seal"]
    assert not any(e.get("event") == "imap_already_filed" for e in d.events())
    # The real copy, once there, is found by the next attempt done again: filed once.
    d.kill9()
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'folder'")
    d.start()
    d.wait_idle()
    assert len(folder_messages(dovecot, user, folder)) == 2
    assert any(e.get("event") == "imap_already_filed" for e in d.events())
