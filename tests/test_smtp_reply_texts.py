"""SMTP reply texts (issue 14, item 9): ASCII, saying in English what is wrong; the
Thai sentence only for SMTPUTF8 sessions; relaying denied names the domain served."""
from __future__ import annotations

from gateway.intake import replies

ALL = [replies.UNKNOWN_UNIT, replies.TOO_MANY_RECIPIENTS, replies.TOO_BIG,
       replies.SPOOL_FAILED, replies.TOP_SECRET, replies.LINE_TOO_LONG, replies.TOO_BUSY,
       replies.queued("20261129T011500-000001"), replies.no_relay("bangkok.go.th")]


def test_every_reply_is_ascii_with_code_and_enhanced_status():
    for text in ALL:
        code, status, reason = text.split(" ", 2)
        assert text.isascii() and code.isdigit() and status.count(".") == 2 and len(reason) > 8


def test_thai_only_when_asked_for():
    thai = replies.in_thai(replies.TOP_SECRET)
    assert thai.startswith(replies.TOP_SECRET) and "ลับที่สุด" in thai
    assert replies.in_thai(replies.queued("q1")) == "250 2.0.0 queued as q1"


def test_relaying_denied_says_which_domain_is_served():
    assert "saraban.*@bangkok.go.th" in replies.no_relay("bangkok.go.th")


def test_over_smtp_english_unless_the_client_asks_for_utf8(daemon):
    from tests.letters import letter

    with daemon.smtp() as client:
        client.ehlo("client.example")
        client.mail("saraban.dds@bangkok.go.th")
        code, text = client.rcpt("someone@gmail.com")
        assert code == 550 and text.isascii() and b"saraban.*@bangkok.go.th" in text
    top_secret = letter(subject="ลับที่สุด เรื่อง ทดสอบ")
    for options, thai in (([], False), (["SMTPUTF8"], True)):
        with daemon.smtp() as client:
            client.ehlo("client.example")
            client.mail("saraban.dds@bangkok.go.th", options)
            client.rcpt("saraban.latkrabang@bangkok.go.th")
            code, text = client.data(top_secret)
        assert code == 550
        assert ("ลับที่สุด".encode() in text) is thai
        assert text.isascii() is not thai
