"""The DATA phase, byte for byte: what the sender's MTA puts on the wire is what the
vault keeps, whatever the dots, the pipelining or the line lengths."""
from __future__ import annotations

import hashlib
import socket

from gateway.intake.smtp_protocol import unstuff
from tests.letters import letter, make_pdf


def test_unstuff_removes_exactly_one_leading_dot_per_line():
    assert unstuff(b"a\r\n..b\r\n...c\r\n") == b"a\r\n.b\r\n..c\r\n"
    assert unstuff(b"..first\r\nx\r\n") == b".first\r\nx\r\n"
    assert unstuff(b"no dots\r\n") == b"no dots\r\n"
    assert unstuff(b"") == b""


def _vault_copy(daemon, raw: bytes) -> bytes:
    sha = hashlib.sha256(raw).hexdigest()
    return (daemon.data_dir / "vault" / sha[:2] / sha[2:4] / sha).read_bytes()


def test_dot_stuffed_lines_and_long_lines_arrive_unchanged(daemon):
    body = ".ที่ กท ๐๔๐๓/ว ๒๗๖\n..two dots\n.\n" + "ยาว" * 2000 + "\n"  # 6000-char line
    raw = letter(body=body, files=[("2569_dds_0403_276.pdf", make_pdf("x"))])
    daemon.send(raw, "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()
    assert _vault_copy(daemon, raw) == raw  # smtplib stuffed the dots; we took them out


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        data += sock.recv(4096)
    return data


def test_pipelined_commands_after_the_message_are_answered(daemon):
    raw = letter()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        _reply(sock)
        sock.sendall(b"EHLO pipelining.example\r\n")
        while b"250 " not in _reply(sock):
            pass
        sock.sendall(b"MAIL FROM:<saraban.dds@bangkok.go.th>\r\nRCPT TO:<saraban.latkrabang@bangkok.go.th>\r\nDATA\r\n")
        replies = b""
        while replies.count(b"\r\n") < 3:
            replies += sock.recv(4096)
        assert replies.split(b"\r\n")[2].startswith(b"354")
        # The message, its terminator and the next transaction in one write.
        sock.sendall(raw + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        answers = b""
        while answers.count(b"\r\n") < 4:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answers += chunk
    lines = answers.split(b"\r\n")
    assert lines[0].startswith(b"250 2.0.0") and b"queued as" in lines[0]
    assert lines[1].startswith(b"250") and lines[2].startswith(b"250") and lines[3].startswith(b"221")
    daemon.wait_idle()
    assert len(daemon.register()) == 1


def test_empty_message_is_answered_and_judged(daemon):
    with daemon.smtp() as client:
        client.ehlo("x")
        client.mail("a@example.org")
        client.rcpt("saraban.latkrabang@bangkok.go.th")
        code, text = client.data(b"")
    assert code == 250
    status = daemon.wait_idle()
    assert status["quarantine"] == {"held": 1}  # no letter in it: quarantined with a reason


def test_connection_dropped_in_the_middle_of_data_leaves_nothing(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        _reply(sock)
        for command in (b"HELO x\r\n", b"MAIL FROM:<a@example.org>\r\n",
                        b"RCPT TO:<saraban.latkrabang@bangkok.go.th>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            _reply(sock)
        sock.sendall(letter()[:5000])  # half a message, then the line goes dead
    status = daemon.status()
    assert status["spool"]["pending"] == 0 and status["messages"] == {}
    assert list((daemon.data_dir / "spool" / "tmp").iterdir()) == []
