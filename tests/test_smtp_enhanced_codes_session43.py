"""Every reply after EHLO carries an enhanced status code, as the gateway's EHLO announces
(ENHANCEDSTATUSCODES, RFC 2034), through the real daemon over loopback (session 43's red
team).

aiosmtpd's own replies had none: `250 OK` to NOOP and RSET, `503 Error: need RCPT
command`, `555 MAIL FROM parameters not recognized`, `252 Cannot VRFY`, `500 Error:
command "FOO" not recognized`, `221 Bye`... A sending MTA that takes the announcement
at its word reads the first word of the text as the code (or logs it as malformed)."""
from __future__ import annotations

import re

import pytest

from tests.daemon import Daemon, write_config
from tests.hostile.smtp_raw import Raw

ENHANCED = re.compile(rb"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} ")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("enhanced43"))).start()
    yield d
    d.stop()


# (command, what the reply must start with)
COMMANDS = [
    ("NOOP", b"250 2.0.0 "),
    ("RSET", b"250 2.0.0 "),
    ("DATA", b"503 5.5.1 "),  # need MAIL
    ("RCPT TO:<saraban.latkrabang@bangkok.go.th>", b"503 5.5.1 "),
    ("MAIL FROM:<a@example.org> RET=HDRS", b"555 5.5.4 "),
    ("MAIL FROM:<a@example.org> BODY=BINARYMIME", b"501 5.5.4 "),
    ("MAIL", b"501 5.5.4 "),  # Syntax: MAIL FROM: <address>
    ("VRFY saraban.latkrabang", b"252 2.0.0 "),
    ("X" * 600, b"500 5.5.2 "),
    ("FOO", b"500 5.5.2 "),
    ("HELP", b"250 2.0.0 "),
    ("MAIL FROM:<saraban.dds@bangkok.go.th>", b"250 2.1.0 "),
    ("MAIL FROM:<saraban.dds@bangkok.go.th>", b"503 5.5.1 "),  # nested MAIL
    ("RCPT TO:<saraban.latkrabang@bangkok.go.th>", b"250 2.1.5 "),
    ("DATA", b"354 "),  # intermediate: RFC 3463 has no class 3
    (".", b"250 2.0.0 "),
    ("QUIT", b"221 2.0.0 "),
]


def test_every_reply_after_ehlo_carries_an_enhanced_status_code(gw):
    with Raw(gw.port) as raw:
        greeting = raw.reply()
        assert greeting.startswith(b"220 ") and not ENHANCED.match(greeting)  # RFC 2034: not the greeting
        ehlo = raw.cmd("EHLO client.example")
        assert b"250-ENHANCEDSTATUSCODES" in ehlo and not ENHANCED.match(ehlo)  # nor EHLO's answer
        said = [(command[:40], raw.cmd(command)) for command, _ in COMMANDS[:-3]]
        said.append(("DATA", raw.cmd("DATA")))
        raw.send(b"Subject: codes\r\nFrom: saraban.dds@bangkok.go.th\r\n\r\nenhanced codes\r\n")
        said.append((".", raw.cmd(".")))
        said.append(("QUIT", raw.cmd("QUIT")))
    wrong = [(command, reply, expected) for (command, reply), (_, expected) in zip(said, COMMANDS)
             if not reply.startswith(expected)]
    assert not wrong, wrong
    for command, reply in said:
        if not reply.startswith(b"354 "):
            assert all(ENHANCED.match(line) for line in reply.split(b"\r\n")), (command, reply)


def test_helo_sessions_are_answered_as_before(gw):
    # No ENHANCEDSTATUSCODES announced (HELO, not EHLO): aiosmtpd's replies as they are.
    with Raw(gw.port) as raw:
        raw.reply()
        assert raw.cmd("HELO client.example").startswith(b"250 ")
        assert raw.cmd("NOOP") == b"250 OK"
