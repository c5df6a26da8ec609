"""What a classified letter pulled from a central mailbox becomes, against the real Dovecot
(IMAP intake red team of 7 Dec 2026, session 56; docs/imap.md "Classified letters").

Over IMAP nothing can be refused: the letter is in the mail server before the gateway
sees it. A ลับที่สุด letter (which must go on paper, 004_8330e198fdfca3a1.txt) is held in
quarantine (`top_secret`), never registered, and stays where it is in the central mailbox
with `$SarabanQuarantined`, never moved to `processed_folder`; a ลับมาก letter is
registered in the secret book and handled like any registered letter on the server
(keyword, moved). The gateway deletes nothing from the mail server: the copy there is
the mail server's, outside the gateway's encryption."""
from __future__ import annotations

import json

from gateway.intake.imap_session import mailbox_name
from tests.classified.helpers import add_registrar, classified_letter, db_rows, make_gateway_key
from tests.imap_helpers import folder_messages, intake_config
from tests.letters import letter
from tests.servers.common import wait_until


def _ids(dovecot, user: str, folder: str) -> dict[str, set[str]]:
    return {m["Message-ID"]: flags - {"\\Recent"} for flags, m in folder_messages(dovecot, user, mailbox_name(folder))}


def test_classified_letters_over_imap_are_held_or_registered_secret_and_left_on_the_server(daemon_factory, dovecot,
                                                                                           dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password, processed_folder="Saraban/Registered"))
    make_gateway_key(d)
    add_registrar(d)
    top, _ = classified_letter("ลับที่สุด", message_id="<top@dds.bangkok.go.th>")
    secret, _ = classified_letter("ลับมาก", message_id="<secret@dds.bangkok.go.th>")
    for raw in (top, secret, letter(message_id="<plain@dds.bangkok.go.th>")):
        dovecot.deliver(user, raw)
    d.start()

    def finished():
        rows = db_rows(d, "select state from messages")
        return len(rows) == 3 and all(s in ("done", "quarantined") for (s,) in rows)
    d.wait_for(finished, timeout=120, what="three letters finished")

    books = {e["message_id"]: (e["book"], e["secrecy"]) for e in d.register()}
    assert books == {"<secret@dds.bangkok.go.th>": ("secret", "secret"),
                     "<plain@dds.bangkok.go.th>": ("general", "none")}, books
    [(reasons,)] = db_rows(d, "select reasons from quarantine")
    assert [r["rule"] for r in json.loads(reasons)] == ["top_secret"], reasons

    expected_inbox = {"<top@dds.bangkok.go.th>": {"$SarabanQuarantined"}}
    assert wait_until(lambda: _ids(dovecot, user, "INBOX") == expected_inbox, 60, interval=0.2), \
        _ids(dovecot, user, "INBOX")
    assert wait_until(lambda: _ids(dovecot, user, "Saraban/Registered") == {
        "<secret@dds.bangkok.go.th>": {"$SarabanRegistered"}, "<plain@dds.bangkok.go.th>": {"$SarabanRegistered"}},
        60, interval=0.2), _ids(dovecot, user, "Saraban/Registered")
