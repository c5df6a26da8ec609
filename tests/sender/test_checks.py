"""The verdicts of gateway/sender/ against a real DNS server on loopback."""
from __future__ import annotations

import pytest

from gateway.sender.check import check_message, trusted_upstream_spf
from gateway.sender.dns import Resolver
from gateway.sender.policy import FORGED_TH, finding_for, notice_refusal
from gateway.sender.settings import SenderSection
from tests.cli_fork import run_gateway
from tests.letters import letter
from tests.sender.zones import (ATTACKER, DISTRICT, FORWARDER, MINISTRY, NO_DMARC, OTHER, arc_seal,
                                dkim_sign)
from tests.servers.dns import SilentNameserver

SETTINGS = SenderSection()


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=2.0)


def check(raw, resolver, ip="127.0.0.1", mail_from=None, settings=SETTINGS, **kw):
    return check_message(raw, resolver, settings, ip, mail_from or "", "mail.example", **kw)


def test_ministry_letter_signed_by_the_ministry_passes(resolver):
    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    auth = check(raw, resolver, mail_from=f"saraban@{MINISTRY}")
    assert (auth.status, auth.dmarc, auth.aligned_domain) == ("pass", "pass", MINISTRY)
    assert auth.spf == "fail"  # loopback is not among the ministry's servers; DKIM carries it
    assert [(s.domain, s.result, s.aligned) for s in auth.dkim] == [(MINISTRY, "pass", True)]
    assert finding_for(auth, SETTINGS) is None
    header = auth.header_value("saraban-gateway.test")
    assert header.startswith("saraban-gateway.test;")
    assert "dkim=pass header.d=moi.go.th" in header and "dmarc=pass" in header


def test_forged_ministry_letter_fails_with_the_thai_reason(resolver):
    # The attacker's own domain passes SPF and DKIM: neither aligns with moi.go.th.
    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), ATTACKER)
    auth = check(raw, resolver, mail_from=f"bounce@{ATTACKER}")
    assert auth.spf == "pass" and auth.dkim[0].result == "pass"
    assert (auth.status, auth.dmarc, auth.dmarc_policy) == ("fail", "fail", "reject")
    finding = finding_for(auth, SETTINGS)
    assert finding.rule == "sender_authenticity" and finding.verdict == "fail"
    assert finding.message_th.startswith(FORGED_TH)
    assert "moi.go.th" in finding.message_en
    assert notice_refusal(auth, f"saraban@{MINISTRY}", SETTINGS) == "sender_not_verified"


def test_district_office_subdomain_uses_the_bma_record_and_aligns_relaxed(resolver):
    raw = dkim_sign(letter(sender=f"saraban.dindaeng@{DISTRICT}"), DISTRICT)
    auth = check(raw, resolver)
    assert (auth.status, auth.dmarc_domain, auth.dmarc_policy) == ("pass", "bangkok.go.th", "quarantine")
    forged = check(letter(sender=f"saraban.dindaeng@{DISTRICT}"), resolver)
    assert forged.status == "fail"


def test_lookalike_domain_is_not_aligned(resolver):
    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), FORWARDER)
    assert check(raw, resolver).status == "fail"


def test_agency_without_dmarc_is_none_and_warned_and_not_answered(resolver):
    unsigned = check(letter(sender=f"saraban@{NO_DMARC}"), resolver, mail_from=f"saraban@{NO_DMARC}")
    assert (unsigned.status, unsigned.dmarc, unsigned.spf) == ("none", "none", "softfail")
    finding = finding_for(unsigned, SETTINGS)
    assert finding.verdict == "warn"
    # go.th whose mail is not verified: no acknowledgement (backscatter to a forged address).
    assert notice_refusal(unsigned, f"saraban@{NO_DMARC}", SETTINGS) == "sender_not_verified"
    signed = check(dkim_sign(letter(sender=f"saraban@{NO_DMARC}"), NO_DMARC), resolver)
    assert (signed.status, signed.aligned_domain, signed.dmarc) == ("pass", NO_DMARC, "none")
    assert notice_refusal(signed, f"saraban@{NO_DMARC}", SETTINGS) is None
    assert notice_refusal(signed, "victim@elsewhere.example", SETTINGS) == "address_not_verified"


def test_other_domain_failing_dmarc_is_a_warning(resolver):
    auth = check(letter(sender=f"dean@{OTHER}"), resolver)
    assert auth.status == "fail"
    assert finding_for(auth, SETTINGS).verdict == "warn"


def test_tampered_body_fails(resolver):
    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    tampered = raw.replace("โปรแกรม".encode(), "บัญชีธนาคาร".encode(), 1)
    if tampered == raw:  # the subject is encoded: change the body text instead
        tampered = raw[:-40] + b"X" + raw[-39:]
    auth = check(tampered, resolver)
    assert auth.dkim[0].result == "fail" and auth.status == "fail"


def test_arc_sealed_by_a_trusted_forwarder_vouches_after_the_body_changed(resolver):
    signed = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    # A mailing-list style forwarder adds a footer: the ministry's DKIM body hash breaks.
    forwarded = signed.rstrip(b"\r\n") + b"\r\n--\r\nforwarded by relay.example\r\n"
    sealed = arc_seal(forwarded, FORWARDER, FORWARDER,
                      f"dkim=pass header.d={MINISTRY}; dmarc=pass header.from={MINISTRY}")
    untrusted = check(sealed, resolver)
    assert untrusted.arc == "pass" and untrusted.arc_sealer == FORWARDER
    assert untrusted.status == "fail"  # an ARC seal of a forwarder nobody trusts proves nothing
    trusted = SenderSection(trusted_arc_sealers=[FORWARDER])
    auth = check(sealed, resolver, settings=trusted)
    assert (auth.status, auth.arc_trusted, auth.aligned_domain) == ("pass", True, MINISTRY)
    assert "arc=pass" in auth.header_value("gw")


