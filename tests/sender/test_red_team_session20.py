"""Session 20's red team on sender authenticity (docs/sender-authenticity.md), through
the real daemon and the loopback DNS server:

* S20-1: what one letter makes the check compute. dkimpy hashes the whole body again
  for every ARC-Message-Signature of a chain and has no limit on the number of sets: a
  forger's 7 MB letter with 50 ARC sets of its own kept an intake thread busy past
  `check_deadline` (log `sender_check_deadline`, the sender's DATA answered only then)
  and then the pipeline runner, which numbers nothing after it meanwhile, for as long
  again. The body is now hashed once, and a chain of more than 50 sets is `fail` without
  any lookup.
* S20-2: a genuine ministry letter from a Thai mailbox (สารบรรณ@moi.go.th, RFC 6532:
  Thai is allowed before the "@") was an unusable From, "ไม่ผ่าน", and held as a
  forgery. Only the domain is judged, and it is still ASCII only.
* S20-3: session 15's replay (a genuine ministry letter that forwarded a complaint, sent
  again with a new top Content-Type naming the complaint's boundary) once more, on the
  copy a trusted forwarder sealed with ARC as Google does (Content-Type not in the
  ARC-Message-Signature's h=): the ministry's DKIM signature did not count, the seal
  did, "ผ่าน (moi.go.th)", and the complaint was registered as the ministry's letter.
  The sealer's own signature is now held to what a DKIM signature is held to.
* S20-4: a forged ministry letter with an ARC set of the forger's own whose key never
  answers (SERVFAIL), passed on by the trusted forwarder, which honestly recorded
  dmarc=fail: the chain was temperror, so the letter waited `recheck_for` and was then
  registered "ไม่มีข้อมูล" with a warning instead of being held. A trusted chain now
  makes a letter wait only if its sealer recorded DMARC pass for the From.
* S20-5: "From : กระทรวงมหาดไทย <saraban@moi.go.th>" (white space before the colon, RFC
  5322 4.5) above the forger's own signed From. The mail parser and dkimpy both take a
  line starting "From " for an mbox separator and skip it; Dovecot reads it as a From
  field, and its ENVELOPE put the ministry first: the clerk's mail client showed the
  ministry as the sender of a letter registered "ผ่าน (m0i-go.example)".
"""
from __future__ import annotations

import json
import re
import time

import dkim
import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf, with_header
from tests.sender.test_daemon_sender import sender_config
from tests.sender.test_forgery import smtp_send
from tests.sender.test_red_team_session15 import Seen, forwarded_complaint, sign_without
from tests.sender.zones import (ATTACKER, FORWARDER, MINISTRY, SELECTOR, SIGNED_HEADERS, arc_seal, dkim_sign, key,
                                zones)
from tests.servers.dns import DnsServer

THAI_MAILBOX = "สารบรรณ@moi.go.th"


def with_arc_sets(raw: bytes, sets: int) -> bytes:
    """`raw` sealed once by the forger's own domain, then with copies of that ARC set
    as instances 2..`sets` on top (each verifies against the forger's published key as
    far as its body hash; the seals do not)."""
    sealed = arc_seal(raw, ATTACKER, ATTACKER, f"spf=pass smtp.mailfrom={ATTACKER}")
    head = sealed.partition(b"\r\n\r\n")[0]
    lines = re.sub(rb"\r\n[ \t]+", b" ", head).split(b"\r\n")
    arc = [line for line in lines if line.lower().startswith((b"arc-seal:", b"arc-message-signature:",
                                                              b"arc-authentication-results:"))]
    assert len(arc) == 3
    copies = [re.sub(rb"\bi=1;", b"i=%d;" % i, line, count=1) for i in range(sets, 1, -1) for line in arc]
    return b"\r\n".join(copies) + b"\r\n" + sealed


