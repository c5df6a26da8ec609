"""The red team's forgeries at the level of gateway/sender/ and the folder copy: what
needs DNS the test server does not publish (an attacker's silent nameserver, a key in
testing mode), IMAP intake, refusal at DATA and who may get a notice."""
from __future__ import annotations

import dkim
import pytest

from gateway.delivery.folder_copy import build_folder_copy
from gateway.sender.check import IntakeChecker, PipelineChecker, check_message, trusted_upstream_spf
from gateway.sender.dns import DnsTemporary, Resolver
from gateway.sender.policy import finding_for, notice_refusal
from gateway.sender.results import SenderAuth, forged_results
from gateway.sender.settings import SenderSection
from gateway.sender.spf import check_spf
from tests.letters import letter
from tests.sender.test_forgery import with_from
from tests.sender.zones import ATTACKER, MINISTRY, OTHER, SELECTOR, SIGNED_HEADERS, dkim_sign, key

SETTINGS = SenderSection()


class Overlay:
    """The test DNS server, plus names that never answer (the forger's own silent
    nameserver) and extra TXT records."""

    def __init__(self, inner: Resolver, silent: tuple[str, ...] = (), txt: dict[str, bytes] | None = None):
        self.inner, self.silent, self.extra = inner, silent, txt or {}
        self.timeout = inner.timeout

    def _silent(self, name: str) -> None:
        if any(name.rstrip(".").lower().endswith(s) for s in self.silent):
            raise DnsTemporary(f"{name}: Timeout")

    def resolve(self, name: str, rdtype: str) -> list:
        self._silent(name)
        return self.inner.resolve(name, rdtype)

    def exists(self, name: str) -> bool:
        self._silent(name)
        return self.inner.exists(name)

    def txt(self, name: str) -> list[bytes]:
        self._silent(name)
        if name.rstrip(".") in self.extra:
            return [self.extra[name.rstrip(".")]]
        return self.inner.txt(name)


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=1.0)


def check(raw, resolver, mail_from=f"bounce@{ATTACKER}", helo="mx.m0i-go.example", settings=SETTINGS, **kw):
    return check_message(raw, resolver, settings, "127.0.0.1", mail_from, helo, **kw)


# F1 -------------------------------------------------------------------------------

def test_f1_spf_identity_is_the_domain_pyspf_evaluates(resolver):
    from gateway.sender.spf import spf_identity

    assert spf_identity(ATTACKER, MINISTRY) is None  # no "@": not the HELO name
    assert spf_identity("", MINISTRY) == MINISTRY  # the null reverse-path: HELO
    assert spf_identity(f"a@b@{ATTACKER}", MINISTRY) is None  # pyspf splits at the first "@"
    assert spf_identity("saraban@", MINISTRY) is None
    assert check_spf(resolver, "127.0.0.1", ATTACKER, MINISTRY)[:2] == ("none", None)
    assert check_spf(resolver, "127.0.0.1", f"x@{ATTACKER}", MINISTRY)[:2] == ("pass", ATTACKER)
    auth = check(letter(sender=f"saraban@{MINISTRY}"), resolver, mail_from=ATTACKER, helo=MINISTRY)
    assert (auth.status, auth.spf, auth.spf_domain, auth.aligned_domain) == ("fail", "none", None, None)
    assert "smtp.mailfrom=moi.go.th" not in auth.header_value("gw")


# F4 -------------------------------------------------------------------------------

def test_f4_silent_dns_of_a_domain_that_cannot_align_is_not_a_wait(resolver):
    silent = Overlay(resolver, silent=(ATTACKER,))
    raw = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), ATTACKER)
    auth = check(raw, silent)
    assert auth.dkim[0].result == "temperror" and auth.spf == "temperror"
    assert (auth.status, auth.dmarc, auth.dmarc_policy) == ("fail", "fail", "reject")
    assert finding_for(auth, SETTINGS).verdict == "fail"
    assert IntakeChecker.refuse_at_data(type("C", (), {"settings": SenderSection(reject_at_data=True)})(), auth)
    # A university (not go.th, p=reject): no acknowledgement to the forged address either.
    other = check(dkim_sign(letter(sender=f"dean@{OTHER}"), ATTACKER), silent)
    assert other.status == "fail"
    assert notice_refusal(other, f"dean@{OTHER}", SETTINGS) == "sender_not_verified"


