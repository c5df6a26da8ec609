"""A sender at a Thai-script domain, written as sent (RFC 6532, SMTPUTF8), through the
real daemon and the loopback DNS server (red team of 7 Dec 2026).

The government's Thai-script domains (`*.รัฐบาล.ไทย`, `*.ทหาร.ไทย`) are protected by
default since session 39, yet any From whose domain was not ASCII was "unusable": a
genuine letter of กรม.รัฐบาล.ไทย, DKIM-signed by its own domain (d= its A-labels) with
DMARC p=reject, was held as a forgery, "the domain is not ASCII (an IDN must be written
as A-labels, xn--)", and its acknowledgement never went. A Thai-script domain is now
judged by its A-labels; any other script, a label mixing Thai and Latin letters, an
invisible character or a full-width dot stays unusable and held (session 36)."""
from __future__ import annotations

import pytest

from tests.letters import letter
from tests.sender.test_daemon_sender import UNIT, _copy_of, entry_for, notice_events, start
from tests.sender.test_forgery import assert_quarantined
from tests.sender.zones import SELECTOR, dkim_sign, key, zones
from tests.servers.dns import DnsServer

THAI = "กรม.รัฐบาล.ไทย"  # under the protected *.รัฐบาล.ไทย
A_LABELS = "xn--12c8df.xn--h3cuzk1di.xn--o3cw4h"
SENDER = f"สารบรรณ@{THAI}"
STAND_IN = "stand-in@dds.bangkok.go.th"


@pytest.fixture(scope="module")
def gw_thai(tmp_path_factory):
    z = zones()
    z[A_LABELS] = {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    z[f"{SELECTOR}._domainkey.{A_LABELS}"] = {"TXT": [key(A_LABELS).dns_txt]}
    z[f"_dmarc.{A_LABELS}"] = {"TXT": ["v=DMARC1; p=reject"]}
    dns = DnsServer(z, tmp_path_factory.mktemp("dns-thai")).start()
    d = start(tmp_path_factory.mktemp("thai"), "gw", dns.address)
    yield d
    d.stop()
    dns.stop()


def _utf8_letter(sender: str, subject: str) -> bytes:
    """As an RFC 6531 client writes it: the address raw UTF-8 in the From."""
    return letter(sender=STAND_IN, subject=subject).replace(STAND_IN.encode(), sender.encode("utf-8"))


def _send_utf8(d, raw: bytes, sender: str) -> str:
    with d.smtp() as client:
        client.ehlo("mail.example.th")
        assert client.mail(sender, options=["SMTPUTF8"])[0] == 250
        assert client.rcpt(UNIT)[0] == 250
        code, text = client.data(raw)
    assert code == 250, (code, text)
    return text.decode().rsplit(" ", 1)[-1]


def test_a_genuine_letter_of_a_thai_script_government_domain_is_verified(gw_thai):
    d = gw_thai
    # The agency's secretary sends for it and asks for a read receipt to its own From.
    raw = _utf8_letter(SENDER, "ขอเชิญประชุม")
    head, _, body = raw.partition(b"\r\n\r\n")
    head += f"\r\nSender: เลขานุการ@{THAI}\r\nDisposition-Notification-To: {SENDER}".encode()
    genuine = _send_utf8(d, dkim_sign(head + b"\r\n\r\n" + body, A_LABELS), SENDER)
    # The same agency forged (no signature, not its mail server): still held.
    forged = _send_utf8(d, _utf8_letter(SENDER, "โอนเงินด่วน"), SENDER)
    d.wait_idle()

    entry = entry_for(d, genuine)
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({THAI})"
    assert entry["sender_auth"]["from_domain"] == A_LABELS
    assert not [f for f in entry["findings"] if f["rule"] == "sender_authenticity"]
    # The verified sender is acknowledged (held here: the test daemon has no smarthost).
    assert [e["event"] for e in notice_events(d, genuine)] == ["notice_held"]
    copy = _copy_of(d, genuine)
    assert str(copy["X-Saraban-Sender-Verified"]).startswith(f"pass ({A_LABELS}); ยืนยันผู้ส่ง: ผ่าน ({THAI})")
    # Its own Sender and read-receipt request are the verified agency's: kept as sent.
    assert str(copy["Sender"]) == f"เลขานุการ@{THAI}" and copy["X-Saraban-Sender-Note"] is None
    assert str(copy["Disposition-Notification-To"]) == SENDER and copy["X-Saraban-Receipt-Note"] is None

    entry = assert_quarantined(d, forged, f"{THAI} publishes DMARC (p=reject)")  # in Thai, as จาก shows it
    assert [e.get("reason") for e in notice_events(d, forged)] == ["sender_not_verified"]


@pytest.mark.parametrize("sender", [
    "saraban@m\u043ei.go.th",  # a Cyrillic о in the ministry's domain
    "สารบรรณ@กรมx.รัฐบาล.ไทย",  # a label mixing Thai and Latin letters
    "สารบรรณ@กรม\u200b.รัฐบาล.ไทย",  # a zero-width space
    "สารบรรณ@กรม\uff0eรัฐบาล\uff0eไทย",  # full-width dots, which IDNA reads as dots
])
def test_a_domain_of_another_script_or_disguised_is_still_held(gw_thai, sender):
    d = gw_thai
    queue_id = _send_utf8(d, _utf8_letter(sender, "near miss"), sender)
    d.wait_idle()
    entry = assert_quarantined(d, queue_id)
    [reason] = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
    assert "ASCII" in reason["message_en"] or "not exactly one readable sender address" in reason["message_en"]


def test_a_thai_government_domain_at_the_start_of_another_is_held(gw_thai):
    """Now that the Thai labels are read, `กรม.รัฐบาล.ไทย.m0i-go.example` is the forger's
    own domain that starts with the department's, held as session 50 holds
    `moi.go.th.m0i-go.example` (before, every Thai From was unusable and held)."""
    d = gw_thai
    sender = f"สารบรรณ@{THAI}.m0i-go.example"
    queue_id = _send_utf8(d, _utf8_letter(sender, "look-alike"), sender)
    d.wait_idle()
    assert_quarantined(d, queue_id, f"the sender's domain {THAI}.m0i-go.example starts with the government "
                                    f"domain {THAI} but is not under it")
