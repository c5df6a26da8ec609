"""Session 39's red team: a letter with a text line or a header line past 998 octets
(RFC 5322 §2.1.1; many senders write them) was taken, registered, and its copy for a
unit on the SMTP route forwarded as it came: a strict receiver answered "500 Line too
long" at every attempt and the unit never got it. The copy on the wire now has its long
body lines re-encoded (base64: the same content once decoded) and its long header lines
folded."""
from __future__ import annotations

import base64
import email
import email.policy

from aiosmtpd.controller import Controller

from gateway.delivery.wire import on_the_wire
from tests.daemon import free_port
from tests.letters import make_pdf
from tests.test_imap_delivery import LAT, _Collector

PDF = make_pdf("long line")
LONG_TEXT = "ขอเชิญประชุม " + "x" * 3000


def _letter(long_header: bool) -> bytes:
    pdf = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            b"Subject: =?utf-8?b?" + base64.b64encode("ขอเชิญประชุม".encode()) + b"?=\r\n"
            + (b"X-Long: " + b"y" * 2500 + b"\r\n" if long_header else b"")
            + b"Message-ID: <long-39-" + str(long_header).encode() + b"@dds.bangkok.go.th>\r\n"
            b"Date: Sat, 05 Dec 2026 07:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + LONG_TEXT.encode() + b"\r\n--BB\r\nContent-Type: application/pdf; name=2569_dds_0403_57.pdf\r\n"
            b"Content-Disposition: attachment; filename=2569_dds_0403_57.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + pdf + b"--BB--\r\n")


def test_a_letter_with_long_lines_reaches_a_strict_smtp_receiver_whole(daemon_factory):
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)  # refuses a line past 1000 octets
    controller.start()
    try:
        d = daemon_factory(extra=f'[delivery.smtp.relay]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 10\n\n'
                                 '[delivery.units."saraban.latkrabang"]\nbackend = "smtp"\n'
                                 'to = ["admin.latkrabang@bangkok.go.th"]\n').start()
        d.send(_letter(long_header=False), LAT)
        d.send(_letter(long_header=True), LAT)
        d.wait_idle()
        assert d.status()["outbox"]["folder"] == {"done": 2}
        assert len(collector.messages) == 2
        for got in collector.messages:
            data = got.original_content
            assert max(len(line) for line in data.split(b"\r\n")) <= 998
            message = email.message_from_bytes(data, policy=email.policy.default)
            [text] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
            assert LONG_TEXT in text.get_content()
    finally:
        controller.stop()


def test_a_folded_header_keeps_its_words():
    raw = b"From: a@b\r\nSubject: " + b" ".join([b"word"] * 400) + b"\r\n\r\nbody\r\n"
    out = on_the_wire(raw)
    assert max(len(line) for line in out.split(b"\r\n")) <= 998
    assert email.message_from_bytes(out, policy=email.policy.default)["Subject"] == " ".join(["word"] * 400)
    assert on_the_wire(b"From: a@b\r\n\r\nshort\r\n") == b"From: a@b\r\n\r\nshort\r\n"  # nothing long: unchanged
