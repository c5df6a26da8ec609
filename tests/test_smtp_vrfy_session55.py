"""Session 55: VRFY answered "252 Cannot VRFY user, but will accept message and attempt
delivery" for any address, also for those RCPT TO refuses: a misspelt unit
(`saraban.latkrabang+urgent`), an address of another domain. Whoever checked an address
with VRFY (a sending agency's administrator, a clerk with telnet) was told the letter
would be taken, and then got 550 at RCPT. Now VRFY says what RCPT TO would: 252 for a
unit's address or postmaster, the RCPT's own 550 otherwise (the unit addresses are public,
the BMA lists them: nothing is given away)."""
from __future__ import annotations

import pytest

from tests.hostile.smtp_raw import greet

CASES = [
    ("VRFY saraban.latkrabang", b"252 2.0.0 "),
    ("VRFY <SARABAN.LatKrabang@Bangkok.go.th>", b"252 2.0.0 "),
    ("VRFY saraban.latkrabang@bangkok.go.th", b"252 2.0.0 "),
    ("VRFY postmaster", b"252 2.0.0 "),
    ("VRFY saraban.latkrabang+urgent@bangkok.go.th", b"550 5.1.1 no such saraban address here"),
    ("VRFY saraban.nosuchunit", b"550 5.1.1 no such saraban address here"),
    ("VRFY someone@gmail.com", b"550 5.7.1 relaying denied"),
    ("VRFY saraban.latkrabang@evil.example", b"550 5.7.1 relaying denied"),
    ("VRFY saraban.latkrabang%evil.example@bangkok.go.th", b"550 5.1.1 no such saraban address here"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.daemon import Daemon, write_config

    d = Daemon(write_config(tmp_path_factory.mktemp("vrfy") / "gw")).start()
    yield d
    d.stop()


def test_vrfy_says_what_rcpt_to_would_say(gateway):
    client, banner = greet(gateway.port)
    with client:
        assert banner.startswith(b"220")
        assert client.cmd("EHLO clerk.example").startswith(b"250")
        assert client.cmd("MAIL FROM:<clerk@example.org>").startswith(b"250")
        for command, expected in CASES:
            said = client.cmd(command)
            assert said.startswith(expected) and said.isascii(), (command, said)
            address = command.split(" ", 1)[1]
            if "@" not in address:
                address += "@bangkok.go.th"
            rcpt = client.cmd(f"RCPT TO:<{address.strip('<>')}>")
            assert rcpt[:1] == (b"2" if expected.startswith(b"252") else b"5"), (command, rcpt)
        # VRFY is no part of the transaction: the letter to the one unit taken still goes
        assert client.cmd("DATA").startswith(b"354")
        client.send(b"From: clerk@example.org\r\nSubject: vrfy\r\n\r\nx\r\n.\r\n")
        assert client.reply().startswith(b"250 2.0.0 queued as")
