"""IMAP intake red team of 7 Dec 2026 (session 56), against the real Dovecot and daemon:
a failure that comes every time after SELECT (here the spool's disk refuses the letter
the intake fetched) reconnected once a second for as long as it lasted: the wait went
back to 1 s at every SELECT, so it never grew (`imap_reconnect` ... `retry_in: 1.0`,
eleven reconnects in twelve seconds, each a TLS handshake, a login and a FETCH of the
letter). And `status` said "connection to ... ended: [Errno 20] Not a directory: ...",
Python's words for the gateway's own disk, as if the server had gone.

Now the wait doubles up to `reconnect_max` until a session gets through a whole round,
and `status` says the gateway cannot write to its own disk. A session that worked and
then lost its connection (Dovecot restarted) still reconnects after 1 s."""
from __future__ import annotations

import os

from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter
from tests.servers.common import wait_until


def _refused_writes(d) -> list[dict]:
    return [e for e in d.events() if e.get("event") == "imap_reconnect" and "Not a directory" in e.get("error", "")]


def test_a_failure_after_select_waits_longer_each_time_and_is_said_in_words(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    config = intake_config(dovecot, user, password).replace("reconnect_max = 2", "reconnect_max = 8")
    d = daemon_factory(extra=config).start()
    d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), what="intake connected")
    tmp = next(p for p in (d.config.parent / "var").rglob("tmp") if p.parent.name == "spool" and p.is_dir())
    away = tmp.with_name("tmp.away")
    os.rename(tmp, away)
    tmp.write_text("not a directory")
    try:
        dovecot.deliver(user, letter(message_id="<waits@dds.bangkok.go.th>"))
        refused = d.wait_for(lambda: (lambda r: r if len(r) >= 4 else None)(_refused_writes(d)), timeout=90,
                             what="four refused spool writes")
        assert [e["retry_in"] for e in refused[:4]] == [1.0, 2.0, 4.0, 8.0], refused
    finally:
        tmp.unlink()
        os.rename(away, tmp)
    # `status` itself needs the spool: read once it is repaired; the last error stays shown.
    text = d.cli("status").stdout
    [error] = [line for line in text.splitlines() if "last error" in line]
    assert "the gateway cannot write to its own disk (the spool) (Not a directory:" in error, error
    assert "new messages stay in the mailbox" in error, error
    assert "Errno" not in error and "NotADirectoryError" not in error, error

    # Repaired: the letter is taken once; a working session that loses its server
    # afterwards is tried again after 1 s, not after the 8 s the failures had reached.
    entries = d.wait_for(lambda: d.register() or None, timeout=60, what="the letter registered")
    assert [e["message_id"] for e in entries] == ["<waits@dds.bangkok.go.th>"], entries
    assert wait_until(lambda: mailbox_flags(dovecot, user) == [{"$SarabanRegistered"}], 30, interval=0.2)
    seen = len([e for e in d.events() if e.get("event") == "imap_reconnect"])
    dovecot.restart()
    after = d.wait_for(lambda: [e for e in d.events() if e.get("event") == "imap_reconnect"][seen:] or None,
                       timeout=60, what="the reconnect after the restart")
    assert after[0]["retry_in"] == 1.0, after
    dovecot.deliver(user, letter(message_id="<after@dds.bangkok.go.th>"))
    d.wait_for(lambda: len(d.register()) == 2 or None, timeout=60, what="the next letter registered")
