"""Delivery and IMAP interop red team, session 14, on the real Dovecot
(tests/servers/), as a clerk (`register list`) and a sysadmin (`status`) see it:

1. one message the mail server cannot read (a mail file Dovecot may not open: it ends
   the session with BYE at each FETCH of it) no longer stops the intake of the
   central mailbox: the letters around it are registered, `status` names it, and it is
   taken by itself once the server reads it again;
2. a server that calls a message small, then announces its body as a 2 GB literal (or
   sends a line without end) is cut off at `max_size` + 1 MB, as the bytes arrive:
   the next letter is taken and `status` lists the message;
3. `check-config` refuses IMAP (delivery or intake) without TLS to another host;
4. a server certificate that is not the trusted one is refused, and `status` says so in
   plain words."""
from __future__ import annotations

import os
import re
import socketserver
import threading
from pathlib import Path
from types import SimpleNamespace

from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, intake_config, mailbox_flags
from tests.letters import letter
from tests.servers.tls import write_self_signed


def _mail_file(dovecot, user: str, message_id: str) -> Path:
    """The Maildir file of a message in the user's INBOX, found by its Message-ID."""
    root = dovecot.mail_dir(user)
    for path in [*root.glob("new/*"), *root.glob("cur/*")]:
        if message_id.encode() in path.read_bytes():
            return path
    raise AssertionError(f"{message_id} not in {root}")


def _wait_marked(d, count: int) -> None:
    """Registered and marked on the server (read from the log: a CLI call is a second)."""
    d.wait_for(lambda: sum(e.get("event") == "imap_message_marked" for e in d.events()) >= count,
               timeout=60, what=f"{count} letters registered and marked")


def test_a_message_the_server_cannot_read_does_not_stop_the_mailbox(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    ids = [f"<unreadable-{n}@dds.bangkok.go.th>" for n in (1, 2, 3)]
    for n, message_id in enumerate(ids, 1):
        dovecot.deliver(user, letter(subject=f"เรื่อง ฉบับที่ {n}", message_id=message_id))
    broken = _mail_file(dovecot, user, ids[1])
    mode = broken.stat().st_mode
    os.chmod(broken, 0)  # Dovecot (its own account) can no longer open it
    d = daemon_factory(extra=intake_config(dovecot, user, password, idle_interval=1)).start()

    # The letters before and after it are registered and marked, as if it were not there.
    _wait_marked(d, 2)
    assert sorted(e["message_id"] for e in d.register()) == [ids[0], ids[2]]
    text = d.cli("status").stdout
    assert "the mail server cannot read it, not registered yet, tried again by itself: UID 2" in text, text
    assert "เซิร์ฟเวอร์อ่านจดหมายนี้ไม่ได้" in text
    assert "the session ended at its FETCH: fetch headers: connection lost" in text and "Traceback" not in text

    # The mail-server admin repairs the file: it is taken by itself, once.
    [now] = [p for sub in ("new", "cur") for p in (broken.parent.parent / sub).glob(broken.name.split(":")[0] + "*")]
    os.chmod(now, mode)  # Dovecot has moved it from new/ to cur/ meanwhile
    _wait_marked(d, 3)
    assert sorted(e["message_id"] for e in d.register()) == sorted(ids)
    assert all("$SarabanRegistered" in flags for flags in mailbox_flags(dovecot, user))
    assert "cannot read it" not in d.cli("status").stdout


class _HostileImap(socketserver.StreamRequestHandler):
    """Only what Dovecot cannot be made to do: a server that says a message is small
    (RFC822.SIZE 900), then announces its body as a 2 GB literal and streams it. Any
    other letter is served as it is; the streams sent are counted on the server."""

    letters: dict[int, bytes] = {}
    streamed: list[int] = []

    def handle(self) -> None:
        self._send(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] hostile test server ready")
        while line := self.rfile.readline(65536):
            tag, _, rest = line.decode("ascii", "replace").strip().partition(" ")
            command = rest.upper()
            if command.startswith("LOGOUT"):
                self._send(b"* BYE", f"{tag} OK bye".encode())
                return
            if command.startswith("CAPABILITY"):
                self._send(b"* CAPABILITY IMAP4rev1 UIDPLUS", f"{tag} OK done".encode())
            elif command.startswith("SELECT"):
                self._send(f"* {len(self.letters)} EXISTS".encode(), b"* OK [UIDVALIDITY 7] UIDs valid",
                           f"{tag} OK [READ-WRITE] selected".encode())
            elif command.startswith("UID SEARCH"):
                low = int(re.search(r"UID (\d+):\*", command).group(1))
                found = " ".join(str(u) for u in sorted(self.letters) if u >= low)
                self._send(f"* SEARCH {found}".encode(), f"{tag} OK searched".encode())
            elif command.startswith("UID FETCH") and "BODY.PEEK[]" in command:
                if not self._body(int(command.split()[2])):
                    return
                self._send(f"{tag} OK fetched".encode())
            elif command.startswith("UID FETCH"):
                for uid in _uid_set(command.split()[2], self.letters):
                    head = self.letters[uid].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                    self._send(f"* {uid} FETCH (UID {uid} RFC822.SIZE 900 FLAGS () BODY[HEADER.FIELDS "
                               f"(MESSAGE-ID RETURN-PATH FROM)] {{{len(head)}}}".encode(), head + b")")
                self._send(f"{tag} OK fetched".encode())
            else:  # LOGIN, STORE, NOOP ...
                self._send(f"{tag} OK done".encode())

    def _body(self, uid: int) -> bool:
        raw = self.letters[uid]
        if not raw.startswith(b"HOSTILE"):
            self._send(f'* {uid} FETCH (UID {uid} INTERNALDATE "30-Nov-2026 10:00:00 +0700" BODY[] '
                       f"{{{len(raw)}}}".encode(), raw + b")")
            return True
        self._send(f"* {uid} FETCH (UID {uid} BODY[] {{{2 ** 31}}}".encode())
        sent = 0
        try:
            while sent < 64 << 20:  # then stall, as a server that never ends the literal
                self.wfile.write(b"x" * 65536)
                sent += 65536
            self.streamed.append(sent)
            self.rfile.read(1)  # until the client gives up
        except OSError:
            self.streamed.append(sent)
        return False

    def _send(self, *lines: bytes) -> None:
        self.wfile.write(b"".join(line + b"\r\n" for line in lines))


def _uid_set(spec: str, letters: dict) -> list[int]:
    uids: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        uids += [u for u in letters if int(low) <= u <= (int(high) if high and high != "*" else
                                                         (max(letters) if high else int(low)))]
    return sorted(set(uids))


def test_a_server_announcing_a_2gb_literal_is_cut_off_and_the_next_letter_taken(daemon_factory, dovecot):
    _HostileImap.letters = {1: b"HOSTILE\r\nMessage-ID: <huge@evil.example>\r\n\r\n",
                            2: letter(subject="เรื่อง ฉบับถัดไป", message_id="<after-huge@dds.bangkok.go.th>")}
    _HostileImap.streamed = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _HostileImap)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        where = SimpleNamespace(host="127.0.0.1", ssl_port=server.server_address[1], cert_path=dovecot.cert_path)
        d = daemon_factory(extra=intake_config(where, "central", "pw", tls=False, max_size=1_000_000,
                                               use_idle=False, poll_interval=1)).start()
        _wait_marked(d, 1)
        [entry] = d.register()
        assert entry["message_id"] == "<after-huge@dds.bangkok.go.th>"
        text = d.cli("status").stdout
        assert re.search(r"the mail server cannot read it, not registered yet, tried again by itself: UID 1 .*"
                         r"more than 2048576 bytes for one command", text), text
        # Cut off at the limit each time, never read to the end of what was announced.
        assert _HostileImap.streamed and max(_HostileImap.streamed) < 64 << 20
        d.stop()
    finally:
        server.shutdown()
        server.server_close()