def test_f4_silent_dns_of_the_from_domain_still_waits(resolver):
    silent = Overlay(resolver, silent=(MINISTRY,))
    auth = check(dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY), silent)
    assert (auth.status, auth.dmarc) == ("temperror", "temperror")
    # ... and whoever the From names gets no notice while it waits or after.
    assert notice_refusal(auth, f"saraban@{MINISTRY}", SETTINGS) == "sender_not_verified"
    assert notice_refusal(SenderAuth(status="temperror", from_domain=OTHER), f"dean@{OTHER}",
                          SETTINGS) == "sender_not_verified"


@pytest.mark.parametrize("selector", [b"a" * 64, b"a..b"])
def test_f4_malformed_key_name_is_permerror(resolver, selector):
    raw = letter(sender=f"saraban@{MINISTRY}")
    signed = dkim.sign(raw, selector, ATTACKER.encode(), key(ATTACKER).private_pem,
                       include_headers=SIGNED_HEADERS) + raw
    auth = check(signed, resolver)
    assert auth.dkim[0].result == "permerror"
    assert (auth.status, auth.dmarc) == ("fail", "fail")
    from gateway.sender.dns import DnsMalformed

    with pytest.raises(DnsMalformed):
        resolver.txt("a" * 64 + ".example")
    assert check_spf(resolver, "127.0.0.1", "", "a" * 64 + ".example")[:2] == ("none", None)


# F2 / F3 ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "=?utf-8?q?saraban=40moi.go.th=2C?=@m0i-go.example",
    "=?utf-8?q?=3Csaraban=40moi.go.th=3E?= <=?x?=@m0i-go.example>",
    "saraban@moi.go.th, undisclosed", "saraban@moi.go.th <>", "saraban@moi.go.th;x@m0i-go.example",
    "=?utf-8?b?c2FyYWJhbkBtb2kuZ28udGg=?=", "saraban@m\u043ei.go.th",
])
def test_f2_f3_unusable_from_is_a_fail_of_the_claimed_protected_domain(resolver, value):
    raw = with_from(letter(), value.encode())
    auth = check(dkim_sign(raw, ATTACKER), resolver)
    assert (auth.status, auth.dmarc) == ("fail", "permerror")
    assert auth.reason.startswith("unusable From")
    finding = finding_for(auth, SETTINGS)
    assert finding.verdict == "fail"  # quarantined: the letter names a go.th sender
    assert "หัวจดหมาย From" in finding.message_th and "From header" in finding.message_en


def test_f3_unusable_from_of_an_unprotected_domain_is_on_fail(resolver):
    raw = with_from(letter(), b"dean@chula.ac.th, x")
    auth = check(raw, resolver, mail_from=f"dean@{OTHER}")
    assert auth.status == "fail" and finding_for(auth, SETTINGS).verdict == "warn"
    group = with_from(letter(), b"Undisclosed:;")
    auth = check(group, resolver)  # names no domain at all: never "none" either
    assert (auth.status, auth.dmarc) == ("fail", "permerror") and finding_for(auth, SETTINGS).verdict == "warn"
    # The envelope alone names the ministry: quarantined.
    auth = check(group, resolver, mail_from=f"saraban@{MINISTRY}")
    assert auth.from_domain == MINISTRY and finding_for(auth, SETTINGS).verdict == "fail"


def test_ordinary_from_forms_stay_usable(resolver):
    for value in ['"กระทรวงมหาดไทย" <saraban@moi.go.th>', "=?utf-8?b?4LiB4Lij4Liw?= <saraban@moi.go.th>",
                  "สารบรรณ <saraban@moi.go.th>", "saraban@moi.go.th (สารบรรณ)", "<saraban@moi.go.th>"]:
        raw = with_from(letter(), value.encode())
        auth = check(dkim_sign(raw, MINISTRY), resolver)
        assert (auth.status, auth.aligned_domain) == ("pass", MINISTRY), value


