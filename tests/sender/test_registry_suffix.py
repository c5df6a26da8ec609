"""A From at the government's suffix itself (`saraban@go.th`), through the real daemon
and the loopback DNS server (red team of 7 Dec 2026).

go.th is the registry's name under which the ministries and departments have their
domains; no agency writes from it, and a clerk reads `สำนักนายกรัฐมนตรี <saraban@go.th>`
as the government's. The quarantine list's `*.go.th` matches only the names under it,
so such a forgery (go.th exists and publishes no DMARC) was registered
"ไม่มีข้อมูล (go.th)" with a receive number, the clerk told that "the sending agency
should set up DKIM and DMARC"; and `saraban@go.th.m0i-go.example`, the forger's own
verified domain, "ผ่าน (m0i-go.example)", where `moi.go.th.m0i-go.example` is held
(session 50). Both are now held as forgeries."""
from __future__ import annotations

import pytest

from tests.letters import letter
from tests.sender.test_daemon_sender import UNIT, entry_for, notice_events, start
from tests.sender.test_forgery import assert_quarantined
from tests.sender.zones import ATTACKER, NO_DMARC, SELECTOR, dkim_sign, key, zones
from tests.servers.dns import DnsServer

LOOKALIKE = f"go.th.{ATTACKER}"  # the forger's own name, under its own domain


@pytest.fixture(scope="module")
def gw_suffix(tmp_path_factory):
    z = zones()
    z[f"{SELECTOR}._domainkey.{LOOKALIKE}"] = {"TXT": [key(LOOKALIKE).dns_txt]}
    dns = DnsServer(z, tmp_path_factory.mktemp("dns-suffix")).start()
    d = start(tmp_path_factory.mktemp("suffix"), "gw", dns.address)
    yield d
    d.stop()
    dns.stop()


def test_a_from_at_the_government_suffix_itself_is_held(gw_suffix):
    d = gw_suffix
    suffix = d.send(letter(sender="saraban@go.th", subject="คำสั่งด่วน"), UNIT, sender="saraban@go.th")
    lookalike = d.send(dkim_sign(letter(sender=f"saraban@{LOOKALIKE}", subject="คำสั่งด่วน 2"), LOOKALIKE),
                       UNIT, sender=f"saraban@{LOOKALIKE}")
    # The honest near-misses: an agency under go.th without DMARC is registered with
    # the warning as before, and the forger's own plain domain as what it is.
    agency = d.send(letter(sender=f"saraban@{NO_DMARC}", subject="หนังสือเวียน"), UNIT, sender=f"saraban@{NO_DMARC}")
    own = d.send(dkim_sign(letter(sender=f"saraban@{ATTACKER}", subject="own"), ATTACKER), UNIT,
                 sender=f"saraban@{ATTACKER}")
    d.wait_idle()

    entry = assert_quarantined(d, suffix, "the sender's domain go.th is the suffix under which government "
                                          "agencies have their own domains (*.go.th)")
    [reason] = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
    assert "โดเมนผู้ส่ง go.th เป็นโดเมนกลางที่หน่วยงานราชการใช้ตั้งโดเมนของตน" in reason["message_th"]
    assert [e.get("reason") for e in notice_events(d, suffix)] in ([], ["sender_not_verified"],
                                                                   ["sender_not_aligned"])
    assert_quarantined(d, lookalike, f"the sender's domain {LOOKALIKE} starts with the government domain go.th")

    assert entry_for(d, agency)["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({NO_DMARC})"
    assert entry_for(d, own)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"


def test_the_suffix_is_the_quarantine_lists_own_and_a_pattern_naming_it_decides():
    """Which suffixes: those of the quarantined wildcards, in Thai or by A-labels; a
    pattern naming the suffix itself decides for it, as any exact pattern does."""
    from gateway.sender.settings import SenderSection

    settings = SenderSection()
    for suffix in ("go.th", "GO.TH.", "mi.th", "รัฐบาล.ไทย", "xn--h3cuzk1di.xn--o3cw4h", "ทหาร.ไทย"):
        assert settings.protected_suffix(suffix), suffix
    for other in ("moi.go.th", "bangkok.go.th", "co.th", "ac.th", "th", "ไทย", "m0i-go.example", None):
        assert not settings.protected_suffix(other), other
    named = SenderSection(domains={"*.go.th": "quarantine", "go.th": "warn"})
    assert not named.protected_suffix("go.th")