def test_check_config_refuses_imap_without_tls_to_another_host(tmp_path, dovecot):
    """`tls = false` was documented as "only for a loopback server" and accepted for any
    host: letters and the password went over the network unencrypted."""
    remote = SimpleNamespace(host="mail.bangkok.go.th", ssl_port=143, cert_path=dovecot.cert_path)
    for name, extra in (("delivery", delivery_config(remote, "saraban.latkrabang", "pw").replace(
                            "tls = true", "tls = false")),
                        ("intake", intake_config(remote, "central", "pw", tls=False))):
        result = Daemon(write_config(tmp_path / name, extra=extra)).cli("check-config", check=False)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert ("tls = false would send letters and the password to mail.bangkok.go.th unencrypted"
                in result.stderr), result.stderr
        assert "Traceback" not in result.stderr
    # On this host it stays allowed (tests/servers, a local relay).
    local = SimpleNamespace(host="127.0.0.1", ssl_port=dovecot.port, cert_path=dovecot.cert_path)
    ok = Daemon(write_config(tmp_path / "local", extra=intake_config(local, "central", "pw", tls=False)))
    assert "tls = false" not in ok.cli("check-config", check=False).stderr


def test_a_server_certificate_not_trusted_is_refused_and_said_in_plain_words(
        tmp_path, daemon_factory, dovecot, dovecot_user):
    """The central mailbox's server shows a certificate other than the one `ca_file`
    trusts (a server in its place): nothing is read, and `status` says why without
    Python's names for it (SSLCertVerificationError, _ssl.c:1006)."""
    user, password = dovecot_user
    dovecot.deliver(user, letter(message_id="<tls-untrusted@dds.bangkok.go.th>"))
    (tmp_path / "other-ca").mkdir()
    other_ca, _ = write_self_signed(tmp_path / "other-ca")
    where = SimpleNamespace(host=dovecot.host, ssl_port=dovecot.ssl_port, cert_path=other_ca)
    d = daemon_factory(extra=intake_config(where, user, password)).start()
    d.wait_for(lambda: any(e.get("event") == "imap_reconnect" for e in d.events()), timeout=60,
               what="the refused connection")
    text = d.cli("status").stdout
    assert ("the server's TLS certificate is not accepted: self-signed certificate (check ca_file and the "
            "host name)" in text), text
    for python in ("SSLCertVerificationError", "_ssl.c", "ImapGone", "Error:"):
        assert python not in text, text
    assert d.register() == [] and "$SarabanRegistered" not in mailbox_flags(dovecot, user)[0]
