"""Red team of 7 Dec 2026 (senders): notices to a unit of this gateway, through the real
daemon, the loopback DNS server and an SMTP sink as the smarthost.

A BMA department writes to a district from its own saraban address
(saraban.dds@bangkok.go.th). The district's acknowledgement went to the smarthost, which
gives mail for saraban.dds back to this gateway: there, with no PDF, it was held in the
department's quarantine as "ไม่พบหนังสือในอีเมลนี้" (no_document), one entry per letter and
district, and the department's clerk never saw the receive number. Now a notice to one
of the gateway's own units is filed into that unit's folder, as its letters are; every
other notice still goes to the smarthost. docs/notices.md, "Who gets it".
"""
from __future__ import annotations

import email
import email.policy
import json

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.sender.test_daemon_sender import entry_for, sender_config
from tests.sender.zones import MINISTRY, SELECTOR, dkim_sign, key, zones
from tests.servers.dns import DnsServer

DDS = "saraban.dds@bangkok.go.th"  # สำนักการระบายน้ำ, a unit of this gateway
DIN = "saraban.dindaeng@bangkok.go.th"
LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def bma_dns(tmp_path_factory):
    """The test zones, with the BMA's own DKIM key (its mail server signs for its units)."""
    z = zones()
    z[f"{SELECTOR}._domainkey.bangkok.go.th"] = {"TXT": [key("bangkok.go.th").dns_txt]}
    server = DnsServer(z, tmp_path_factory.mktemp("bma_dns")).start()
    yield server
    server.stop()


def _notices_in(d: Daemon, folder: str) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in d.maildir_files(folder)]
    return [m for m in found if m["X-Saraban-Notice"] is not None]


def _quarantined(d: Daemon) -> list[dict]:
    return json.loads(d.cli("quarantine", "list", "--json").stdout)


def test_a_units_acknowledgements_are_filed_in_its_folder_not_sent_back_to_the_gateway(tmp_path, bma_dns):
    sink = Sink(free_port()).start()
    extra = sender_config(bma_dns.address) + notices_config(sink, own_units="file")
    d = Daemon(write_config(tmp_path / "gw", extra=extra)).start()
    try:
        own = dkim_sign(letter(to=f"{DIN}, {LAT}", sender=DDS, subject="O1 ขอความร่วมมือลอกท่อ",
                               files=[("2569_dds_0403_57.pdf", make_pdf("O1"))]), "bangkok.go.th")
        own_id = d.send(own, [DIN, LAT], sender=DDS)
        # Control: an agency outside the gateway is answered through the smarthost.
        ministry = dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="O1 ministry",
                                    files=[("2569_moi_0407_57.pdf", make_pdf("O1 ministry"))]), MINISTRY)
        ministry_id = d.send(ministry, LAT, sender=f"saraban@{MINISTRY}")
        d.wait_idle()
        sink.wait(1, to=f"saraban@{MINISTRY}")
        # The BMA's smarthost gives mail for saraban.dds to this gateway: whatever reached
        # it for saraban.dds comes back as the smarthost would bring it (null sender).
        for returned in sink.messages(to=DDS):
            with d.smtp() as client:
                client.sendmail("", [DDS], returned.data)
        d.wait_idle()
        assert _quarantined(d) == []  # until 7 Dec 2026: each ack held here as no_document
        d.wait_for(lambda: len(_notices_in(d, "dds")) >= 2, timeout=30, what="two acknowledgements for saraban.dds")

        registered = [e for e in d.register() if e["queue_id"] == own_id]
        assert sorted(e["unit"] for e in registered) == ["saraban.dindaeng", "saraban.latkrabang"]
        assert all(e["sender_verified"] == "ยืนยันผู้ส่ง: ผ่าน (bangkok.go.th)" for e in registered)
        numbers = {e["unit"]: e["receive_no"] for e in registered}
        acks = _notices_in(d, "dds")
        assert len(acks) == 2
        for ack in acks:
            assert ack["To"].addresses[0].addr_spec == DDS
            assert str(ack["X-Saraban-Notice"]) == "ack"
            sender = ack["From"].addresses[0].addr_spec
            unit = sender.partition("@")[0]
            assert f"เลขรับ {numbers[unit]}" in str(ack["Subject"])
            assert "O1 ขอความร่วมมือลอกท่อ" in ack.get_body(("plain",)).get_content()
        assert {a["From"].addresses[0].addr_spec for a in acks} == {DIN, LAT}
        # Nothing went to the smarthost for saraban.dds, nothing came back, nothing held.
        assert [m.rcpt_tos for m in sink.messages()] == [[f"saraban@{MINISTRY}"]]
        assert _quarantined(d) == []
        filed = [e for e in d.events() if e.get("event") == "notice_filed"]
        assert len(filed) == 2 and all(e["to"] == DDS and e["backend"] == "maildir" for e in filed)
        assert entry_for(d, ministry_id)["receive_no"]
    finally:
        d.stop()
        sink.stop()


def test_without_a_smarthost_a_units_notices_are_still_filed(tmp_path):
    """Notices are held while no smarthost is configured; one to a unit of the gateway
    needs none."""
    d = Daemon(write_config(tmp_path / "gw", extra=notices_config(None, own_units="file"))).start()
    try:
        d.send(letter(to=LAT, sender=DDS, subject="O2 no smarthost"), LAT, sender=DDS)
        d.send(letter(sender="saraban@dla.go.th", subject="O2 outside"), LAT, sender="saraban@dla.go.th")
        d.wait_idle()
        d.wait_for(lambda: _notices_in(d, "dds"), timeout=30, what="the acknowledgement for saraban.dds")
        [ack] = _notices_in(d, "dds")
        assert ack["From"].addresses[0].addr_spec == LAT and "O2 no smarthost" in str(ack["Subject"])
        held = [e for e in d.events() if e.get("event") == "notice_held"]
        assert [e["to"] for e in held] == ["saraban@dla.go.th"]
        assert _quarantined(d) == []
    finally:
        d.stop()


def test_sending_is_the_default():
    """Filing is the site's choice: a smarthost that delivers the units' addresses
    elsewhere than to this gateway (a mail system of their own) must still get them."""
    from gateway.config.settings import NoticesSection

    assert NoticesSection().own_units == "smarthost"


def test_a_unit_on_the_imap_backend_gets_its_notice_in_its_imap_folder(tmp_path, dovecot, dovecot_user):
    from tests.imap_helpers import delivery_config, folder_messages

    user, password = dovecot_user
    extra = notices_config(None, own_units="file") + delivery_config(dovecot, user, password, unit="saraban.dds",
                                                                      folder="Saraban")
    d = Daemon(write_config(tmp_path / "gw", extra=extra)).start()
    try:
        d.send(letter(to=LAT, sender=DDS, subject="O3 imap"), LAT, sender=DDS)
        d.wait_idle()
        d.wait_for(lambda: folder_messages(dovecot, user, "Saraban"), timeout=30, what="the notice in IMAP")
        [(_flags, ack)] = folder_messages(dovecot, user, "Saraban")
        assert str(ack["X-Saraban-Notice"]) == "ack" and "O3 imap" in str(ack["Subject"])
        assert ack["To"].addresses[0].addr_spec == DDS
        assert [e["backend"] for e in d.events() if e.get("event") == "notice_filed"] == ["imap"]
        assert _quarantined(d) == []
    finally:
        d.stop()
