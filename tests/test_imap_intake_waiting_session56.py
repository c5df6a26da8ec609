"""IMAP intake red team of 7 Dec 2026 (session 56), against the real Dovecot and daemon:
letters taken from the central mailbox that wait a long time for the register (the
pipeline runner stopped or held on one letter, or another gateway's spool after a
takeover). Until now the intake looked again every 0.2 s for as long as they waited:
a UID SEARCH on the mail server and a committed write of the listing time, five times a
second (47 rounds in 10 s measured with the pipeline runner stopped), for hours if need
be. Now it looks again after 0.2 s, then twice as long each round nothing changed, at
most every 5 s (IDLE meanwhile, so new mail is still taken at once), and says so once
(`imap_waiting_for_register`)."""
from __future__ import annotations

import os
import signal
import sqlite3
import time

from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter
from tests.servers.common import wait_until


def _listed_at(d) -> str:
    db = sqlite3.connect(d.config.parent / "var" / "saraban.db")
    try:
        return str(db.execute("select listed_at from imap_leases").fetchall())
    finally:
        db.close()


def test_letters_waiting_for_the_register_are_looked_for_less_and_less_often(daemon_factory, dovecot,
                                                                              dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), what="intake connected")
    [pipeline] = [e["pid"] for e in d.events() if e.get("event") == "runner_spawned" and e["runner"] == "pipeline-0"]
    os.kill(pipeline, signal.SIGSTOP)  # the daemon's own runner, held as a letter that takes long would hold it
    try:
        dovecot.deliver(user, letter(message_id="<held@dds.bangkok.go.th>"))
        d.wait_for(lambda: any(e.get("event") == "imap_message_spooled" for e in d.events()), what="spooled")
        # Each round writes the listing's time. 0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5 + 5 s: at
        # most 8 rounds in 15 s, however loaded the machine (load only makes fewer); the
        # old 0.2 s made ~70.
        seen = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen.add(_listed_at(d))
            time.sleep(0.05)
        assert len(seen) <= 9, len(seen)
        told = [e for e in d.events() if e.get("event") == "imap_waiting_for_register"]
        assert len(told) == 1 and told[0]["letters"] == 1 and told[0]["look_again_every"] == 5.0, told

        # New mail meanwhile is still taken at once (IDLE), not after the wait.
        dovecot.deliver(user, letter(message_id="<meanwhile@dds.bangkok.go.th>"))
        d.wait_for(lambda: [e for e in d.events() if e.get("event") == "imap_message_spooled"][1:] or None,
                   timeout=60, what="the new letter taken while the first waits")
    finally:
        os.kill(pipeline, signal.SIGCONT)
    entries = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register()), timeout=60,
                         what="both letters registered")
    assert sorted(e["message_id"] for e in entries) == ["<held@dds.bangkok.go.th>", "<meanwhile@dds.bangkok.go.th>"]
    assert wait_until(lambda: mailbox_flags(dovecot, user) == [{"$SarabanRegistered"}] * 2, 60, interval=0.2), \
        mailbox_flags(dovecot, user)
