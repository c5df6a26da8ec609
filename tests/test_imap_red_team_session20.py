"""Delivery and intake against the real Dovecot (tests/servers/dovecot.py), round 2 of the
red team (session 20), as the clerk's mail client and the operator see it:

1. a copy filed just before a crash, which the clerk then moved on to another folder (or
   whose folder was renamed) before the gateway came back, is found there: it is not
   appended a second time (the clerk saw the same letter, same receive number, as new
   twice);
2. that search across the account never takes the secret registrar's sealed copy (same
   queue id and unit, in the same account by default) for the folder copy, nor the
   other way round.
"""
from __future__ import annotations

import sqlite3

from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.intake.imap_session import mailbox_name
from tests.imap_helpers import delivery_config, folder_messages, folders
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
TARGET = "Saraban/latkrabang"


def _pending_again(d) -> None:
    """As if the daemon died after the APPENDs but before the outbox rows said done."""
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 0 WHERE kind = 'folder'")


def test_a_copy_the_clerk_moved_on_before_the_retry_is_not_filed_twice(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password)).start()
    moved_id, kept_id = "<moved-on@dds.bangkok.go.th>", "<left-in-place@dds.bangkok.go.th>"
    d.send(letter(subject="เรื่อง ที่เสนอแล้ว", message_id=moved_id), LAT)
    d.send(letter(subject="เรื่อง ที่ยังรอ", message_id=kept_id), LAT)
    d.wait_idle()
    d.kill9()
    _pending_again(d)

    # While the gateway is down the clerk files one letter on, into a Thai sub-folder.
    done = mailbox_name(f"{TARGET}/ดำเนินการแล้ว")
    conn = dovecot.imap(user)
    try:
        assert conn.create(f'"{done}"')[0] == "OK"
        conn.select(f'"{TARGET}"')
        _, found = conn.uid("SEARCH", None, "HEADER", "Message-ID", moved_id)
        assert conn.uid("MOVE", found[0].decode(), f'"{done}"')[0] == "OK"
    finally:
        conn.logout()

    d.start()
    d.wait_idle()
    in_target = [m["Message-ID"] for _, m in folder_messages(dovecot, user, TARGET)]
    in_done = [m["Message-ID"] for _, m in folder_messages(dovecot, user, done)]
    assert (in_target, in_done) == ([kept_id], [moved_id])  # on main: the moved one was appended again
    found = {e["found_in"] for e in d.events() if e.get("event") == "imap_already_filed"}
    assert found == {TARGET, done}


def test_the_registrars_sealed_copy_is_not_taken_for_the_folder_copy(dovecot, dovecot_user):
    """The registrar's copy carries the letter's queue id and unit too, and by default
    goes to the unit's account (Saraban/{folder}/Secret): searched for in every folder,
    one must not pass for the other, whichever is filed first."""
    user, password = dovecot_user

    def target(folder: str) -> ImapTarget:
        return ImapTarget(host=dovecot.host, port=dovecot.ssl_port, tls=True, ca_file=str(dovecot.cert_path),
                          verify=True, timeout=10, username=user, password=password, folder=folder,
                          keyword="$SarabanRegistered")

    def copy(queue_id: str, message_id: str) -> bytes:
        return (f"X-Saraban-Unit: saraban.latkrabang\r\nX-Saraban-Queue-Id: {queue_id}\r\n"
                f"Message-ID: {message_id}\r\nSubject: test\r\n\r\nbody\r\n").encode()

    folder, secret = target("Saraban/lat"), target("Saraban/lat/Secret")
    filer = ImapFiler()
    try:
        first, second = "00000000000000200001", "00000000000000200002"
        sealed = f"<{first}.saraban.latkrabang@bangkok.go.th>"
        assert filer.file(secret, copy(first, sealed), first, "saraban.latkrabang", in_doubt=False) == "appended"
        assert filer.file(folder, copy(first, "<a@dds>"), first, "saraban.latkrabang", in_doubt=True) == "appended"
        assert filer.file(folder, copy(second, "<b@dds>"), second, "saraban.latkrabang", in_doubt=False) == "appended"
        sealed = f"<{second}.saraban.latkrabang@bangkok.go.th>"
        assert filer.file(secret, copy(second, sealed), second, "saraban.latkrabang", in_doubt=True) == "appended"
        # And each is found where it is, once there.
        assert filer.file(secret, copy(second, sealed), second, "saraban.latkrabang", in_doubt=True) == "found"
    finally:
        filer.close()
    assert len(folder_messages(dovecot, user, "Saraban/lat")) == 2
    assert len(folder_messages(dovecot, user, "Saraban/lat/Secret")) == 2
    assert sorted(folders(dovecot, user)) == ["INBOX", "Saraban", "Saraban/lat", "Saraban/lat/Secret"]
