"""A unit's copy forwarded to its registrar over SMTP: most Thai letters carry their text
as 8bit UTF-8, and a sender's name written in UTF-8 in the From (an SMTPUTF8 sender's)
is kept in the copy. Until session 56 such a copy went with no MAIL parameter at all:
a receiver may read the bytes as another charset (the unit's clerk then reads the
sender's name garbled), and one that holds to RFC 6152 refuses them. Now the copy says
BODY=8BITMIME and SMTPUTF8 where the relay offers them, and goes 7-bit where it does
not, with every word and file the same once read (gateway/delivery/wire.py `for_relay`)."""
from __future__ import annotations

import base64
import email
import email.policy

from aiosmtpd.controller import Controller

from gateway.delivery.wire import for_relay
from tests.daemon import free_port
from tests.letters import make_pdf
from tests.test_imap_delivery import LAT, _Collector

PDF = make_pdf("8bit 56")
NAME = "สมชาย ใจดี"
TEXT = "ขอเชิญประชุมคณะกรรมการ วันที่ ๙ ธันวาคม"
FILE = "หนังสือเชิญ.pdf"


def _letter(n: int) -> bytes:
    pdf = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    return (f"From: {NAME} <saraban.dds@bangkok.go.th>\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            f"Subject: =?utf-8?b?{base64.b64encode('ขอเชิญประชุม'.encode()).decode()}?=\r\n"
            f"Message-ID: <eight-bit-56-{n}@dds.bangkok.go.th>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0700\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"{TEXT}\r\n--BB\r\nContent-Type: application/pdf; name=\"{FILE}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{FILE}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + pdf + b"--BB--\r\n"


class _Plain(_Collector):
    """A relay that offers neither 8BITMIME nor SMTPUTF8 (aiosmtpd offers 8BITMIME)."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's hook
        session.host_name = hostname
        return [line for line in responses if "8BITMIME" not in line and "SMTPUTF8" not in line]


def _forwarded(daemon_factory, collector, **server) -> list:
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port, **server)
    controller.start()
    try:
        d = daemon_factory(extra=f'[delivery.smtp.relay]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 10\n\n'
                                 '[delivery.units."saraban.latkrabang"]\nbackend = "smtp"\n'
                                 'to = ["admin.latkrabang@bangkok.go.th"]\n').start()
        d.send(_letter(1), LAT)
        d.wait_idle()
        assert d.status()["outbox"]["folder"] == {"done": 1}
    finally:
        controller.stop()
    return collector.messages


def _read(data: bytes) -> tuple[str, str, list[str], bytes]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    texts = [p.get_content() for p in message.walk() if p.get_content_type() == "text/plain"]
    files = [p for p in message.walk() if p.get_filename() == FILE]
    return str(message["From"]), "".join(texts), [p.get_filename() for p in files], files[0].get_content()


def test_a_relay_that_offers_8bitmime_and_smtputf8_is_told_what_the_copy_is(daemon_factory):
    [got] = _forwarded(daemon_factory, _Collector(), enable_SMTPUTF8=True)
    assert "BODY=8BITMIME" in got.mail_options and "SMTPUTF8" in got.mail_options, got.mail_options
    assert f"From: {NAME} <saraban.dds@bangkok.go.th>".encode() in got.original_content  # as the sender wrote it
    sender, text, files, pdf = _read(got.original_content)
    assert sender == f"{NAME} <saraban.dds@bangkok.go.th>" and TEXT in text and pdf == PDF


def test_a_relay_that_offers_neither_gets_a_7bit_copy_that_reads_the_same(daemon_factory):
    [got] = _forwarded(daemon_factory, _Plain())
    assert not {"BODY=8BITMIME", "SMTPUTF8"} & set(got.mail_options), got.mail_options
    assert got.original_content.isascii()
    sender, text, files, pdf = _read(got.original_content)
    assert sender == f"{NAME} <saraban.dds@bangkok.go.th>"
    assert TEXT in text and files == [FILE] and pdf == PDF


def test_an_ascii_copy_is_unchanged_and_an_address_that_is_not_ascii_stays():
    plain = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n"
    assert for_relay(plain, False, False) == (plain, [])
    thai = "From: สมชาย@ราชการ.ไทย\r\nSubject: เรื่อง\r\n\r\nbody\r\n".encode()
    out, options = for_relay(thai, True, False)
    # The Subject can be written in encoded words; the address itself cannot, and stays.
    assert out.startswith("From: สมชาย@ราชการ.ไทย\r\nSubject: =?utf-8?".encode())
    assert options == ["BODY=8BITMIME"]  # what is left is 8-bit, and this relay takes it
    assert email.message_from_bytes(out, policy=email.policy.default)["Subject"] == "เรื่อง"