def test_dns_timeout_is_temperror_never_fail():
    silent = SilentNameserver()
    try:
        resolver = Resolver([silent.address], timeout=0.5)
        raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), ATTACKER)
        auth = check(raw, resolver, mail_from=f"bounce@{ATTACKER}")
    finally:
        silent.close()
    assert (auth.status, auth.dmarc) == ("temperror", "temperror")
    assert auth.dkim[0].result == "temperror"
    # Only once the wait is over, and never a verdict of forgery: a domain whose
    # forgeries are quarantined (moi.go.th) is registered only verified, so its letter is
    # held for a person (since session 36); any other domain's is registered with a warning.
    found = finding_for(auth, SETTINGS)
    assert found.verdict == "fail" and "held for a person" in found.message_en
    auth.from_domain = "small-office.example"
    assert finding_for(auth, SETTINGS).verdict == "warn"


def test_answers_are_cached_for_their_ttl(tmp_path):
    from tests.sender.zones import zones
    from tests.servers.dns import DnsServer

    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    with DnsServer(zones(), tmp_path) as server:
        resolver = Resolver([server.address], timeout=0.5)
        assert check(raw, resolver).status == "pass"
    # The server is gone; the answers (TTL 300 s) are still known.
    again = check(raw, resolver)
    assert (again.status, again.aligned_domain) == ("pass", MINISTRY)


def test_upstream_results_trusted_only_from_the_configured_authserv_id():
    raw = (b"Authentication-Results: mx.attacker.example; spf=pass smtp.mailfrom=x@moi.go.th\r\n"
           b"Authentication-Results: mx.bangkok.go.th; spf=fail smtp.mailfrom=saraban@moi.go.th\r\n"
           + letter(sender="saraban@moi.go.th"))
    assert trusted_upstream_spf(raw, ["mx.bangkok.go.th"]) == ("fail", "moi.go.th")
    assert trusted_upstream_spf(raw, []) is None


def test_rules_check_shows_the_verdict_only_with_dns(tmp_path, dns_server):
    import subprocess
    import sys

    from tests.paths import REPO

    eml = tmp_path / "forged.eml"
    eml.write_bytes(dkim_sign(letter(sender=f"saraban@{MINISTRY}"), ATTACKER))
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n'
                      f'[directory]\npath = "{REPO / "config" / "units.toml"}"\n'
                      f'[dns]\nnameservers = ["{dns_server.address}"]\ntimeout = 1.0\n', encoding="utf-8")

    def run(*extra):
        return run_gateway(["--config", str(config), "rules", "check", str(eml), *extra])

    offline = run()
    assert "DKIM and DMARC were not checked" in offline.stdout
    checked = run("--dns")
    assert "ยืนยันผู้ส่ง: ไม่ผ่าน (moi.go.th)" in checked.stdout
    assert "ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง" in checked.stdout
    assert checked.returncode == 1 and "decision       : reject" in checked.stdout


def _entry(raw: bytes, peer: str, auth=None):
    import datetime as dt
    from pathlib import Path

    from gateway.spool import SpoolEntry

    return SpoolEntry(queue_id="q1", mail_from="", rcpt_to=["saraban.latkrabang@bangkok.go.th"],
                      received_at=dt.datetime.now(dt.timezone.utc), peer=peer, helo=None, raw=raw,
                      path=Path("/nonexistent"), auth=auth)


def test_imap_letters_trust_only_the_upstream_authserv_id_for_spf(resolver):
    from gateway.sender.check import PipelineChecker

    checker = PipelineChecker(resolver, SenderSection(upstream_authserv_ids=["mx.bangkok.go.th"]))
    imap_peer = "central;uidvalidity=7;uid=42"
    body = letter(sender=f"saraban@{MINISTRY}")
    # The BMA's own mail server saw the ministry's server pass SPF: the letter is verified.
    upstream = b"Authentication-Results: mx.bangkok.go.th; spf=pass smtp.mailfrom=saraban@moi.go.th\r\n"
    auth = checker.settle(_entry(upstream + body, imap_peer))
    assert (auth.status, auth.spf_source, auth.aligned_domain) == ("pass", "upstream", MINISTRY)
    # The same claim in the name of another server was written by the sender.
    forged = b"Authentication-Results: mx.attacker.example; spf=pass smtp.mailfrom=saraban@moi.go.th\r\n"
    auth = checker.settle(_entry(forged + body, imap_peer))
    assert (auth.status, auth.spf_source) == ("fail", "none")
    # DKIM is checked by the gateway itself.
    auth = checker.settle(_entry(dkim_sign(body, MINISTRY), imap_peer))
    assert auth.status == "pass" and auth.dkim[0].result == "pass"


def test_pipeline_keeps_a_definite_intake_verdict_and_rechecks_a_temperror(resolver):
    from gateway.sender.check import PipelineChecker
    from gateway.sender.results import SenderAuth

    checker = PipelineChecker(resolver, SenderSection())
    raw = letter(sender=f"saraban@{MINISTRY}")
    kept = SenderAuth(status="pass", from_domain=MINISTRY, aligned_domain=MINISTRY).as_dict()
    assert checker.settle(_entry(raw, "127.0.0.1:4000", kept)).status == "pass"
    waiting = SenderAuth(status="temperror").as_dict()
    assert checker.settle(_entry(raw, "127.0.0.1:4000", waiting)).status == "fail"  # DNS answers now
