"""A letter IMAP intake leaves on the server as too big is not read, so nothing says it
is not ลับ: its subject is kept nowhere (leak red team, 30 Nov 2026).

Before, the subject was fetched on its own and kept for `status`: a ลับมาก letter's
"ลับมาก เรื่อง ..." was in plain in `imap_messages.subject`, in the JSON log
(`imap_message_too_big`) and on the sysadmin's terminal. Through the real Dovecot, as a
sysadmin and an attacker with a copy of the data directory see it."""
from __future__ import annotations

from tests.classified.helpers import MARKER, files_containing, log_lines_containing
from tests.imap_helpers import intake_config
from tests.letters import letter, make_pdf


def test_a_letter_too_big_to_take_leaves_no_subject_anywhere(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.deliver(user, letter(subject=f"ลับมาก แผนรักษาความปลอดภัย {MARKER}",
                                 message_id="<big-secret@dds.bangkok.go.th>",
                                 files=[("2569_dds_0403_57.pdf", make_pdf("big", filler=2_500_000))]))
    d = daemon_factory(extra=intake_config(dovecot, user, password, max_size=2_000_000)).start()
    try:
        d.wait_for(lambda: any(e.get("event") == "imap_message_too_big" for e in d.events()), timeout=60,
                   what="imap_message_too_big")
        [info] = d.status()["imap_intake"].values()
        [big] = info["too_big"]
        # What a person needs to find it in the mailbox, and nothing the letter says.
        assert big["sender"] == "saraban.dds@bangkok.go.th"
        assert big["message_id"] == "<big-secret@dds.bangkok.go.th>"
        assert "subject" not in big
        text = d.cli("status").stdout
        assert "Message-ID <big-secret@dds.bangkok.go.th>" in text and MARKER not in text
        assert MARKER not in d.cli("status", "--json").stdout
    finally:
        d.stop()
    assert log_lines_containing(d, MARKER) == []
    # The database, its WAL, the spool and anything else the daemon wrote.
    assert files_containing(d.config.parent, MARKER) == []
