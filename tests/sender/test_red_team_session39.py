"""Session 39's red team of sender authenticity (docs/sender-authenticity.md), against
the loopback DNS server (`{"DELAY": [seconds]}` makes a name answer too late):

* S39-1: each DKIM-Signature's key lookup had the whole `[dns] timeout`, one after
  another: eight signatures naming domains whose nameservers never answer held the
  check ~26 s, and the pipeline runner re-checked such a letter with no deadline,
  registering nothing else meanwhile. The keys of one letter now share one budget,
  signers that could align with the From are looked up first and the others get only
  what is left, and the pipeline's re-check is bounded by `check_deadline`.
* S39-2: a From domain under go.th that does not exist at all (NXDOMAIN) was "none",
  registered as that agency's letter with advice to set up DMARC. It is a fail now.
* S39-3: DMARC `pct=` was ignored: `p=reject; pct=0` was refused at DATA."""
from __future__ import annotations

import time

import pytest

from gateway.sender.check import IntakeChecker, check_message
from gateway.sender.dns import Resolver
from gateway.sender.policy import finding_for
from gateway.sender.settings import SenderSection
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.sender.test_daemon_sender import UNIT, entry_for, sender_config
from tests.sender.test_forgery import assert_quarantined, smtp_send
from tests.sender.zones import ATTACKER, MINISTRY, dkim_sign, zones
from tests.servers.dns import DnsServer

SILENT = "silent.example"  # its DMARC record and its signers' keys never answer in time
PLAIN = "small-office.example"  # exists, publishes nothing
LAME = "lame.example"  # the name itself never answers
NX_GOV = "moi-official.go.th"  # no such agency: NXDOMAIN
NX_OTHER = "no-such-office.example"
ROLLOUT = "rollout.example"  # p=reject; pct=0: rolling DMARC out
NEVER = 60  # seconds: longer than any test waits


def red_team_zones() -> dict[str, dict[str, list]]:
    z = zones()
    z[f"_dmarc.{SILENT}"] = {"TXT": ["v=DMARC1; p=reject"], "DELAY": [NEVER]}
    for n in range(8):
        z[f"sel._domainkey.s{n}.{SILENT}"] = {"TXT": ["v=DKIM1; p="], "DELAY": [NEVER]}
        z[f"sel._domainkey.slow{n}.example"] = {"TXT": ["v=DKIM1; p="], "DELAY": [NEVER]}
    z[f"mx.{PLAIN}"] = {"A": ["192.0.2.77"]}
    z[LAME] = {"TXT": ["v=spf1 -all"], "DELAY": [NEVER]}
    z[ROLLOUT] = {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    z[f"_dmarc.{ROLLOUT}"] = {"TXT": [f"v=DMARC1; p=reject; pct=0; rua=mailto:d@{ROLLOUT}"]}
    return z


def signatures(domains: list[str]) -> bytes:
    """DKIM-Signature fields whose keys are looked up (and never verify)."""
    return b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel; "
                    b"h=from:subject:date:message-id; bh=AAAA; b=AAAA\r\n" % d.encode() for d in domains)


@pytest.fixture(scope="module")
def dns39(tmp_path_factory):
    server = DnsServer(red_team_zones(), tmp_path_factory.mktemp("dns39")).start()
    yield server
    server.stop()


def check(dns39, raw: bytes, mail_from: str, timeout: float = 1.0, **kw):
    return check_message(raw, Resolver([dns39.address], timeout=timeout), SenderSection(**kw.pop("settings", {})),
                         "127.0.0.1", mail_from, "mx.m0i-go.example", **kw)


# S39-1 -------------------------------------------------------------------------------

def test_s39_1_silent_signers_that_cannot_align_do_not_hold_the_verdict(dns39):
    raw = signatures([f"slow{n}.example" for n in range(8)]) + letter(sender=f"clerk@{PLAIN}", subject="S39 slow")
    started = time.monotonic()
    auth = check(dns39, raw, f"clerk@{PLAIN}")
    took = time.monotonic() - started
    # A verdict (no DMARC, nothing aligned), not a wait: the silent keys could not change it.
    assert (auth.status, auth.dmarc) == ("none", "none")
    assert [s.result for s in auth.dkim] == ["temperror"] * 8
    assert took < 4.0, took  # eight timeouts of 1 s one after another before session 39

    forged = signatures([f"slow{n}.example" for n in range(8)]) + letter(sender=f"saraban@{MINISTRY}")
    auth = check(dns39, forged, f"bounce@{ATTACKER}")
    assert (auth.status, auth.dmarc, auth.dmarc_policy) == ("fail", "fail", "reject")  # held, not waiting


def test_s39_1_silent_signers_of_the_from_domain_share_one_budget_and_stay_temperror(dns39):
    raw = signatures([f"s{n}.{SILENT}" for n in range(8)]) + letter(sender=f"clerk0@{SILENT}")
    started = time.monotonic()
    auth = check(dns39, raw, f"bounce@{ATTACKER}", timeout=0.5, deadline=time.monotonic() + 2.0)
    assert time.monotonic() - started < 3.5
    # Never "pass", never "none": DNS did not answer, the letter waits.
    assert (auth.status, auth.dmarc) == ("temperror", "temperror")


def daemon_config(nameserver: str, **sender) -> str:
    return sender_config(nameserver, **sender).replace("timeout = 0.5", "timeout = 2.0")


