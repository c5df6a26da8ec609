"""Session 36's red team of sender authenticity (docs/sender-authenticity.md), through the
real daemon against the loopback DNS server:

* S36-1: backscatter. An envelope on a name the forger makes up under the victim's
  domain (`x@bounce.victim.example`: no SPF record, SPF none), with `From:
  ceo@victim.example`, whose SPF is `-all` and who has no DMARC, got the official
  acknowledgement quoting the forger's subject; so did a From whose SPF is broken
  (permerror). An unverified sender is now answered only when its From domain and
  organisation publish no SPF at all (gateway/sender/check.py `_spf_published`,
  policy.py `notice_refusal`).
* S36-2: a From domain with an invisible character (`moi.go.th\\u200b`), a Cyrillic о or
  full-width dots escaped the quarantine of *.go.th forgeries and was registered with a
  warning, shown as the ministry's. A non-ASCII sender domain is now a forgery held for
  a person (policy.py `_disguised`).
* S36-4: an ed25519-sha256 DKIM signature (RFC 8463) never verified: dkimpy needs
  PyNaCl for it, which was not installed, so an agency signing only with ed25519 was a
  DMARC fail and its genuine letters held as forgeries.
* S36-3: an unsigned forgery of a protected domain whose envelope is a name under it
  that never answers DNS (SERVFAIL) waited, then was registered with a warning. A
  protected domain's letter that DNS could not verify is now held for a person."""
from __future__ import annotations

import pytest

from gateway.sender.policy import finding_for
from gateway.sender.results import SenderAuth
from gateway.sender.settings import SenderSection
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.sender.test_daemon_sender import entry_for, notice_events, sender_config
from tests.sender.test_forgery import assert_quarantined, smtp_send
from tests.sender.zones import ATTACKER, MINISTRY, zones
from tests.servers.dns import DnsServer

VICTIM = "victim.example"  # SPF -all for its own servers, no DMARC
BROKEN = "permerr.example"  # an SPF record that includes itself: permerror
PLAIN = "small-office.example"  # publishes nothing at all


def red_team_zones() -> dict[str, dict[str, list]]:
    z = zones()
    z[VICTIM] = {"TXT": ["v=spf1 ip4:203.0.113.5 -all"]}
    z[BROKEN] = {"TXT": [f"v=spf1 include:{BROKEN} -all"]}
    z[f"mx.{PLAIN}"] = {"A": ["192.0.2.77"]}
    return z


LOOK_ALIKES = {"zwsp": f"{MINISTRY}\u200b", "cyrillic": "moi.g\u043e.th", "fullwidth": "moi\uff0ego\uff0eth",
               "soft hyphen": "moi.go.t\u00adh"}


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    dns = DnsServer(red_team_zones(), tmp_path_factory.mktemp("dns36")).start()
    d = Daemon(write_config(tmp_path_factory.mktemp("s36") / "gw", extra=sender_config(dns.address))).start()
    ids: dict[str, str] = {}
    try:
        ids["bounce"] = smtp_send(d, letter(sender=f"ceo@{VICTIM}", subject="Payment overdue S36"),
                                  f"x@bounce.{VICTIM}")
        ids["permerror"] = smtp_send(d, letter(sender=f"ceo@{BROKEN}", subject="S36 permerror"), f"ceo@{BROKEN}")
        ids["plain"] = smtp_send(d, letter(sender=f"clerk@{PLAIN}", subject="S36 plain"), f"clerk@{PLAIN}",
                                 helo=f"mx.{PLAIN}")
        for name, domain in LOOK_ALIKES.items():
            raw = letter(sender="saraban@placeholder.example", subject=f"S36 {name}")
            raw = raw.replace(b"saraban@placeholder.example", f"saraban@{domain}".encode())  # raw UTF-8
            ids[name] = smtp_send(d, raw, f"bounce@{ATTACKER}")
        d.wait_idle(timeout=120)
        yield d, ids
    finally:
        d.stop()
        dns.stop()


@pytest.mark.parametrize("name", ["bounce", "permerror"])
def test_s36_1_no_acknowledgement_for_a_from_whose_domain_names_other_mail_servers(sent, name):
    d, ids = sent
    assert entry_for(d, ids[name])["receive_no"]  # registered: only the notice is withheld
    events = [(e["event"], e.get("reason")) for e in notice_events(d, ids[name])]
    assert events == [("notice_suppressed", "sender_not_verified")]


def test_s36_1_a_sender_that_publishes_nothing_is_still_answered(sent):
    d, ids = sent
    assert [e["event"] for e in notice_events(d, ids["plain"])] == ["notice_held"]


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_s36_2_a_look_alike_sender_domain_is_held_not_registered(sent, name):
    d, ids = sent
    entry = assert_quarantined(d, ids[name])
    said = " ".join(r["message_en"] for r in entry["reasons"] if r["rule"] == "sender_authenticity")
    # an address a parser still reads names its characters; one it does not is an unusable From
    assert "not plain ASCII" in said or "not ASCII" in said, said


def test_s36_3_a_protected_domain_that_dns_could_not_verify_is_held():
    auth = SenderAuth(status="temperror", dmarc="temperror", from_domain=MINISTRY, spf="temperror",
                      spf_domain=f"broken.{MINISTRY}")
    assert finding_for(auth, SenderSection()).verdict == "fail"
    other = SenderAuth(status="temperror", dmarc="temperror", from_domain="small-office.example")
    assert finding_for(other, SenderSection()).verdict == "warn"  # DNS is nobody's verdict of forgery


def test_s36_4_an_ed25519_signature_verifies(tmp_path):
    import base64

    import dkim
    import nacl.signing

    from gateway.sender.check import check_message
    from gateway.sender.dns import Resolver

    signing = nacl.signing.SigningKey.generate()
    z = zones()
    z[f"ed2569._domainkey.{MINISTRY}"] = {
        "TXT": ["v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(signing.verify_key)).decode()]}
    dns = DnsServer(z, tmp_path).start()
    try:
        raw = letter(sender=f"saraban@{MINISTRY}", subject="S36 ed25519")
        signed = dkim.sign(raw, b"ed2569", MINISTRY.encode(), base64.b64encode(bytes(signing)),
                           signature_algorithm=b"ed25519-sha256",
                           include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + raw
        auth = check_message(signed, Resolver([dns.address], timeout=1.0), SenderSection(), "127.0.0.1",
                             f"bounce@{ATTACKER}", "mx.m0i-go.example")
    finally:
        dns.stop()
    assert [(s.domain, s.result) for s in auth.dkim] == [(MINISTRY, "pass")]
    assert (auth.status, auth.aligned_domain) == ("pass", MINISTRY)