def sealed_as_google(raw: bytes) -> bytes:
    """`raw` forwarded by the trusted FORWARDER, which saw the ministry's DMARC pass and
    sealed leaving Content-Type and MIME-Version out of h=, as Google does."""
    results = (f"spf=pass smtp.mailfrom={MINISTRY}; dkim=pass header.d={MINISTRY}; "
               f"dmarc=pass header.from={MINISTRY}")
    with_ar = f"Authentication-Results: {FORWARDER}; {results}\r\n".encode() + raw
    signed = [h for h in SIGNED_HEADERS if h not in (b"content-type", b"mime-version")]
    return b"".join(dkim.arc_sign(with_ar, SELECTOR.encode(), FORWARDER.encode(), key(FORWARDER).private_pem,
                                  FORWARDER.encode(), include_headers=signed)) + with_ar


SERVFAIL_SELECTOR = "slow"  # the forger's key name whose nameservers fail


@pytest.fixture(scope="module")
def zone_server(tmp_path_factory):
    """The test zones, and one key name of the forger's that answers SERVFAIL."""
    served = zones() | {f"{SERVFAIL_SELECTOR}._domainkey.{ATTACKER}": {"SERVFAIL": [True]}}
    server = DnsServer(served, tmp_path_factory.mktemp("s20dns")).start()
    yield server
    server.stop()


def forged_through_forwarder() -> bytes:
    """A forged ministry letter the forger sealed (i=1, key SERVFAIL) and sent through the
    trusted forwarder, which sealed i=2 recording what it saw: DMARC fail."""
    raw = letter(sender=f"saraban@{MINISTRY}", subject="S20-4")
    with_ar = f"Authentication-Results: {ATTACKER}; dmarc=pass header.from={MINISTRY}\r\n".encode() + raw
    first = b"".join(dkim.arc_sign(with_ar, SERVFAIL_SELECTOR.encode(), ATTACKER.encode(), key(ATTACKER).private_pem,
                                   ATTACKER.encode(), include_headers=SIGNED_HEADERS)) + with_ar
    return arc_seal(first, FORWARDER, FORWARDER,
                    f"arc=fail; spf=pass smtp.mailfrom={ATTACKER}; dmarc=fail header.from={MINISTRY}")


@pytest.fixture(scope="module")
def seen(tmp_path_factory, zone_server):
    """Every letter through one daemon; check_deadline is far above what a bounded check
    takes (well under a second here) and far below what the unbounded one took."""
    d = Daemon(write_config(tmp_path_factory.mktemp("s20") / "gw",
                            extra=sender_config(zone_server.address, check_deadline="10.0",
                                                recheck_for="4.0"))).start()
    ids: dict[str, str] = {}
    attacker = f"bounce@{ATTACKER}"
    try:
        heavy = letter(sender=f"saraban@{ATTACKER}", subject="S20-1 chain",
                       files=[("2569_dds_0403_57.pdf", make_pdf("S20-1", filler=5 * 1024 * 1024))])
        started = time.monotonic()
        ids["s20_1_chain"] = smtp_send(d, with_arc_sets(heavy, 50), attacker)
        ids["s20_1_chain_seconds"] = f"{time.monotonic() - started:.1f}"
        ids["s20_1_long_chain"] = smtp_send(
            d, with_arc_sets(letter(sender=f"saraban@{ATTACKER}", subject="S20-1 long chain"), 51), attacker)
        ids["s20_1_after"] = smtp_send(d, dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S20-1 after"),
                                                    MINISTRY), attacker)
        thai = with_header(letter(sender=f"saraban@{MINISTRY}", subject="S20-2 Thai mailbox"), "From",
                           f"กระทรวงมหาดไทย <{THAI_MAILBOX}>")
        ids["s20_2_thai"] = smtp_send(d, dkim_sign(thai, MINISTRY), attacker, options=("SMTPUTF8",))
        ids["s20_2_forged"] = smtp_send(
            d, with_header(letter(sender=f"saraban@{MINISTRY}", subject="S20-2 forged"), "From",
                           f"กระทรวงมหาดไทย <{THAI_MAILBOX}>"), attacker, options=("SMTPUTF8",))
        genuine, boundary = forwarded_complaint()
        sealed = sealed_as_google(sign_without(genuine, MINISTRY, b"content-type", b"mime-version"))
        ids["s20_3_recut"] = smtp_send(
            d, with_header(sealed, "Content-Type", b'multipart/mixed; boundary="' + boundary + b'"'), attacker)
        # The forwarder tagged the Subject, which broke the ministry's signature: the seal vouches.
        tagged = with_header(dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S20-3"), MINISTRY),
                             "Subject", "[saraban] S20-3 forwarded")
        ids["s20_3_forwarded"] = smtp_send(d, sealed_as_google(tagged), f"bounces@{FORWARDER}")
        ids["s20_4_servfail"] = smtp_send(d, forged_through_forwarder(), f"bounces@{FORWARDER}")
        own = dkim_sign(letter(sender=f"saraban@{ATTACKER}", subject="S20-5"), ATTACKER)
        ids["s20_5_obs_from"] = smtp_send(d, f"From : กระทรวงมหาดไทย <saraban@{MINISTRY}>\r\n".encode() + own, attacker)
        d.wait_idle(timeout=120)
        yield Seen(d, ids, d.register(), json.loads(d.cli("quarantine", "list", "--json").stdout))
    finally:
        d.stop()


