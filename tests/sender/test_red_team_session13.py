"""Session 13's red team (docs/sender-authenticity.md): what earlier reviews left open.

* S13-1: a forger's DKIM key record with an enormous RSA exponent or modulus. dkimpy
  verifies with pure-Python `pow()`, which holds the GIL: one letter signed with such a
  key froze the whole daemon, SMTP included, for as long as the arithmetic took (minutes
  to hours for a key record of tens of kilobytes). The key is refused unused.
* S13-2: a genuine ministry signature whose h= leaves out Subject, replayed with a
  Subject of the forger's choosing, was registered "ยืนยันผู้ส่ง: ผ่าน (moi.go.th)" under
  the forger's เรื่อง.
* S13-3: a sender without DMARC whose own SPF says the client is not its mail server
  (-all) still got a notice: backscatter to whoever the forger named in From and
  MAIL FROM.

Everything runs against the loopback DNS server; S13-2 and S13-3 through the real daemon."""
from __future__ import annotations

import random

import dkim
import pytest

from gateway.sender.check import check_message
from gateway.sender.dns import Resolver
from gateway.sender.settings import SenderSection
from tests.daemon import Daemon, write_config
from tests.letters import letter, with_header
from tests.sender.test_daemon_sender import UNIT, entry_for, notice_events, sender_config
from tests.sender.test_forgery import assert_quarantined, show, smtp_send
from tests.sender.zones import ATTACKER, MINISTRY, SELECTOR, SIGNED_HEADERS, key, zones
from tests.servers.dns import DnsServer

VICTIM = "victim-company.example"  # SPF -all for its own servers only, no DMARC
PLAIN = "small-office.example"  # publishes nothing at all
HUGE_EXPONENT = "hugeexp"
HUGE_MODULUS = "hugemod"


def _der_length(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return b"\x02" + _der_length(len(body)) + body


def rsa_public_key_record(modulus: int, exponent: int) -> str:
    """A DKIM key record of an RSAPublicKey (RFC 8017 A.1.1) no library would generate."""
    import base64

    inner = _der_int(modulus) + _der_int(exponent)
    der = b"\x30" + _der_length(len(inner)) + inner
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def _odd(bits: int, seed: int) -> int:
    return random.Random(seed).getrandbits(bits) | (1 << (bits - 1)) | 1


def hostile_zones() -> dict[str, dict[str, list]]:
    z = zones()
    # The exponent here is small enough that unfixed code still finishes (and calls the
    # signature "fail") within a test; a real attack makes it thousands of times larger.
    z[f"{HUGE_EXPONENT}._domainkey.{ATTACKER}"] = {
        "TXT": [rsa_public_key_record(_odd(2048, 1), (1 << 20000) + 1)]}
    z[f"{HUGE_MODULUS}._domainkey.{ATTACKER}"] = {"TXT": [rsa_public_key_record(_odd(16400, 2), 65537)]}
    z[VICTIM] = {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    # It exists (its mail server has an address): since session 39 a From domain that
    # does not exist at all is a fail, not "no information".
    z[f"mx.{PLAIN}"] = {"A": ["192.0.2.77"]}
    return z


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory):
    server = DnsServer(hostile_zones(), tmp_path_factory.mktemp("dns13")).start()
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=1.0)


# S13-1 ----------------------------------------------------------------------------

@pytest.mark.parametrize("selector", [HUGE_EXPONENT, HUGE_MODULUS])
def test_s13_1_a_key_too_costly_to_compute_with_is_refused_unused(resolver, selector):
    raw = letter(sender=f"saraban@{MINISTRY}", subject="S13-1")
    signed = dkim.sign(raw, selector.encode(), ATTACKER.encode(), key(ATTACKER).private_pem,
                       include_headers=SIGNED_HEADERS) + raw
    auth = check_message(signed, resolver, SenderSection(), "127.0.0.1", f"bounce@{ATTACKER}", "mx.m0i-go.example")
    assert [(s.domain, s.selector, s.result) for s in auth.dkim] == [(ATTACKER, selector, "permerror")]
    assert (auth.status, auth.dmarc, auth.dmarc_policy) == ("fail", "fail", "reject")


