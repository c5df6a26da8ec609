"""IMAP intake red team of 7 Dec 2026 (session 56), against the real Dovecot and daemon:
the password_file of one pulled mailbox cannot be read when the intake reconnects (the
credentials rotated, `/run/credentials/...` gone, a permission changed).

Until now the error was raised outside the mailbox's reconnect loop: it ended the whole
imap-intake runner, which the supervisor restarted every few seconds (`runner_died`,
restarts 4, 5, 6 ...), so every other central mailbox was cut off every few seconds too
and a letter waiting in it was not taken; `status` still said "uid search: not connected".
Now only that mailbox waits, retried with the usual backoff, `status` says which file
cannot be read, and the other mailboxes go on."""
from __future__ import annotations

from tests.imap_helpers import intake_config
from tests.letters import letter


def test_an_unreadable_password_file_stops_only_its_own_mailbox(daemon_factory, dovecot, tmp_path):
    dovecot.add_user("pwfile.one", "pwfile-one-1")
    dovecot.add_user("pwfile.two", "pwfile-two-2")
    secret = tmp_path / "latkrabang.secret"
    secret.write_text("pwfile-one-1\n", encoding="utf-8")
    one = intake_config(dovecot, "pwfile.one", "unused").replace('password = "unused"', f'password_file = "{secret}"')
    two = intake_config(dovecot, "pwfile.two", "pwfile-two-2", unit="saraban.dindaeng")
    d = daemon_factory(extra=one + "\n" + two).start()
    d.wait_for(lambda: len([e for e in d.events() if e.get("event") == "imap_connected"]) >= 2 or None,
               what="both mailboxes connected")

    secret.unlink()
    dovecot.restart()  # both sessions end; each reconnects and reads its password again
    dovecot.deliver("pwfile.two", letter(to="saraban.dindaeng@bangkok.go.th", message_id="<two@dds.bangkok.go.th>"))
    [entry] = d.wait_for(lambda: d.register() or None, timeout=60, what="the other mailbox's letter registered")
    assert (entry["unit"], entry["message_id"]) == ("saraban.dindaeng", "<two@dds.bangkok.go.th>")

    def said():
        mailbox = d.status()["imap_intake"]["imap://pwfile.one@127.0.0.1/INBOX"]
        return mailbox if "password_file" in (mailbox.get("last_error") or "") else None
    mailbox = d.wait_for(said, timeout=60, what="the password file named in status")
    assert f"password_file {secret}: No such file or directory" in mailbox["last_error"], mailbox
    assert "pwfile.one on 127.0.0.1" in mailbox["last_error"], mailbox
    assert "ValueError" not in mailbox["last_error"], mailbox
    assert not [e for e in d.events() if e.get("event") == "runner_died"], \
        [e for e in d.events() if e.get("event") == "runner_died"]

    # Put back: the mailbox is read again, by itself.
    secret.write_text("pwfile-one-1\n", encoding="utf-8")
    dovecot.deliver("pwfile.one", letter(message_id="<one@dds.bangkok.go.th>"))
    entries = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register()), timeout=60,
                         what="the letter of the repaired mailbox registered")
    assert sorted(e["message_id"] for e in entries) == ["<one@dds.bangkok.go.th>", "<two@dds.bangkok.go.th>"]
