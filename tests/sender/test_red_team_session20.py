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
"""
from __future__ import annotations

import re
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf, with_header
from tests.sender.test_daemon_sender import sender_config
from tests.sender.test_forgery import assert_quarantined, smtp_send
from tests.sender.zones import ATTACKER, MINISTRY, arc_seal, dkim_sign

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


@pytest.fixture(scope="module")
def seen(tmp_path_factory, dns_server):
    """Every letter through one daemon; check_deadline is far above what a bounded check
    takes (well under a second here) and far below what the unbounded one took."""
    d = Daemon(write_config(tmp_path_factory.mktemp("s20") / "gw",
                            extra=sender_config(dns_server.address, check_deadline="10.0",
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
        d.wait_idle(timeout=120)
        yield d, ids, d.register()
    finally:
        d.stop()


def registered(register: list[dict], queue_id: str) -> dict:
    [entry] = [e for e in register if e["queue_id"] == queue_id]
    return entry


def test_s20_1_an_arc_chain_of_its_own_does_not_hold_the_check(seen):
    d, ids, register = seen
    assert not [e for e in d.events() if e.get("event") in ("sender_check_deadline", "sender_check_waiting")], \
        f"DATA answered after {ids['s20_1_chain_seconds']} s"
    entry = registered(register, ids["s20_1_chain"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"
    assert "arc=fail" in d.cli("register", "show", entry["unit"], entry["receive_no"]).stdout
    # The ministry's letter sent after it is numbered after it, verified.
    after = registered(register, ids["s20_1_after"])
    assert after["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"


def test_s20_1_a_chain_of_more_than_50_sets_fails_unread(dns_server):
    from gateway.sender.dkim import verify_arc
    from gateway.sender.dns import Resolver

    resolver = Resolver([dns_server.address], timeout=1.0)
    verdict = verify_arc(with_arc_sets(letter(sender=f"saraban@{ATTACKER}"), 51), resolver)
    assert (verdict.result, resolver.queries) == ("fail", 0)
    assert verify_arc(with_arc_sets(letter(sender=f"saraban@{ATTACKER}"), 50), resolver).result == "fail"
    assert resolver.queries > 0  # 50 sets are read: the copies' seals fail


def test_s20_2_a_genuine_letter_from_a_thai_mailbox_is_verified(seen):
    d, ids, register = seen
    entry = registered(register, ids["s20_2_thai"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    assert entry["sender"] == THAI_MAILBOX


def test_s20_2_a_forged_one_is_still_held(seen):
    d, ids, _ = seen
    assert_quarantined(d, ids["s20_2_forged"], "DMARC")
