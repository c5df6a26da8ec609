"""Gauges read at scrape time: queue depths and runner liveness.

They come from the spool directory and the database, not from counters, so they are
right after a restart and agree with `saraban-gateway status`."""
from __future__ import annotations

from typing import Callable

from gateway.spool import Spool
from storage.db import Database
from storage.counts import counts


class LiveCollector:
    """A prometheus-client custom collector (anything with `collect()`)."""

    def __init__(self, spool: Spool, db: Database, runners: Callable[[], dict[str, bool]],
                 restarts: Callable[[], dict[str, int]], overdue_after: float | None = None):
        self.overdue_after = overdue_after  # [delivery] dead_after: state "overdue" (storage/counts.py)
        self.spool = spool
        self.db = db
        self.runners = runners
        self.restarts = restarts

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        spool = GaugeMetricFamily("saraban_spool_messages", "Spool entries by state (pending, parked)",
                                  labels=["state"])
        spool.add_metric(["pending"], self.spool.depth())
        spool.add_metric(["parked"], len(self.spool.parked()))
        yield spool

        outbox = GaugeMetricFamily("saraban_outbox_items", "Outbox items by kind and state (pending, dead, done; overdue: pending past dead_after)",
                                   labels=["kind", "state"])
        quarantine = GaugeMetricFamily("saraban_quarantine_items", "Quarantine entries by state",
                                       labels=["state"])
        messages = GaugeMetricFamily("saraban_messages", "Messages by pipeline state", labels=["state"])
        up = GaugeMetricFamily("saraban_database_up", "1 if the database answered this scrape")
        try:
            with self.db.read_session() as session:  # no write lock: it only counts
                figures = counts(session, overdue_after=self.overdue_after)
            for kind, states in figures.outbox.items():
                for state, count in states.items():
                    outbox.add_metric([kind, state], count)
            for state, count in figures.quarantine.items():
                quarantine.add_metric([state], count)
            for state, count in figures.messages.items():
                messages.add_metric([state], count)
            up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - a scrape reports the outage, it does not fail
            up.add_metric([], 0)
        yield from (outbox, quarantine, messages, up)

        alive = GaugeMetricFamily("saraban_runner_up", "1 if the runner process is alive", labels=["runner"])
        for name, is_alive in self.runners().items():
            alive.add_metric([name], 1 if is_alive else 0)
        yield alive
        restarts = CounterMetricFamily("saraban_runner_restarts", "Runner processes restarted after dying",
                                       labels=["runner"])
        for name, count in self.restarts().items():
            restarts.add_metric([name], count)
        yield restarts