# F5 ---------------------------------------------------------------------------------

def test_f5_trusted_sealer_results_need_header_from(resolver):
    from tests.sender.zones import FORWARDER, arc_seal

    trusted = SenderSection(trusted_arc_sealers=[FORWARDER])
    relayed = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY).rstrip(b"\r\n") + b"\r\nfooter\r\n"
    no_from = arc_seal(relayed, FORWARDER, FORWARDER, f"dkim=pass header.d={MINISTRY}; dmarc=pass")
    assert check(no_from, resolver, settings=trusted).status == "fail"
    other = arc_seal(relayed, FORWARDER, FORWARDER, f"dmarc=pass header.from={ATTACKER}")
    assert check(other, resolver, settings=trusted).status == "fail"


# F6 ---------------------------------------------------------------------------------

def test_f6_rsa_sha1_and_testing_keys_are_not_a_pass(resolver):
    raw = letter(sender=f"saraban@{MINISTRY}")
    sha1 = dkim.sign(raw, SELECTOR.encode(), MINISTRY.encode(), key(MINISTRY).private_pem,
                     include_headers=SIGNED_HEADERS, signature_algorithm=b"rsa-sha1") + raw
    auth = check(sha1, resolver)
    assert auth.dkim[0].result == "policy" and auth.status == "fail"
    testing = Overlay(resolver, txt={f"test._domainkey.{MINISTRY}":
                                     key(MINISTRY).dns_txt.replace("k=rsa;", "k=rsa; t=y;").encode()})
    signed = dkim.sign(raw, b"test", MINISTRY.encode(), key(MINISTRY).private_pem,
                       include_headers=SIGNED_HEADERS) + raw
    auth = check(signed, testing)
    assert auth.dkim[0].result == "policy" and auth.status == "fail"


def test_a_key_records_hash_list_is_kept(resolver):
    """RFC 6376 3.6.1: a key record's h= names the hashes its owner signs with, and a
    signature by another is to be ignored (6.1.2). dkimpy does not look: an rsa-sha256
    signature under a key published `h=sha1` passed (session 56's list, mended in 57)."""
    raw = letter(sender=f"saraban@{MINISTRY}")
    signed = dkim.sign(raw, b"hashes", MINISTRY.encode(), key(MINISTRY).private_pem,
                       include_headers=SIGNED_HEADERS) + raw

    def under(tag: str):
        return check(signed, Overlay(resolver, txt={f"hashes._domainkey.{MINISTRY}": key(MINISTRY).dns_txt.replace(
            "k=rsa;", f"k=rsa; {tag}").encode()}))

    only_sha1 = under("h=sha1;")
    assert only_sha1.dkim[0].result == "policy" and only_sha1.status == "fail"
    assert only_sha1.dkim[0].note == "the key allows only sha1 (h=)"
    for allowed in ("h=sha256;", "h=sha1:sha256;", "h = SHA256 ;", ""):
        auth = under(allowed)
        assert (auth.dkim[0].result, auth.status) == ("pass", "pass"), (allowed, auth.dkim)


def test_f6_full_length_l_tag_still_passes(resolver):
    raw = letter(sender=f"saraban@{MINISTRY}")
    signed = dkim.sign(raw, SELECTOR.encode(), MINISTRY.encode(), key(MINISTRY).private_pem,
                       include_headers=SIGNED_HEADERS, length=True) + raw
    assert check(signed, resolver).status == "pass"


# F7 ---------------------------------------------------------------------------------