def test_s39_1_a_genuine_letter_is_registered_while_silent_letters_wait(tmp_path, dns39):
    """The runner re-checks each silent letter within check_deadline (3 s here); before
    session 39 each re-check took 2 s for the DMARC record and 2 s for each of its eight
    keys, and the genuine letter waited two such rounds (~70 s)."""
    d = Daemon(write_config(tmp_path / "gw", extra=daemon_config(dns39.address, check_deadline="3.0"))).start()
    try:
        slow = [smtp_send(d, signatures([f"s{n}.{SILENT}" for n in range(8)])
                          + letter(sender=f"clerk{i}@{SILENT}", subject=f"S39 silent {i}"), f"bounce@{ATTACKER}")
                for i in range(2)]
        d.wait_for(lambda: sum(1 for e in d.events() if e.get("event") == "sender_check_waiting") >= 2,
                   timeout=90, what="the silent letters waiting in the pipeline")
        sent = time.monotonic()
        genuine = d.send(dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S39 genuine"), MINISTRY),
                         UNIT, sender=f"saraban@{MINISTRY}")
        d.wait_for(lambda: any(e["queue_id"] == genuine for e in d.register()), timeout=90,
                   what="the genuine letter registered")
        assert time.monotonic() - sent < 25
        assert entry_for(d, genuine)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
        registered = {e["queue_id"] for e in d.register()}
        assert not registered & set(slow)  # still waiting for DNS: neither registered nor passed
        assert any(e.get("event") == "sender_check_waiting" for e in d.events())
    finally:
        d.stop()


# S39-2 -------------------------------------------------------------------------------

def test_s39_2_a_from_domain_that_does_not_exist_fails(dns39):
    auth = check(dns39, letter(sender=f"clerk@{NX_OTHER}"), f"clerk@{NX_OTHER}")
    assert (auth.status, auth.dmarc) == ("fail", "fail")
    finding = finding_for(auth, SenderSection())
    assert finding.verdict == "warn"  # on_fail for a domain not in the quarantine list
    assert "does not exist" in finding.message_en and "ไม่มีอยู่จริง" in finding.message_th
    # One that exists and publishes nothing is still "no information".
    assert check(dns39, letter(sender=f"clerk@{PLAIN}"), f"clerk@{PLAIN}").status == "none"


def test_s39_2_a_from_domain_dns_does_not_answer_for_stays_temperror(dns39):
    auth = check(dns39, letter(sender=f"clerk@{LAME}"), f"bounce@{ATTACKER}", timeout=0.5)
    assert (auth.status, auth.dmarc) == ("temperror", "temperror")


def test_s39_2_a_forged_letter_of_a_go_th_domain_that_does_not_exist_is_held(tmp_path, dns39):
    d = Daemon(write_config(tmp_path / "gw", extra=sender_config(dns39.address))).start()
    try:
        forged = smtp_send(d, letter(sender=f"saraban@{NX_GOV}", subject="S39 NX forged"), f"bounce@{ATTACKER}")
        signed = smtp_send(d, dkim_sign(letter(sender=f"saraban@{NX_GOV}", subject="S39 NX signed"), ATTACKER),
                           f"bounce@{ATTACKER}")
        d.wait_idle(timeout=90)
        for queue_id in (forged, signed):
            entry = assert_quarantined(d, queue_id, "does not exist")
            [reason] = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
            assert NX_GOV in reason["message_th"] and "ไม่มีอยู่จริง" in reason["message_th"]
            assert "DKIM and DMARC" not in reason["message_en"]  # not an agency lacking DMARC
    finally:
        d.stop()


# S39-3 -------------------------------------------------------------------------------

def test_s39_3_pct_below_100_is_quarantine_not_reject(dns39):
    settings = SenderSection(reject_at_data=True)
    auth = check(dns39, letter(sender=f"clerk@{ROLLOUT}"), f"clerk@{ROLLOUT}")
    assert (auth.status, auth.dmarc, auth.dmarc_policy, auth.dmarc_pct) == ("fail", "fail", "reject", 0)
    checker = IntakeChecker(Resolver([dns39.address]), settings)
    try:
        assert not checker.refuse_at_data(auth)
        # pct absent (100): refused as before
        other = check(dns39, letter(sender="clerk@chula.ac.th"), "clerk@chula.ac.th")
        assert other.dmarc_pct == 100 and checker.refuse_at_data(other)
    finally:
        checker.close()
    finding = finding_for(auth, settings)
    assert finding.verdict == "fail" and "pct=0" in finding.message_en  # held, as the domain asks
    assert finding_for(auth, SenderSection()).verdict == "warn"  # p= not honoured: on_fail as before


def test_s39_3_daemon_accepts_and_holds_a_pct_0_failure(tmp_path, dns39):
    d = Daemon(write_config(tmp_path / "gw", extra=sender_config(dns39.address, reject_at_data="true"))).start()
    try:
        queue_id = smtp_send(d, letter(sender=f"clerk@{ROLLOUT}", subject="S39 pct"), f"clerk@{ROLLOUT}")  # 250
        with d.smtp() as client:  # p=reject without pct: still 550 at DATA
            client.ehlo("mx.m0i-go.example")
            client.mail("clerk@chula.ac.th")
            client.rcpt(UNIT)
            code, text = client.data(letter(sender="clerk@chula.ac.th", subject="S39 reject"))
        assert code == 550 and b"5.7.1" in text
        d.wait_idle(timeout=90)
        assert_quarantined(d, queue_id, "pct=0")
    finally:
        d.stop()

