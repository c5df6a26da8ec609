"""An APPEND the server has whole but commits late is filed once (red team of session 35).

The server got the whole literal and committed it only after the gateway's timeout (a
stalled fsync on NFS or Ceph, a slow plugin). On a reused session the filer took the
timeout for a connection the server had closed and tried again at once, in doubt: its
search found nothing yet, it appended a second time, and then the first landed: two
copies of the letter, same receive number, in the clerk's folder. Now an unanswered
APPEND is not tried again on the spot, and the outbox looks again no sooner than
`UNANSWERED_GRACE` times the timeout (at least a minute)."""
from __future__ import annotations

import threading
import time

import pytest

from gateway.delivery import imap as imap_delivery
from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.intake.imap_session import ImapUnanswered
from storage import outbox
from storage.db import Database
from tests.servers.passthrough import PassThrough

MARKER = b"SLOW-COMMIT-MARKER"
HOLD = 10.0  # the late commit: the literal's last bytes reach Dovecot this much later


class SlowCommitRelay(PassThrough):
    """A pass-through to Dovecot that holds the first upload carrying MARKER for HOLD
    seconds, then hands it on: the server commits that APPEND late."""

    def __init__(self, port: int):
        self.held = threading.Event()
        super().__init__(port)

    def carry(self, chunk: bytes, sink, up: bool, state: dict) -> bool:
        if up and MARKER in chunk and not self.held.is_set():
            self.held.set()
            time.sleep(HOLD)
            sink.sendall(chunk)
            time.sleep(1.0)
            return False
        sink.sendall(chunk)
        return True


def _copy(queue_id: str, body: bytes) -> bytes:
    return (f"Message-ID: <{queue_id}@dds.bangkok.go.th>\r\nX-Saraban-Receive-No: 7/2569\r\n"
            f"X-Saraban-Unit: saraban.latkrabang\r\nX-Saraban-Queue-Id: {queue_id}\r\nSubject: test\r\n\r\n"
            ).encode() + body


def test_an_append_committed_after_the_timeout_is_filed_once(dovecot, dovecot_user):
    user, password = dovecot_user
    relay = SlowCommitRelay(dovecot.port)
    target = ImapTarget(host="127.0.0.1", port=relay.port, tls=False, ca_file=None, verify=True, timeout=4,
                        username=user, password=password, folder="Saraban/latkrabang", keyword="$SarabanRegistered")
    filer = ImapFiler()
    try:
        assert filer.file(target, _copy("0000000000000000aaaa", b"first\r\n"), "0000000000000000aaaa",
                          "saraban.latkrabang", in_doubt=False) == "appended"
        # The session is reused for the next letter, whose APPEND the server commits late.
        late = _copy("0000000000000001bbbb", b"text\r\n" * 2000 + MARKER + b"\r\n")
        with pytest.raises(ImapUnanswered) as raised:
            filer.file(target, late, "0000000000000001bbbb", "saraban.latkrabang", in_doubt=False)
        assert raised.value.retry_after >= 60
        time.sleep(HOLD + 2)  # the server has committed it by now
        # The outbox's next attempt, in doubt, finds it.
        assert filer.file(target, late, "0000000000000001bbbb", "saraban.latkrabang", in_doubt=True) == "found"
    finally:
        filer.close()
        relay.close()
    conn = dovecot.imap(user)
    try:
        conn.select('"Saraban/latkrabang"', readonly=True)
        _, found = conn.uid("SEARCH", "HEADER", "X-Saraban-Queue-Id", "0000000000000001bbbb")
    finally:
        conn.logout()
    assert len(found[0].split()) == 1


def test_the_grace_is_at_least_a_minute_and_grows_with_the_timeout():
    assert imap_delivery.UNANSWERED_GRACE * 30 >= 60  # the default timeout: two minutes


def test_a_failure_that_asks_for_time_is_not_retried_sooner(database_url):
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            item, _ = outbox.add_once(session, "folder", "q9:u", queue_id="q9", unit="u")
        failed = outbox.fail(db, item.id, "ImapUnanswered: append: no answer within 2s", dead_after=3600,
                             retry_base=5, retry_max=3600, at_least=120)
        assert failed.retry_in == 120 and outbox.due(db, ["folder"]) == []
        again = outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=3600)
        assert again.retry_in == 10  # the usual backoff for an ordinary failure
    finally:
        db.dispose()
