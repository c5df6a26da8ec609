"""IMAP intake red team of 7 Dec 2026 (session 56), against the real Dovecot through a
relay: a message another client expunges after the gateway read its headers and before
it fetched its body (a clerk deleting a spam mail in the central mailbox). Dovecot then
answers the body FETCH with `BODY[] NIL`. Until now that was taken for a message the mail
server cannot read: `imap_message_unreadable` at error level, and `status` told the
sysadmin "the mail server cannot read it ... see the mail server's log" until the next
retry found it gone. Now it is recorded gone at once, and `status` says so (Thai and
English). The next letter is taken as usual."""
from __future__ import annotations

from types import SimpleNamespace

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config
from tests.letters import letter
from tests.servers.passthrough import PassThrough


class _ExpungeBeforeBody(PassThrough):
    """Holds the gateway's first body FETCH until `expunge()` has removed the message."""

    def __init__(self, port: int, expunge):
        self.expunge, self.done = expunge, False
        super().__init__(port)

    def carry(self, chunk: bytes, sink, up: bool, state: dict) -> bool:
        if up and not self.done and b"BODY.PEEK[]" in chunk:
            self.done = True
            self.expunge()
        sink.sendall(chunk)
        return True


def test_a_message_expunged_before_its_body_is_fetched_is_gone_not_unreadable(tmp_path, dovecot, dovecot_user):
    user, password = dovecot_user

    def expunge() -> None:
        dovecot.doveadm("expunge", "-u", user, "mailbox", "INBOX", "header", "Message-ID", "<spam@example.com>")

    relay = _ExpungeBeforeBody(dovecot.port, expunge)
    where = SimpleNamespace(host="127.0.0.1", ssl_port=relay.port, cert_path=dovecot.cert_path)
    d = Daemon(write_config(tmp_path / "gw", extra=intake_config(where, user, password, tls=False)))
    dovecot.deliver(user, letter(sender="someone@example.com", message_id="<spam@example.com>"))
    try:
        d.start()
        [mailbox] = d.wait_for(lambda: [m for m in d.status()["imap_intake"].values() if m.get("gone")] or None,
                               timeout=60, what="the expunged message recorded")
        assert [g["message_id"] for g in mailbox["gone"]] == ["<spam@example.com>"], mailbox
        assert mailbox["unreadable"] == [], mailbox
        text = d.cli("status").stdout
        assert "cannot read it" not in text, text
        assert "gone from the mailbox before it was registered" in text and "หายไปจากกล่องจดหมาย" in text, text
        assert "removed from the mailbox (by a person or another client) before the gateway read it" in text, text
        assert not [e for e in d.events() if e.get("event") == "imap_message_unreadable"]

        dovecot.deliver(user, letter(message_id="<next@dds.bangkok.go.th>"))
        [entry] = d.wait_for(lambda: d.register() or None, timeout=60, what="the next letter registered")
        assert entry["message_id"] == "<next@dds.bangkok.go.th>"
    finally:
        d.stop()
        relay.close()
