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
        # Each one checked in the runner at least once (in turn, a window each).
        d.wait_for(lambda: {e.get("queue_id") for e in d.events() if e.get("event") == "sender_check_waiting"}
                   >= set(slow), timeout=120, what="every slow letter waiting in the pipeline")
        before = len(d.events())
        genuine = d.send(dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="ด่วนที่สุด"), MINISTRY),
                         UNIT, sender=f"saraban@{MINISTRY}")
        d.wait_for(lambda: any(e["queue_id"] == genuine for e in d.register()), timeout=120,
                   what="the genuine letter registered")
        events = d.events()[before:]
        end = next(i for i, e in enumerate(events)
                   if e.get("event") == "registered" and e.get("queue_id") == genuine)
        # Before, the round that took it re-checked the six (>= 1 s each) ahead of it: at
        # least five. Now one re-check starts per window (each takes the whole budget):
        # the one under way when it arrived, one if a window opened before that round
        # ended, and one in the round that took it.
        assert _rechecks(events[:end]) <= 3, [e.get("event") for e in events[:end]]
        assert entry_for(d, genuine)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
        # The others wait on, unregistered and not lost; those not checked say so.
        assert not {e["queue_id"] for e in d.register()} & set(slow)
        assert d.status()["spool"]["pending"] == WAITING
        d.wait_for(lambda: any(e.get("event") == "sender_check_postponed" for e in d.events()), timeout=60,
                   what="a re-check postponed to the next window")
    finally:
        d.stop()


def test_a_burst_of_letters_whose_dns_was_silent_at_data_does_not_hold_up_the_register(tmp_path, dns_slow):
    """A letter whose own DNS did not answer at DATA (its verdict "DNS did not answer in
    time") is re-checked under the same budget from its first look in the runner: until
    then each of a burst of them took check_deadline of the runner once, one after
    another, ahead of every letter that came after (written to the spool here as intake
    writes them, all at once)."""
    from gateway.sender.results import SenderAuth
    from gateway.spool import Spool

    d = start(tmp_path, "gw", dns_slow.address, check_deadline="1.0", recheck_every="0.3")
    try:
        silent = SenderAuth(status="temperror", dmarc="temperror", from_domain=SLOW,
                            reason="DNS did not answer in time").stamp().as_dict()
        spool = Spool(d.data_dir / "spool")
        burst = [spool.accept(letter(sender=f"clerk{i}@{SLOW}", subject=f"burst {i}"), f"clerk{i}@{SLOW}", [UNIT],
                              peer="127.0.0.1:25", helo="mail.example", auth=silent) for i in range(WAITING)]
        before = len(d.events())
        genuine = d.send(dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="ด่วนที่สุด"), MINISTRY),
                         UNIT, sender=f"saraban@{MINISTRY}")
        d.wait_for(lambda: any(e["queue_id"] == genuine for e in d.register()), timeout=120,
                   what="the genuine letter registered")
        events = d.events()[before:]
        end = next(i for i, e in enumerate(events)
                   if e.get("event") == "registered" and e.get("queue_id") == genuine)
        # Before, the round under way checked all six (>= 1 s each) ahead of it.
        assert _rechecks(events[:end]) <= 3, [e.get("event") for e in events[:end]]
        assert not {e["queue_id"] for e in d.register()} & set(burst)
        assert d.status()["spool"]["pending"] == WAITING
    finally:
        d.stop()


def test_past_recheck_for_a_postponed_letter_is_checked_once_more_and_settled(dns_slow):
    """A letter the window has no room for waits for the next window, where the letters
    postponed go first; past `recheck_for` it is checked once more whatever the window
    (DNS may be back) and settled with what that check finds."""
    import datetime as dt
    import time
    from pathlib import Path

    from gateway.sender.check import PipelineChecker
    from gateway.sender.dns import Resolver
    from gateway.sender.settings import SenderSection
    from gateway.spool import SpoolEntry

    resolver = Resolver([dns_slow.address], timeout=0.3)
    checker = PipelineChecker(resolver, SenderSection(check_deadline=0.6, recheck_every=0.1, recheck_for=30.0))

    def entry(queue_id: str) -> SpoolEntry:
        return SpoolEntry(queue_id=queue_id, mail_from=f"clerk@{SLOW}", rcpt_to=[UNIT],
                          received_at=dt.datetime.now(dt.timezone.utc), peer=None, helo=None,
                          raw=letter(sender=f"clerk@{SLOW}"), path=Path("/nonexistent"))

    first, second = entry("q1"), entry("q2")
    assert checker.settle(first) is None and checker.settle(second) is None  # DNS did not answer
    checker._window = (time.monotonic(), 60.0)  # this window's re-checks already took their time
    asked = resolver.queries
    assert checker.settle(second) is None and resolver.queries == asked  # postponed, not asked
    assert checker.deferred("q2")
    checker._window = (float("-inf"), 0.0)  # the next window: the postponed letter goes first
    assert checker.settle(first) is None and resolver.queries == asked
    assert checker.settle(second) is None and resolver.queries > asked
    checker._first_wait["q1"] = time.monotonic() - 31.0  # it has waited past recheck_for
    checker._window = (time.monotonic(), 60.0)
    asked = resolver.queries
    auth = checker.settle(first)
    assert resolver.queries > asked  # checked once more, though the window is spent
    assert (auth.status, auth.reason) == ("temperror", "DNS did not answer in time")
