"""Delivery and intake against the real Dovecot (tests/servers/dovecot.py), round 2 of the
red team (session 20), as the clerk's mail client and the operator see it:

1. a copy filed just before a crash, which the clerk then moved on to another folder (or
   whose folder was renamed) before the gateway came back, is found there: it is not
   appended a second time (the clerk saw the same letter, same receive number, as new
   twice);
2. that search across the account never takes the secret registrar's sealed copy (same
   queue id and unit, in the same account by default) for the folder copy, nor the
   other way round, and opens the clerks' folders read-only: their new mail stays new
   (\\Recent);
3. a big letter over a slow link to the mail server is filed once: the APPEND's deadline
   is the session's `timeout` without progress, not for the whole upload (aioimaplib's
   own timer cut every such APPEND at `timeout`);
4. an APPEND given up on over a stalled link is reset, not closed: what the kernel still
   held of it no longer reaches the server after the retry has filed the copy (two
   copies in the clerk's folder).
5. a big letter in a pulled central mailbox over a slow link is taken: the body's FETCH
   has `timeout` without progress too (it ended the session at that FETCH each time,
   and `status` called it a message the server cannot read).

Cases 1, 3, 4 and 5 share one daemon whose IMAP goes through a relay (`_Relay`) playing the
network between the gateway and the mail server.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.intake.imap_session import mailbox_name
from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, folder_messages, folders, intake_config
from tests.letters import letter, make_pdf
from tests.servers.passthrough import PassThrough

LAT = "saraban.latkrabang@bangkok.go.th"
TARGET = "Saraban/latkrabang"


def _pending_again(d) -> None:
    """As if the daemon died after its APPENDs but before the outbox rows said done."""
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 0 WHERE kind = 'folder'")


class _Relay(PassThrough):
    """The network between the gateway and Dovecot's plaintext port. Its uplink carries
    `rate` bytes a second, its downlink `down_rate` (None: as fast as it goes), and it
    holds the first bytes of the next APPEND's letter for `stall` seconds; `stalled_ended` is set when that
    connection is over."""

    def __init__(self, port: int):
        self.rate, self.down_rate, self.stall = None, None, 0.0
        self.stalled_ended = threading.Event()
        super().__init__(port)

    def carry(self, chunk: bytes, sink: socket.socket, up: bool, state: dict) -> bool:
        sink.sendall(chunk)
        if up and self.stall and b" APPEND " in chunk:  # the command; its letter follows
            state["stalled"], pause, self.stall = True, self.stall, 0.0
            time.sleep(pause)
        rate = self.rate if up else self.down_rate
        if rate:
            time.sleep(len(chunk) / rate)
        return True

    def ended(self, up: bool, state: dict) -> None:
        if state.get("stalled"):
            self.stalled_ended.set()


@pytest.fixture(scope="module")
def relayed(dovecot, tmp_path_factory):
    """(daemon, relay, user): the unit's folder copies go to `user`'s account, and the
    central mailbox `user`-central is read, both through the relay, IMAP timeout 2 s."""
    user, password = f"s20relay{os.getpid()}", "relay-secret-20"
    dovecot.add_user(user, password)
    dovecot.add_user(f"{user}-central", password)
    relay = _Relay(dovecot.port)
    where = SimpleNamespace(host="127.0.0.1", ssl_port=relay.listener.getsockname()[1], cert_path=dovecot.cert_path)
    config = delivery_config(where, user, password).replace("tls = true", "tls = false") + intake_config(
        where, f"{user}-central", password, tls=False, max_size=1_000_000)
    d = Daemon(write_config(tmp_path_factory.mktemp("s20imap"), extra=config.replace("timeout = 10", "timeout = 2")))
    d.start()
    yield d, relay, user
    d.stop()
    relay.listener.close()


def _filed(d, more: int) -> None:
    """Until `more` copies more than now are filed."""
    done = d.status_here()["outbox"].get("folder", {}).get("done", 0)
    d.wait_for(lambda: d.status_here()["outbox"].get("folder") == {"done": done + more}, timeout=60,
               what=f"{more} copies more filed")


def _copies(dovecot, user: str, message_id: str) -> int:
    return sum(m["Message-ID"] == message_id for _, m in folder_messages(dovecot, user, TARGET))


def test_a_big_letter_over_a_slow_link_is_filed_once(relayed, dovecot):
    d, relay, user = relayed
    big, message_id = make_pdf("annex", filler=250_000), "<big-slow@dds.bangkok.go.th>"
    relay.rate = 100_000  # ~350 kB on the wire: ~3.5 s, more than the 2 s timeout
    try:
        d.send(letter(subject="เรื่อง แผนที่ฉบับใหญ่", message_id=message_id, files=[("แผนที่.pdf", big)]), LAT)
        _filed(d, 1)  # on main: cut at 2 s, tried again, and three copies filed
    finally:
        relay.rate = None
    [copy] = [m for _, m in folder_messages(dovecot, user, TARGET) if m["Message-ID"] == message_id]
    [pdf] = [part for part in copy.iter_attachments() if part.get_filename() == "แผนที่.pdf"]
    assert pdf.get_content() == big
    # One copy (on main: three): not cut while the bytes moved. A retry after the upload
    # (a server slow to answer on a loaded machine) finds that copy and appends nothing.
    assert _copies(dovecot, user, message_id) == 1


def test_an_append_given_up_on_over_a_stalled_link_does_not_land_after_the_retry(relayed, dovecot):
    d, relay, user = relayed
    message_id = "<stalled-link@dds.bangkok.go.th>"
    relay.stall = 6.0  # more than twice the 2 s the gateway waits without progress
    d.send(letter(message_id=message_id), LAT)
    _filed(d, 1)
    assert relay.stalled_ended.wait(30)  # the relay let go of what it held
    # Dovecot is done with the stalled connection once it logs its end (on main: after
    # storing the letter that got through late).
    log = Path(dovecot.config_path).parent / "dovecot.log"
    d.wait_for(lambda: any("APPEND" in line and "Disconnected" in line and user in line
                           for line in log.read_text(errors="replace").splitlines()), timeout=30,
               what="Dovecot's end of the stalled session")
    assert _copies(dovecot, user, message_id) == 1  # on main: 2
    assert [e for e in d.events() if e.get("event") in ("imap_reconnect", "delivery_retry")
            and "append to Saraban/latkrabang: no answer within 2s" in e.get("error", "")]


def test_a_big_letter_in_the_central_mailbox_over_a_slow_link_is_taken(relayed, dovecot):
    """Intake's FETCH of the body: `timeout` without progress, not `timeout` + 1 s per MB
    of max_size for the whole body (on main: the session ended at that FETCH each time,
    the message listed in `status` as one the server cannot read, never registered)."""
    d, relay, user = relayed
    message_id = "<big-central@dds.bangkok.go.th>"
    relay.down_rate = 100_000  # ~470 kB on the wire: ~4.7 s; on main 2 s + 1 s per MB of max_size
    try:
        dovecot.deliver(f"{user}-central", letter(subject="เรื่อง ภาคผนวกฉบับใหญ่", message_id=message_id,
                                                  files=[("ภาคผนวก.pdf", make_pdf("annex", filler=330_000))]))
        d.wait_for(lambda: [e for e in d.register() if e["message_id"] == message_id], timeout=60,
                   what="the big letter of the central mailbox registered")
    finally:
        relay.down_rate = None
    assert "cannot read it" not in d.cli("status").stdout


def test_a_copy_the_clerk_moved_on_before_the_retry_is_not_filed_twice(relayed, dovecot):
    """Last of the module: it kills the daemon."""
    d, _relay, user = relayed
    moved_id, kept_id = "<moved-on@dds.bangkok.go.th>", "<left-in-place@dds.bangkok.go.th>"
    d.send(letter(subject="เรื่อง ที่เสนอแล้ว", message_id=moved_id), LAT)
    d.send(letter(subject="เรื่อง ที่ยังรอ", message_id=kept_id), LAT)
    d.wait_idle()
    d.kill9()
    _pending_again(d)  # the module's earlier letters too: found where they are

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
    assert in_target.count(kept_id) == 1 and moved_id not in in_target  # on main: appended again
    assert in_done == [moved_id]
    found = {e["found_in"] for e in d.events() if e.get("event") == "imap_already_filed"}
    assert done in found and TARGET in found


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




def test_the_search_in_doubt_leaves_the_clerks_new_mail_new(dovecot, dovecot_user):
    """Searching the account's other folders opens them read-only (EXAMINE): a SELECT
    would take \\Recent from the clerk's new mail in their INBOX."""
    user, password = dovecot_user
    dovecot.deliver(user, letter(message_id="<clerks-own@dds.bangkok.go.th>"))
    target = ImapTarget(host=dovecot.host, port=dovecot.ssl_port, tls=True, ca_file=str(dovecot.cert_path),
                        verify=True, timeout=10, username=user, password=password, folder=TARGET,
                        keyword="$SarabanRegistered")
    queue_id = "00000000000000200003"
    copy = (f"X-Saraban-Unit: saraban.latkrabang\r\nX-Saraban-Queue-Id: {queue_id}\r\n"
            "Subject: test\r\n\r\nbody\r\n").encode()
    filer = ImapFiler()
    try:
        assert filer.file(target, copy, queue_id, "saraban.latkrabang", in_doubt=True) == "appended"
    finally:
        filer.close()
    [(flags, _)] = folder_messages(dovecot, user, "INBOX")
    assert "\\Recent" in flags
