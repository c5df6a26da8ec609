"""Letters waiting on a DNS that never answers do not hold up the register (red team of
7 Dec 2026), through the real daemon and the loopback DNS server.

The pipeline runner registers nothing else while it checks a sender, and each check of
a letter whose names never answer takes up to `check_deadline`. A forger's letters
from a domain whose nameserver never answers in time were each accepted (250) and
re-checked one after another every `recheck_every` for `recheck_for`: every genuine
letter waited behind all of them (thirty such letters, 6 s each with the default
3 s time limit: ~3 minutes for each genuine letter, for an hour). The re-checks of
letters that already waited now share `check_deadline` per window; the rest wait for
the next window, and none is lost or registered unchecked.

No assertion here is about time: a DNS query that gets no answer takes at least its
time limit, so a slower machine only makes fewer re-checks fit in a window."""
from __future__ import annotations

import pytest

from tests.letters import letter
from tests.sender.test_daemon_sender import UNIT, entry_for, start
from tests.sender.zones import MINISTRY, dkim_sign, zones
from tests.servers.dns import DnsServer

SLOW = "slow-ns.example"  # the forger's domain; its nameserver answers after 30 s
WAITING = 6


@pytest.fixture(scope="module")
def dns_slow(tmp_path_factory):
    z = zones()
    z[SLOW] = {"DELAY": [30], "TXT": ["v=spf1 -all"]}
    z[f"_dmarc.{SLOW}"] = {"DELAY": [30], "TXT": ["v=DMARC1; p=none"]}
    server = DnsServer(z, tmp_path_factory.mktemp("dns-slow")).start()
    yield server
    server.stop()


def _rechecks(events: list[dict]) -> int:
    return sum(1 for e in events if e.get("event") == "sender_check_waiting")


def test_a_genuine_letter_does_not_wait_behind_every_silent_letter(tmp_path, dns_slow):
    # Each check of a slow letter asks its DMARC record and its SPF record, each given
    # up after 0.5 s: at least 1 s, the whole check_deadline.
    d = start(tmp_path, "gw", dns_slow.address, check_deadline="1.0", recheck_every="0.3")
    try:
        slow = [d.send(letter(sender=f"clerk{i}@{SLOW}", subject=f"slow {i}"), UNIT, sender=f"clerk{i}@{SLOW}")
                for i in range(WAITING)]
        d.wait_for(lambda: _rechecks(d.events()) >= WAITING, timeout=120,
                   what="every slow letter waiting in the pipeline")
        before = len(d.events())
        genuine = d.send(dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="ด่วนที่สุด"), MINISTRY),
                         UNIT, sender=f"saraban@{MINISTRY}")
        d.wait_for(lambda: any(e["queue_id"] == genuine for e in d.register()), timeout=120,
                   what="the genuine letter registered")
        events = d.events()[before:]
        end = next(i for i, e in enumerate(events)
                   if e.get("event") == "registered" and e.get("queue_id") == genuine)
        # Before, the runner re-checked all six (>= 6 s) ahead of it on each round; now at
        # most the one under way when it arrived and one of the round that took it.
        assert _rechecks(events[:end]) <= 2, [e.get("event") for e in events[:end]]
        assert entry_for(d, genuine)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
        # The others wait on, unregistered and not lost; those not checked say so.
        assert not {e["queue_id"] for e in d.register()} & set(slow)
        assert d.status()["spool"]["pending"] == WAITING
        d.wait_for(lambda: any(e.get("event") == "sender_check_postponed" for e in d.events()), timeout=60,
                   what="a re-check postponed to the next window")
    finally:
        d.stop()


def test_a_postponed_letter_past_recheck_for_is_settled_with_its_last_verdict(dns_slow):
    """Past `recheck_for`, a letter whose re-check the window has no room for is settled
    as its last check found (DNS did not answer) without asking DNS again."""
    import datetime as dt
    import time
    from pathlib import Path

    from gateway.sender.check import PipelineChecker
    from gateway.sender.dns import Resolver
    from gateway.sender.settings import SenderSection
    from gateway.spool import SpoolEntry

    resolver = Resolver([dns_slow.address], timeout=0.3)
    checker = PipelineChecker(resolver, SenderSection(check_deadline=0.6, recheck_every=0.1, recheck_for=1.0))
    entry = SpoolEntry(queue_id="q1", mail_from=f"clerk@{SLOW}", rcpt_to=[UNIT],
                       received_at=dt.datetime.now(dt.timezone.utc), peer=None, helo=None,
                       raw=letter(sender=f"clerk@{SLOW}"), path=Path("/nonexistent"))
    assert checker.settle(entry) is None  # DNS did not answer: it waits
    checker._window = (time.monotonic(), 60.0)  # this window's re-checks already took their time
    asked = resolver.queries
    assert checker.settle(entry) is None and resolver.queries == asked  # postponed, not asked
    time.sleep(1.1)  # past recheck_for
    auth = checker.settle(entry)
    assert resolver.queries == asked
    assert (auth.status, auth.reason) == ("temperror", "DNS did not answer in time")
