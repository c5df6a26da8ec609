"""An APPEND whose connection is reset after the letter went whole is filed once
(red team of 7 Dec 2026, delivery).

The connection to the mail server ends after our APPEND's literal went out whole and
before its answer came: a proxy in front of Dovecot (a director, a load balancer)
restarted, a firewall dropped the flow, the server's own `* BYE` as it shut down. The
server may have the letter and be committing it still (a stalled fsync on NFS or Ceph).
The filer took that for a connection that never carried the letter and tried again at
once on a new one: its search found nothing yet, it appended again, and then the first
landed; two copies, same receive number, in the clerk's folder. A first attempt fared
no better, the outbox's next try coming 5 s later. Now a connection lost after the
literal went out is an APPEND in doubt, as one unanswered within `timeout` is
(test_imap_slow_commit_session35.py): it is looked for once at once (most often the
reset took the server's OK with it, and the letter is there), and when it is not there
yet the next attempt looks first, no sooner than UNANSWERED_GRACE. docs/imap.md, "IMAP
APPEND"."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.intake.imap_session import ImapUnanswered
from tests.servers.passthrough import PassThrough

MARKER = b"RESET-AFTER-UPLOAD-MARKER"
HOLD = 8.0  # the server commits the letter this long after the client's connection was reset
FOLDER = "Saraban/latkrabang"


class ResetAfterUpload(PassThrough):
    """A pass-through to Dovecot that, once the client has sent the literal ending in
    MARKER, resets the client's connection (RST: the client reads "connection lost")
    and hands the letter on to Dovecot HOLD seconds later, which stores it."""

    def __init__(self, port: int):
        self.done = threading.Event()
        self.held = threading.Event()
        super().__init__(port)

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        if not up:
            return super()._pipe(source, sink, up)
        seen, cut = b"", False
        try:
            while chunk := source.recv(4096):
                seen = seen[-len(MARKER):] + chunk
                if MARKER in seen and not self.held.is_set():  # only the first upload is cut
                    cut = True
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        if not cut:  # the connection ended as usual
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        self.held.set()
        source.settimeout(0.5)  # the literal's closing CRLF may come in a write of its own
        try:
            while more := source.recv(4096):
                chunk += more
        except OSError:
            pass
        source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        source.close()
        time.sleep(HOLD)
        sink.sendall(chunk)
        time.sleep(1.0)  # Dovecot's answer is read (and dropped) by the other direction
        sink.close()
        self.done.set()


class ResetBeforeTheAnswer(PassThrough):
    """A pass-through to Dovecot that ends the client's connection instead of handing it
    the server's OK to the upload ending in MARKER: stored, and the gateway never hears so."""

    def __init__(self, port: int):
        self.uploaded = threading.Event()
        self.cut = threading.Event()
        super().__init__(port)

    def carry(self, chunk: bytes, sink, up: bool, state: dict) -> bool:  # noqa: ANN001
        if up:
            if MARKER in chunk:
                self.uploaded.set()
            sink.sendall(chunk)
            return True
        if self.uploaded.is_set() and not self.cut.is_set() and b"Append completed" in chunk:
            self.cut.set()
            state["near"].shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv too
            return False
        sink.sendall(chunk)
        return True

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        if not up:  # carry() is given the client's socket as its sink: kept for the reset
            state = {"near": sink}
            try:
                while chunk := source.recv(4096):
                    if not self.carry(chunk, sink, up, state):
                        break
            except OSError:
                pass
            finally:
                try:
                    source.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        super()._pipe(source, sink, up)


def _copy(queue_id: str, body: bytes) -> bytes:
    return (f"Message-ID: <{queue_id}@dds.bangkok.go.th>\r\nX-Saraban-Receive-No: 8/2569\r\n"
            f"X-Saraban-Unit: saraban.latkrabang\r\nX-Saraban-Queue-Id: {queue_id}\r\nSubject: test\r\n\r\n"
            ).encode() + body


def _count(dovecot, user: str, queue_id: str) -> int:  # noqa: ANN001
    conn = dovecot.imap(user)
    try:
        conn.select(f'"{FOLDER}"', readonly=True)
        _, found = conn.uid("SEARCH", "HEADER", "X-Saraban-Queue-Id", queue_id)
    finally:
        conn.logout()
    return len(found[0].split())


@pytest.mark.parametrize("reused", [True, False], ids=["kept-session", "first-session"])
def test_a_connection_reset_after_the_upload_does_not_file_the_letter_twice(dovecot, dovecot_user, reused):
    user, password = dovecot_user
    relay = ResetAfterUpload(dovecot.port)
    target = ImapTarget(host="127.0.0.1", port=relay.port, tls=False, ca_file=None, verify=True, timeout=4,
                        username=user, password=password, folder=FOLDER, keyword="$SarabanRegistered")
    queue_id = "0000000000000002cccc" if reused else "0000000000000003dddd"
    late = _copy(queue_id, b"text\r\n" * 50 + MARKER + b"\r\n")
    setup = ImapFiler()  # the folder made beforehand, on a session of its own
    try:
        setup.ensure_folder(target)
    finally:
        setup.close()
    filer = ImapFiler()
    try:
        if reused:  # a letter before it: the session is kept for this one
            assert filer.file(target, _copy("0000000000000001bbbb", b"first\r\n"), "0000000000000001bbbb",
                              "saraban.latkrabang", in_doubt=False) == "appended"
        with pytest.raises(ImapUnanswered) as raised:  # before: "appended" again at once, on a new session
            filer.file(target, late, queue_id, "saraban.latkrabang", in_doubt=False)
        assert raised.value.retry_after >= 60  # not the outbox's 5 s either
        assert relay.done.wait(HOLD + 5)  # the server has committed it by now
        # The outbox's next attempt, in doubt, finds it.
        assert filer.file(target, late, queue_id, "saraban.latkrabang", in_doubt=True) == "found"
    finally:
        filer.close()
        relay.close()
    assert _count(dovecot, user, queue_id) == 1


def test_a_letter_whose_ok_was_lost_with_the_connection_is_found_at_once(dovecot, dovecot_user):
    """The connection reset after the server sent its OK, before the gateway read it: the
    letter is stored. The gateway looks once, on a new connection, and finds it: no
    second copy, and no minute's wait with a failed attempt in `status`."""
    user, password = dovecot_user
    relay = ResetBeforeTheAnswer(dovecot.port)
    target = ImapTarget(host="127.0.0.1", port=relay.port, tls=False, ca_file=None, verify=True, timeout=4,
                        username=user, password=password, folder=FOLDER, keyword="$SarabanRegistered")
    queue_id = "0000000000000004eeee"
    filer = ImapFiler()
    try:
        assert filer.file(target, _copy("0000000000000005ffff", b"first\r\n"), "0000000000000005ffff",
                          "saraban.latkrabang", in_doubt=False) == "appended"
        late = _copy(queue_id, b"text\r\n" * 50 + MARKER + b"\r\n")
        assert filer.file(target, late, queue_id, "saraban.latkrabang", in_doubt=False) == "found"
        assert relay.cut.is_set()
    finally:
        filer.close()
        relay.close()
    assert _count(dovecot, user, queue_id) == 1