def test_s20_1_an_arc_chain_of_its_own_does_not_hold_the_check(seen):
    assert not [e for e in seen.d.events() if e.get("event") == "sender_check_deadline"], \
        f"DATA answered after {seen.ids['s20_1_chain_seconds']} s"
    entry = seen.registered(seen.ids["s20_1_chain"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"
    assert entry["sender_auth"]["arc"] == "fail"
    # The ministry's letter sent after it is numbered after it, verified.
    after = seen.registered(seen.ids["s20_1_after"])
    assert after["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"


def test_s20_1_a_chain_of_more_than_50_sets_fails_unread(zone_server):
    from gateway.sender.dkim import verify_arc
    from gateway.sender.dns import Resolver

    resolver = Resolver([zone_server.address], timeout=1.0)
    verdict = verify_arc(with_arc_sets(letter(sender=f"saraban@{ATTACKER}"), 51), resolver)
    assert (verdict.result, resolver.queries) == ("fail", 0)
    assert verify_arc(with_arc_sets(letter(sender=f"saraban@{ATTACKER}"), 50), resolver).result == "fail"
    assert resolver.queries > 0  # 50 sets are read: the copies' seals fail


def test_s20_2_a_genuine_letter_from_a_thai_mailbox_is_verified(seen):
    entry = seen.registered(seen.ids["s20_2_thai"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    assert entry["sender"] == THAI_MAILBOX


def test_s20_2_a_forged_one_is_still_held(seen):
    seen.held_for_sender(seen.ids["s20_2_forged"], "publishes DMARC (p=reject)")


def test_s20_3_a_replay_with_a_new_content_type_is_held_though_a_trusted_forwarder_sealed_it(seen):
    seen.held_for_sender(seen.ids["s20_3_recut"], "does not sign Content-Type, and this letter's Content-Type")


def test_s20_3_a_letter_the_forwarder_changed_is_still_vouched_for_by_its_seal(seen):
    entry = seen.registered(seen.ids["s20_3_forwarded"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    assert entry["sender_auth"]["arc_trusted"] is True


def test_s20_4_a_forgers_failing_arc_key_does_not_buy_a_wait(seen):
    seen.held_for_sender(seen.ids["s20_4_servfail"], "publishes DMARC (p=reject)")
    assert not [e for e in seen.d.events() if e.get("event") in ("sender_check_waiting", "sender_check_gave_up")]


def test_s20_5_a_from_field_with_space_before_its_colon_counts_as_a_second_from(seen):
    seen.held_for_sender(seen.ids["s20_5_obs_from"], "not exactly one readable sender address (several From fields)")
