"""A clerk's IMAP folder whose name holds "* " (an asterisk and a space: "* ด่วน",
"** รอดำเนินการ", the asterisk that sorts a folder first in a mail client).

aioimaplib removed every "* " from an untagged line, not only the line's own, so LIST's
answer named another folder, one that does not exist, and the gateway passed the clerk's
folder over as gone since the LIST (gateway/intake/imap_session.py `_UntaggedLine`).
Against a real Dovecot: a copy moved there is not filed again, and a receive number
filed there is not given again."""
from __future__ import annotations

import sqlite3
import uuid

from gateway.config.settings import load_settings
from gateway.delivery.copy_seal import copy_seal, copy_seal_key
from gateway.intake.imap_session import mailbox_name
from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import letter
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
UNIT = "saraban.latkrabang"
URGENT = mailbox_name("* ด่วน")  # "* &DhQOSA4nDhk-", as Dovecot lists it


def test_a_copy_moved_to_a_folder_named_with_an_asterisk_is_not_filed_again(daemon_factory, dovecot, dovecot_user):
    """The daemon died after the APPEND and before the outbox said done; meanwhile the
    clerk moved the copy into her folder "* ด่วน". The attempt done again looked for it in
    every folder but that one, and filed the letter a second time: two copies, one
    receive number."""
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password)).start()
    queue_id = d.send(letter(), LAT)
    d.wait_idle()
    d.kill9()
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'folder'")
    clerk = dovecot.imap(user)
    try:
        assert clerk.create(f'"{URGENT}"')[0] == "OK"
        clerk.select('"Saraban/latkrabang"')
        assert clerk.uid("MOVE", "1:*", f'"{URGENT}"')[0] == "OK"
    finally:
        clerk.logout()
    d.start()
    d.wait_idle()
    assert d.status()["outbox"]["folder"] == {"done": 1}
    assert folder_messages(dovecot, user, "Saraban/latkrabang") == []
    [(_flags, copy)] = folder_messages(dovecot, user, URGENT)
    assert copy["X-Saraban-Queue-Id"] == queue_id
    assert any(e.get("event") == "imap_already_filed" and e.get("found_in") == URGENT for e in d.events())


def test_a_number_filed_in_a_folder_named_with_an_asterisk_is_not_given_again(tmp_path, dovecot, dovecot_user):
    """At start the gateway reads the receive numbers back from every folder of the
    account (after a restore, the numbers given since the backup). Number 1 of this
    year, filed and moved by the clerk into "* ด่วน", was not read there, and the next
    letter was numbered 1 again: two letters under one เลขรับ."""
    user, password = dovecot_user
    config = write_config(tmp_path, extra=delivery_config(dovecot, user, password))
    settings = load_settings(config)
    year, queue_id = this_be_year(), uuid.uuid4().hex[:24]
    seal = copy_seal(copy_seal_key(settings.data_dir), UNIT, "general", f"1/{year}", queue_id)
    dovecot.create_mailbox(user, "* ด่วน")  # doveadm takes UTF-8
    dovecot.deliver(user, (f"X-Saraban-Receive-No: 1/{year}\r\nX-Saraban-Unit: {UNIT}\r\n"
                           f"X-Saraban-Book: general\r\nX-Saraban-Queue-Id: {queue_id}\r\n"
                           f"X-Saraban-Copy-Seal: {seal}\r\nSubject: [รับ 1/{year}] x\r\n\r\nhello\r\n").encode(),
                    mailbox="* ด่วน")
    d = Daemon(config).start()
    try:
        d.send(letter(), LAT)
        d.wait_idle()
        [entry] = [e for e in d.register() if e["unit"] == UNIT]
        assert entry["receive_no"] == f"2/{year}"
    finally:
        d.stop()
