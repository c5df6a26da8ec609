"""SMTP intake: a HELO/EHLO name that is not UTF-8 is refused where it is said, and a
draft that is not committed (a ลับที่สุด letter refused with 550, a 552, a 451, a client
gone) is shredded, not only unlinked.

Before: `EHLO mail\\xff.example` got 250, and at every DATA the spool could not write the
envelope line (UnicodeEncodeError): 451, so the sender's MTA retried for days. A refused
ลับที่สุด letter, written whole to spool/tmp while it arrived, was os.unlink'ed: its
plaintext stayed in the file system's freed blocks once the kernel had written it back."""
from __future__ import annotations

import os
import socket

from gateway.spool import Spool
from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
MARKER = b"ZEBRAXQ17-TOPSECRET"


class Raw:
    """A client that says bytes, not str, line by line."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"\n".join(lines) + b"<EOF>"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return b"\n".join(lines)

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def test_a_helo_name_that_is_not_utf8_or_holds_control_characters_is_501_and_the_session_goes_on(tmp_path):
    daemon = Daemon(write_config(tmp_path)).start()
    try:
        for bad in (b"EHLO mail\xff.example", b"HELO \xc0\xafx", b"EHLO mail\x01.example"):
            client = Raw(daemon.port)
            try:
                answer = client.cmd(bad)
                assert answer.startswith(b"501 5.5.2 ") and answer.isascii(), (bad, answer)
                # Nothing of the session changed: a valid name, then a letter, as usual.
                assert client.cmd(b"EHLO mail.example").startswith(b"250")
                assert client.cmd(b"MAIL FROM:<saraban.dds@bangkok.go.th>").startswith(b"250")
                assert client.cmd(b"RCPT TO:<" + LAT.encode() + b">").startswith(b"250")
                assert client.cmd(b"DATA").startswith(b"354")
                answer = client.cmd(letter(subject="helo").replace(b"\r\n.", b"\r\n..") + b".")
                assert answer.startswith(b"250 2.0.0 queued as "), answer
            finally:
                client.close()
        # A Thai (UTF-8) name is still a name.
        client = Raw(daemon.port)
        try:
            assert client.cmd("EHLO mail.ลาดกระบัง.example".encode()).startswith(b"250")
        finally:
            client.close()
        assert not [e for e in daemon.events() if e.get("event") == "smtp_session_exception"]
    finally:
        daemon.stop()


def test_the_spool_writes_a_name_that_is_not_utf8_instead_of_failing(tmp_path):
    spool = Spool(tmp_path / "spool")
    helo = b"mail\xff.example".decode("utf-8", "surrogateescape")  # as aiosmtpd hands it over
    draft = spool.draft("saraban.dds@bangkok.go.th", [LAT], "127.0.0.1:1234", helo)
    draft.write(letter(subject="x"))
    queue_id = draft.commit()
    entry = spool.read(queue_id)
    assert entry.helo == "mail\ufffd.example"
    queue_id = spool.accept(letter(subject="y"), "saraban.dds@bangkok.go.th", [LAT], helo=helo)
    assert spool.read(queue_id).helo == "mail\ufffd.example"


def _watch_overwrites(monkeypatch) -> dict[str, bytes]:
    """What each file held when it was truncated for shredding (gateway/secrecy/shred.py
    `shred`: overwrite, fsync, truncate, unlink): a file only unlinked never gets here."""
    seen: dict[str, bytes] = {}
    truncate = os.ftruncate

    def watching(fd, length):
        path = os.readlink(f"/proc/self/fd/{fd}")
        with open(path, "rb") as handle:
            seen[os.path.basename(path)] = handle.read()
        return truncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", watching)
    return seen


def test_a_discarded_draft_is_overwritten_before_it_is_unlinked(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    raw = ("Subject: ลับที่สุด แผน\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "ลับที่สุด\r\n").encode() + MARKER + b"\r\n" * 3000
    draft = spool.draft("saraban.dds@bangkok.go.th", [LAT], "127.0.0.1:1234", "x")
    draft.write(raw)
    draft.reading_path.write_bytes(b"a reading of " + MARKER)  # as the DATA check leaves one
    assert MARKER in draft.path.read_bytes()
    size = draft.path.stat().st_size
    seen = _watch_overwrites(monkeypatch)
    draft.discard()
    assert not draft.path.exists() and not draft.reading_path.exists()
    overwritten = seen[draft.path.name]
    assert len(overwritten) == size and MARKER not in overwritten  # on main: only unlinked
    assert MARKER not in seen[draft.reading_path.name]
    draft.discard()  # twice is once


def test_what_a_crash_left_in_spool_tmp_is_shredded_at_start(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    left = spool.tmp / "18ecbf0a0094f2c4bd69dc38.draft"
    left.write_bytes(b"SARABAN-SPOOL 1\n{}\nSubject: " + MARKER + b"\r\n\r\n")
    seen = _watch_overwrites(monkeypatch)
    assert spool.clean_tmp() == 1
    assert not left.exists() and MARKER not in seen[left.name]


def test_a_refused_top_secret_letters_draft_is_shredded(tmp_path):
    daemon = Daemon(write_config(tmp_path)).start()
    try:
        client = Raw(daemon.port)
        try:
            client.cmd(b"EHLO x")
            client.cmd(b"MAIL FROM:<saraban.dds@bangkok.go.th>")
            client.cmd(b"RCPT TO:<" + LAT.encode() + b">")
            assert client.cmd(b"DATA").startswith(b"354")
            raw = letter(subject="ลับที่สุด แผน " + MARKER.decode(), body="ลับที่สุด\n" + MARKER.decode() + "\n")
            answer = client.cmd(raw.replace(b"\r\n.", b"\r\n..") + b".")
            assert answer.startswith(b"550 5.7.0"), answer
        finally:
            client.close()
        daemon.wait_for(lambda: [e for e in daemon.events() if e.get("event") == "file_shredded"
                                 and e.get("name", "").endswith(".draft")], timeout=10,
                        what="the refused letter's draft to be shredded")  # on main: unlinked
        assert list((daemon.data_dir / "spool" / "tmp").iterdir()) == []
    finally:
        daemon.stop()


def test_clients_that_hang_up_right_after_their_550_leave_no_draft(tmp_path):
    """The draft is shredded in a thread after the reply; a client that closes the
    connection at once cancels its session's task, and that cancel reached the thread's
    job before it had started: the draft of a refused ลับที่สุด letter stayed in
    spool/tmp (seen once in a full run). Many clients, each gone right after its 550
    (with a reset, not a polite close)."""
    import struct

    daemon = Daemon(write_config(tmp_path)).start()
    try:
        raw = letter(subject="ลับที่สุด แผน " + MARKER.decode(), body="x\n")
        for _ in range(20):
            client = Raw(daemon.port)
            client.cmd(b"EHLO x")
            client.cmd(b"MAIL FROM:<saraban.dds@bangkok.go.th>")
            client.cmd(b"RCPT TO:<" + LAT.encode() + b">")
            assert client.cmd(b"DATA").startswith(b"354")
            assert client.cmd(raw.replace(b"\r\n.", b"\r\n..") + b".").startswith(b"550 5.7.0")
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.sock.close()
        daemon.wait_for(lambda: len([e for e in daemon.events() if e.get("event") == "file_shredded"
                                     and e.get("name", "").endswith(".draft")]) >= 20, timeout=20,
                        what="every refused letter's draft to be shredded")
        assert list((daemon.data_dir / "spool" / "tmp").iterdir()) == []
    finally:
        daemon.stop()
