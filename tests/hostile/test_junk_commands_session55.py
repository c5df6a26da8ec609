"""Session 55: commands that carry no letter (NOOP, RSET, VRFY, EXPN, HELP) had no bound
but the session budget. A client pipelining NOOPs (or RSETs) and reading its replies was
answered for 1800 s, each such session about half a core of the supervisor (measured:
47 % for one), 50 of them per client address; session 50 made them share the loop, not
stop. Now, as Postfix's smtpd_junk_command_limit, a session may send 100 of them between
two letters answered; the next one hears 421 4.7.0 and the session is closed. A sending MTA
that says RSET or NOOP between its letters is not affected."""
from __future__ import annotations

import socket
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.hostile.smtp_raw import greet

LAT = "saraban.latkrabang@bangkok.go.th"
CUT = b"421 4.7.0 too many commands without a letter (NOOP, RSET, VRFY, EXPN, HELP), closing connection"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("junk"))).start()
    yield d
    d.stop()


def _all_replies(sock: socket.socket, within: float) -> tuple[list[bytes], bool]:
    """Every reply line until the server closes (True) or `within` seconds pass (False)."""
    data, deadline = b"", time.monotonic() + within
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            return data.split(b"\r\n"), True
        if not chunk:
            return data.split(b"\r\n"), True
        data += chunk
    return data.split(b"\r\n"), False


@pytest.mark.parametrize("command", [b"NOOP", b"RSET", b"VRFY saraban.latkrabang", b"HELP"])
def test_a_flood_of_commands_without_a_letter_is_cut_after_100(gw, command):
    client, banner = greet(gw.port)
    sock = client.sock
    assert banner.startswith(b"220")
    assert client.cmd("EHLO flood.example").startswith(b"250")
    started = time.monotonic()
    sock.sendall((command + b"\r\n") * 20000)
    lines, closed = _all_replies(sock, 30)
    assert closed, f"the session was still open 30 s after 20,000 {command!r}"
    said = [line for line in lines if line[:3].isdigit() and line[3:4] == b" "]
    # 100 answered, then the 421, nothing after it. The commands it never read make the
    # close a reset, which may take the last replies with it before they are read here.
    assert 0 < len(said) <= 101, len(said)
    assert all(line.startswith(b"2") for line in said[:100]), said[:100]
    if len(said) == 101:
        assert said[-1] == CUT
    assert time.monotonic() - started < 10
    client.close()
    # Exactly one past the limit, nothing unread: the 421 is always read.
    client, banner = greet(gw.port)
    assert client.cmd("EHLO flood.example").startswith(b"250")
    client.sock.sendall((command + b"\r\n") * 101)
    lines, closed = _all_replies(client.sock, 30)
    said = [line for line in lines if line[:3].isdigit() and line[3:4] == b" "]
    assert closed and len(said) == 101 and said[-1] == CUT, said[-3:]
    client.close()
    # The gateway is there for everyone else.
    assert gw.send(b"From: saraban.dds@bangkok.go.th\r\nSubject: after the flood\r\n\r\nx\r\n", LAT)


def test_a_sending_mta_saying_rset_and_noop_between_its_letters_is_not_cut(gw):
    client, banner = greet(gw.port)
    with client:
        assert client.cmd("EHLO mta.example").startswith(b"250")
        for i in range(60):  # 3 junk commands a letter, 180 in the session
            for junk in ("RSET", "NOOP", "NOOP"):
                assert client.cmd(junk).startswith(b"250"), (i, junk)
            assert client.cmd("MAIL FROM:<saraban.dds@bangkok.go.th>").startswith(b"250")
            assert client.cmd(f"RCPT TO:<{LAT}>").startswith(b"250")
            assert client.cmd("DATA").startswith(b"354")
            client.send(b"From: saraban.dds@bangkok.go.th\r\nSubject: letter %d\r\n\r\nx\r\n.\r\n" % i)
            assert client.reply().startswith(b"250 2.0.0 queued as"), i
        assert client.cmd("QUIT").startswith(b"221")


def test_a_client_saying_rset_after_each_refused_letter_is_not_cut(gw):
    """smtplib says RSET after every refusal: 120 letters the gateway refuses at DATA
    (ลับที่สุด, 550), sent in one session as a test of the corpus would send them, are each
    refused with their own reason, never cut for too many commands."""
    import smtplib

    refused = 0
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
        for i in range(120):
            try:
                client.sendmail("saraban.dds@bangkok.go.th", [LAT],
                                "From: saraban.dds@bangkok.go.th\r\nSubject: ลับที่สุด %d\r\n\r\nx\r\n".encode() % i)
            except smtplib.SMTPDataError as exc:
                assert exc.smtp_code == 550, (i, exc)
                refused += 1
    assert refused == 120
