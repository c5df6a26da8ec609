"""IMAP intake red team of 7 Dec 2026 (session 56), through a relay that plays a slow line
to the real Dovecot: a letter whose FETCH takes longer than `lease_ttl` (25 MB over a
district office's 400 kB/s line against the default 60 s; here 470 kB at 100 kB/s against
2 s). The mailbox's lease was renewed between commands only, so it ran out during the
FETCH; recording the letter then found the lease expired (`imap_lease_lost`), the intake
took the lease again, fetched the letter again, and lost the lease again, for ever: the
letter was never registered, and the line carried it again and again. The lease is now
renewed while a letter's body comes in."""
from __future__ import annotations

import time
from types import SimpleNamespace

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config
from tests.letters import letter, make_pdf
from tests.servers.passthrough import PassThrough


class _SlowDownlink(PassThrough):
    """Dovecot's answers at `rate` bytes a second."""

    rate = 100_000

    def carry(self, chunk: bytes, sink, up: bool, state: dict) -> bool:
        sink.sendall(chunk)
        if not up:
            time.sleep(len(chunk) / self.rate)
        return True


def test_a_letter_whose_fetch_outlasts_the_lease_is_taken_once(tmp_path, dovecot, dovecot_user):
    user, password = dovecot_user
    relay = _SlowDownlink(dovecot.port)
    where = SimpleNamespace(host="127.0.0.1", ssl_port=relay.port, cert_path=dovecot.cert_path)
    config = intake_config(where, user, password, tls=False, max_size=1_000_000, lease_ttl=2)
    d = Daemon(write_config(tmp_path / "gw", extra=config))
    message_id = "<long-fetch@dds.bangkok.go.th>"
    dovecot.deliver(user, letter(subject="เรื่อง ภาคผนวกฉบับใหญ่", message_id=message_id,
                                 files=[("ภาคผนวก.pdf", make_pdf("annex", filler=330_000))]))
    try:
        d.start()
        [entry] = d.wait_for(lambda: d.register() or None, timeout=90, what="the letter registered")
        assert entry["message_id"] == message_id
        assert not [e for e in d.events() if e.get("event") == "imap_lease_lost"]
        assert len([e for e in d.events() if e.get("event") == "imap_message_spooled"]) == 1
    finally:
        d.stop()
        relay.close()
