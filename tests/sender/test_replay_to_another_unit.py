"""Red team of 7 Dec 2026 (senders): a genuine, DKIM-signed ministry letter to one unit,
sent again as it is (the same bytes) to another unit, through the real daemon, the
loopback DNS server and an SMTP sink as the smarthost.

DKIM verifies wherever the signed bytes go: anyone who holds a copy (any recipient of
the letter) could send the ministry's letter to Din Daeng on to Lat Krabang, where it
was registered "ผ่าน (moi.go.th)" with no word and no review flag, and the ministry got
Lat Krabang's acknowledgement. Now the clerk is warned (`addressed_elsewhere`, Thai
and English, the entry flagged for review) when the To and Cc the signature covers name
other units of the gateway and not this one; a letter that names the unit, or that one
message took to several units, is not. docs/sender-authenticity.md, "A letter sent on
to another unit".
"""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.sender.test_daemon_sender import entry_for, sender_config
from tests.sender.zones import ATTACKER, MINISTRY, SIGNED_HEADERS, dkim_sign

DIN = "saraban.dindaeng@bangkok.go.th"
LAT = "saraban.latkrabang@bangkok.go.th"
SENDER = f"saraban@{MINISTRY}"


@pytest.fixture(scope="module")
def replay(tmp_path_factory, dns_server):
    sink = Sink(free_port()).start()
    extra = sender_config(dns_server.address) + notices_config(sink)
    d = Daemon(write_config(tmp_path_factory.mktemp("replay"), extra=extra)).start()
    yield d, sink
    d.stop()
    sink.stop()


def _own(text: str) -> list[tuple[str, bytes]]:
    """A PDF of its own, so that no letter here is another's files sent again (same_files)."""
    return [("2569_moi_0407_57.pdf", make_pdf(text))]


def _elsewhere(entry: dict) -> list[dict]:
    return [f for f in entry["findings"] if f["rule"] == "addressed_elsewhere"]


def test_a_signed_letter_sent_on_to_another_unit_is_flagged_for_the_clerk(replay):
    d, sink = replay
    genuine = dkim_sign(letter(to=DIN, sender=SENDER, subject="R1 คำสั่งถึงเขตดินแดง", files=_own("R1")), MINISTRY)
    original_id = d.send(genuine, DIN, sender=SENDER)
    replayed_id = d.send(genuine, LAT, sender=f"x@{ATTACKER}")  # the very same bytes
    # A Cc naming Lat Krabang added above the signed one: no signature covers it.
    signs_cc = [*SIGNED_HEADERS, b"cc"]
    with_cc = dkim_sign(letter(to=DIN, sender=SENDER, subject="R1 Cc", extra_headers={"Cc": DIN},
                               files=_own("R1 Cc")), MINISTRY,
                        headers=signs_cc)
    added_cc_id = d.send(f"Cc: {LAT}\r\n".encode() + with_cc, LAT, sender=f"x@{ATTACKER}")
    d.wait_idle()

    original = entry_for(d, original_id)
    assert original["unit"] == "saraban.dindaeng" and not _elsewhere(original) and not original["review"]
    for queue_id in (replayed_id, added_cc_id):
        entry = entry_for(d, queue_id)
        # Still the ministry's own letter (its signature is genuine) ...
        assert entry["unit"] == "saraban.latkrabang"
        assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
        # ... but the clerk is told where the ministry sent it, and must look.
        [warning] = _elsewhere(entry)
        assert warning["verdict"] == "warn" and entry["review"] is True
        assert f"ลายมือชื่อ DKIM ของ {MINISTRY} รับรองว่าหนังสือฉบับนี้ส่งถึง {DIN} ไม่ใช่ {LAT}" in warning["message_th"]
        assert "ผู้อื่นนำมาส่งซ้ำ" in warning["message_th"] and "(Bcc)" in warning["message_th"]
        assert f"vouches that this letter was sent to {DIN}, not to {LAT}" in warning["message_en"]
        assert "check with the sender" in warning["message_en"]
    # The ministry is acknowledged (it may learn of the copy so), without the clerk's warning.
    acks = sink.wait(3, to=SENDER)
    texts = [m.message.get_body(("plain",)).get_content() for m in acks]
    assert not any(DIN in text or "Bcc" in text for text in texts)


def test_a_letter_naming_the_unit_is_not_flagged(replay):
    d, _sink = replay
    # One message to two units, one in To and one in Cc: each unit is named.
    both = dkim_sign(letter(to=DIN, sender=SENDER, subject="R2 ถึงสองเขต", extra_headers={"Cc": LAT},
                            files=_own("R2")), MINISTRY,
                     headers=[*SIGNED_HEADERS, b"cc"])
    both_id = d.send(both, [DIN, LAT], sender=SENDER)
    # To naming no unit of the gateway (a circular sent to many as Bcc): nothing to tell.
    bcc = dkim_sign(letter(to="undisclosed-recipients:;", sender=SENDER, subject="R2 Bcc", files=_own("R2 Bcc")), MINISTRY)
    bcc_id = d.send(bcc, LAT, sender=SENDER)
    d.wait_idle()
    entries = [e for e in d.register() if e["queue_id"] in (both_id, bcc_id)]
    assert sorted(e["unit"] for e in entries) == ["saraban.dindaeng", "saraban.latkrabang", "saraban.latkrabang"]
    for entry in entries:
        assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
        assert not _elsewhere(entry) and not entry["review"], entry["findings"]
