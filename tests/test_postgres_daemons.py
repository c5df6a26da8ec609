"""Two gateways sharing one PostgreSQL: one register, no duplicate, no missing number."""
from __future__ import annotations

import threading

from tests.letters import letter

PER_SENDER = 8
SENDERS_PER_DAEMON = 3


def test_two_daemons_register_concurrently_without_gaps_or_duplicates(daemon_factory, postgres_database_url):
    # Each has its own spool and data directory; only the database is shared. They start
    # together, so the schema migration itself races too (the advisory lock decides).
    # The senders share one client IP (loopback): each gets its own DATA check, as three
    # mail servers would, so that a slow machine answers none of them 451 (intake's
    # fairness is tests/test_intake_starvation.py's subject, not this test's). On a
    # machine several test runs share (load 10 on 2 cores), a check waited past the 5 s
    # default for its slot and got 451: the wait is long here for the same reason.
    share = "data_checks_per_ip = 3\ndata_check_queue_timeout = 60\n"
    first = daemon_factory("gw1", database_url=postgres_database_url, workers=2, smtp_extra=share)
    second = daemon_factory("gw2", database_url=postgres_database_url, workers=2, smtp_extra=share)
    starters = [threading.Thread(target=d.start) for d in (first, second)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(120)
    assert first.port and second.port, first.log_tail() + second.log_tail()

    accepted: list[str] = []
    lock = threading.Lock()

    def send_many(daemon) -> None:
        for _ in range(PER_SENDER):
            queue_id = daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
            with lock:
                accepted.append(queue_id)

    threads = [threading.Thread(target=send_many, args=(d,))
               for d in (first, second) for _ in range(SENDERS_PER_DAEMON)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    total = 2 * SENDERS_PER_DAEMON * PER_SENDER
    assert len(accepted) == total
    first.wait_idle()
    second.wait_idle()

    entries = first.register("--unit", "saraban.latkrabang")
    assert entries == second.register("--unit", "saraban.latkrabang")  # one register, seen from both
    assert sorted(e["number"] for e in entries) == list(range(1, total + 1))
    assert sorted(e["queue_id"] for e in entries) == sorted(accepted)
    # Both gateways did part of the work: each filed into its own folder tree.
    assert first.maildir_files("latkrabang") and second.maildir_files("latkrabang")
    assert len(first.maildir_files("latkrabang")) + len(second.maildir_files("latkrabang")) == total
    # Each filed the letters it received (its vault has them): none was taken by the other
    # gateway, failed there for want of its bytes and bounced between them.
    bounced = [e for d in (first, second) for e in d.events()
               if e.get("event") == "delivery_retry" and "No such file" in str(e.get("error"))]
    assert not bounced, bounced[:3]


def test_an_outbox_item_is_claimed_by_one_worker_and_freed_when_it_dies(postgres_database_url):
    from storage.outbox import claimed
    from storage.db import Database

    one, two = Database(postgres_database_url), Database(postgres_database_url)
    try:
        with claimed(one, 42) as first:
            assert first is True
            with claimed(two, 42) as second:
                assert second is False  # the other gateway skips it
            with claimed(two, 43) as other_item:
                assert other_item is True
        with claimed(two, 42) as after_release:
            assert after_release is True
        # A worker that dies mid-delivery: its connection goes, and the lock with it.
        conn = one.engine.connect()
        from sqlalchemy import text
        assert conn.execute(text("SELECT pg_try_advisory_lock(2828, 7)")).scalar() is True
        conn.invalidate()
        conn.close()
        # The server notices the closed connection asynchronously: poll, do not race it.
        from tests.servers.common import wait_until

        def free() -> bool:
            with two.engine.connect() as survivor:
                return survivor.execute(text("SELECT pg_try_advisory_lock(2828, 7)")).scalar() is True
        assert wait_until(free, timeout=30, interval=0.1)
    finally:
        one.dispose()
        two.dispose()
