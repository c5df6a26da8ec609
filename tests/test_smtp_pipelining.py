"""EHLO says what the session does: PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES (RFC 2034).

Every reply already carried an enhanced status code, and commands sent together were
already read in order; neither was announced, so a sending MTA waited a round trip per
command. A sender that pipelines gets every reply, in order, and its letter is taken."""
from __future__ import annotations

import socket

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("pipelining") / "gw")).start()
    yield d
    d.stop()


def replies(reader, count: int) -> list[bytes]:
    """`count` whole replies (a multi-line one is one), their last lines."""
    out = []
    while len(out) < count:
        line = reader.readline()
        assert line, out
        if line[3:4] != b"-":
            out.append(line.rstrip(b"\r\n"))
    return out


def test_ehlo_announces_pipelining_and_enhanced_status_codes(gateway):
    with gateway.smtp() as client:
        code, _ = client.ehlo("mail.moi.go.th")
        assert code == 250
        assert client.has_extn("pipelining") and client.has_extn("enhancedstatuscodes")
        assert client.has_extn("size") and client.has_extn("smtputf8")


def test_the_ehlo_reply_comes_whole_in_one_write(gateway):
    """EHLO's lines go out together, as Postfix sends them: one segment on loopback, so a
    client reads the whole reply at once, and nothing of it waits behind a later reply."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO mail.moi.go.th\r\n")
        first = sock.recv(65536)
        lines = first.split(b"\r\n")
        assert first.endswith(b"\r\n") and len(lines) >= 8, first
        assert all(line.startswith(b"250-") for line in lines[:-2]) and lines[-2].startswith(b"250 "), first
        assert b"250-PIPELINING" in lines and b"250-ENHANCEDSTATUSCODES" in lines
        # A second EHLO and a NOOP pipelined: both replies whole, in order, none held back.
        sock.sendall(b"EHLO mail.moi.go.th\r\nNOOP\r\n")
        sock.settimeout(10)
        got = b""
        while len(got) <= len(first) or not got.endswith(b"\r\n"):  # the EHLO's again, then the NOOP's
            chunk = sock.recv(65536)
            assert chunk, got
            got += chunk
        assert got.startswith(first) and got[len(first):].startswith(b"250"), got
        assert got[len(first):].count(b"\r\n") == 1, got  # the NOOP's one line after the EHLO's
        sock.sendall(b"QUIT\r\n")


def test_a_pipelined_transaction_gets_every_reply_in_order(gateway):
    raw = letter(subject="ขอเชิญประชุม ส่งแบบ pipelining", files=[("a.pdf", make_pdf("a"))])
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO mail.moi.go.th\r\n")
        replies(reader, 1)
        # MAIL, a good RCPT, an unknown one, a second good one and DATA in one write
        sock.sendall(b"MAIL FROM:<saraban.dds@bangkok.go.th>\r\nRCPT TO:<" + LAT.encode() + b">\r\n"
                     b"RCPT TO:<saraban.nowhere@bangkok.go.th>\r\nRCPT TO:<saraban.pomprap@bangkok.go.th>\r\n"
                     b"DATA\r\n")
        mail, good, unknown, other, data = replies(reader, 5)
        assert mail.startswith(b"250") and good.startswith(b"250") and other.startswith(b"250")
        assert unknown.startswith(b"550 5.1.1") and data.startswith(b"354")
        sock.sendall(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n.\r\nQUIT\r\n")
        done, bye = replies(reader, 2)
        assert done.startswith(b"250 2.0.0 queued as") and bye.startswith(b"221")
    queue_id = done.decode().rsplit(" ", 1)[-1]
    gateway.wait_idle()
    entries = [r for r in gateway.register() if r["subject"] == "ขอเชิญประชุม ส่งแบบ pipelining"]
    assert sorted(r["unit"] for r in entries) == ["saraban.latkrabang", "saraban.pomprap"]
    accepted = [e for e in gateway.events() if e.get("event") == "accepted" and e.get("queue_id") == queue_id]
    assert accepted and accepted[0]["rcpt"] == [LAT, "saraban.pomprap@bangkok.go.th"]