def test_f7_unparsable_topmost_upstream_results_give_no_upstream_spf(resolver):
    up = "mx.bma.go.th"
    forged = f"Authentication-Results: {up}; spf=pass smtp.mailfrom=saraban@{MINISTRY}\r\n".encode()
    genuine = f"Authentication-Results: {up}; spf=pass smtp.mailfrom=ก@{ATTACKER}\r\n".encode()
    raw = genuine + forged + letter(sender=f"saraban@{MINISTRY}")
    assert trusted_upstream_spf(raw, [up]) is None
    commented = f"Authentication-Results: (upstream) {up}; spf=fail smtp.mailfrom=x@{ATTACKER}\r\n".encode()
    assert trusted_upstream_spf(commented, [up]) == ("fail", ATTACKER)
    # Two in the server's name: one is the sender's, whichever is on top (session 15).
    assert trusted_upstream_spf(commented + forged, [up]) is None
    import datetime as dt
    from pathlib import Path

    from gateway.spool import SpoolEntry

    entry = SpoolEntry(queue_id="q1", mail_from="", rcpt_to=["saraban.latkrabang@bangkok.go.th"],
                       received_at=dt.datetime.now(dt.timezone.utc), peer="central;uidvalidity=1;uid=7",
                       helo=None, raw=raw, path=Path("/nonexistent"))
    auth = PipelineChecker(resolver, SenderSection(upstream_authserv_ids=[up])).settle(entry)
    assert (auth.status, auth.spf_source) == ("fail", "none")


# F8 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["(x) saraban-gateway.test; dmarc=pass", "saraban-gateway.test(x); dmarc=pass",
                                   '"saraban-gateway.test"; dmarc=pass', "SARABAN-GATEWAY.TEST.; dmarc=pass",
                                   "\r\n (a (nested)) saraban-gateway.test ; dmarc=pass"])
def test_f8_our_authserv_id_is_read_with_cfws(value):
    from gateway.sender.results import results_authserv_id

    assert results_authserv_id(value) == "saraban-gateway.test"
    assert forged_results(b"Authentication-Results: " + value.encode(), "saraban-gateway.test")
    assert not forged_results(b"Authentication-Results: mx.bma.go.th; spf=pass", "saraban-gateway.test")


def test_f8_folder_copy_splits_headers_at_any_line_end():
    hidden = (b"X-First: 1\r\nX-Note: a\nAuthentication-Results: saraban-gateway.test; dmarc=pass\n"
              b"X-Saraban-Sender-Verified: pass (moi.go.th)\rX-Saraban-Unit: forged\r\n")
    raw = hidden + letter(sender=f"saraban@{MINISTRY}")
    auth = SenderAuth(status="fail", from_domain=MINISTRY, dmarc="fail").as_dict()
    copy = build_folder_copy(raw, "15/2569", "saraban.latkrabang", "รับ", "x", "q1", sender_auth=auth,
                             authserv_id="saraban-gateway.test")
    head = copy.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"Authentication-Results") == 1 and b"dmarc=pass" not in head
    assert head.count(b"X-Saraban-Sender-Verified") == 1 and b"pass (moi.go.th)" not in head
    assert b"forged" not in head
    assert copy.endswith(letter_body(raw))


def letter_body(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("content_type", [
    b'multipart/mixed; BOUNDARY={inner}',            # unquoted, the parameter in capitals
    b'multipart/related;\r\n boundary="{inner}"',     # folded, another multipart subtype
    b'Multipart/Mixed; boundary="{inner}"; charset=utf-8',
])
def test_s15_an_unsigned_content_type_written_another_way_still_cuts_nothing(resolver, content_type):
    """Session 15's replay (a new top Content-Type naming the forwarded complaint's
    boundary, on a signature as Gmail makes it) written the ways the red team did not:
    the signature does not count, as with the plain form."""
    from gateway.sender.results import RECUT
    from tests.letters import with_header
    from tests.sender.test_red_team_session15 import forwarded_complaint, sign_without

    genuine, inner = forwarded_complaint()
    signed = sign_without(genuine, MINISTRY, b"content-type", b"mime-version")
    assert check_message(signed, resolver, SenderSection(), "127.0.0.1").status == "pass"  # as sent
    replay = with_header(signed, "Content-Type", content_type.replace(b"{inner}", inner))
    auth = check_message(replay, resolver, SenderSection(), "127.0.0.1")
    assert auth.status != "pass"
    assert [(s.domain, s.result, s.note) for s in auth.dkim] == [(MINISTRY, "policy", RECUT)]