def test_s13_1_an_ordinary_key_still_verifies(resolver):
    raw = letter(sender=f"saraban@{MINISTRY}", subject="S13-1 control")
    signed = dkim.sign(raw, SELECTOR.encode(), MINISTRY.encode(), key(MINISTRY).private_pem,
                       include_headers=SIGNED_HEADERS) + raw
    auth = check_message(signed, resolver, SenderSection(), "127.0.0.1", f"saraban@{MINISTRY}", "mx.moi.go.th")
    assert (auth.status, auth.aligned_domain, auth.dkim[0].result) == ("pass", MINISTRY, "pass")


# S13-2 and S13-3: through the daemon -------------------------------------------------

WITHOUT_SUBJECT = [h for h in SIGNED_HEADERS if h != b"subject"]
FORGED_SUBJECT = "ด่วนที่สุด คำสั่งให้โอนงบประมาณตามเอกสารแนบ"


def replace_subject(raw: bytes, subject: str) -> bytes:
    return with_header(raw, "Subject", subject)


@pytest.fixture(scope="module")
def sent(tmp_path_factory, dns_server):
    d = Daemon(write_config(tmp_path_factory.mktemp("s13") / "gw", extra=sender_config(dns_server.address))).start()
    ids: dict[str, str] = {}
    try:
        genuine = letter(sender=f"saraban@{MINISTRY}", subject="ขอเชิญประชุม")
        signed = dkim.sign(genuine, SELECTOR.encode(), MINISTRY.encode(), key(MINISTRY).private_pem,
                           include_headers=WITHOUT_SUBJECT) + genuine
        ids["s13_2"] = smtp_send(d, replace_subject(signed, FORGED_SUBJECT), f"bounce@{ATTACKER}")
        ids["s13_2_control"] = smtp_send(d, signed, f"saraban@{MINISTRY}")
        victim = f"accounts@{VICTIM}"
        ids["s13_3"] = smtp_send(d, letter(sender=victim, subject="S13-3"), victim, helo=f"mx.{VICTIM}")
        plain = f"clerk@{PLAIN}"
        ids["s13_3_control"] = smtp_send(d, letter(sender=plain, subject="S13-3 control"), plain,
                                         helo=f"mx.{PLAIN}")
        d.wait_idle(timeout=120)
        yield d, ids
    finally:
        d.stop()


def test_s13_2_a_signature_that_leaves_out_subject_does_not_verify_a_new_subject(sent):
    d, ids = sent
    entry = assert_quarantined(d, ids["s13_2"])
    text = show(d, entry)
    assert f"{MINISTRY}=policy" in text and "ไม่ผ่าน" in text


def test_s13_2_the_same_signature_on_the_untouched_letter_is_not_a_pass_either(sent):
    # The ministry's own letter is held too: nothing in it says which Subject it signed.
    d, ids = sent
    assert_quarantined(d, ids["s13_2_control"])


def test_s13_3_no_notice_where_the_senders_own_spf_fails(sent):
    d, ids = sent
    entry = entry_for(d, ids["s13_3"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({VICTIM})"
    events = [(e["event"], e.get("reason")) for e in notice_events(d, ids["s13_3"])]
    assert events == [("notice_suppressed", "sender_not_verified")]


def test_s13_3_a_sender_that_publishes_nothing_is_still_answered(sent):
    d, ids = sent
    entry = entry_for(d, ids["s13_3_control"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({PLAIN})"
    assert [e["event"] for e in notice_events(d, ids["s13_3_control"])] == ["notice_held"]


# S13-4 ----------------------------------------------------------------------------

def test_s13_4_a_d_tag_with_spaces_reads_as_no_result_of_its_own(resolver):
    from gateway.sender.results import sender_detail

    raw = letter(sender=f"saraban@{MINISTRY}", subject="S13-4")
    signature = dkim.sign(raw, SELECTOR.encode(), ATTACKER.encode(), key(ATTACKER).private_pem,
                          include_headers=SIGNED_HEADERS)
    signature = signature.replace(f"d={ATTACKER};".encode(),
                                  f"d={ATTACKER} dkim=pass dmarc=pass header.from={MINISTRY};".encode())
    auth = check_message(signature + raw, resolver, SenderSection(), "127.0.0.1", f"bounce@{ATTACKER}",
                         "mx.m0i-go.example")
    assert auth.status == "fail" and [s.result for s in auth.dkim] == ["permerror"]
    shown = sender_detail(auth.as_dict())  # what `register show` and `quarantine show` print
    assert "dmarc=pass" not in shown and "dkim=pass" not in shown, shown
    assert " " not in auth.dkim[0].domain
