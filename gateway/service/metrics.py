"""Prometheus counters and histograms, shared by the supervisor and its runners.

The runners are separate processes, so prometheus-client runs in multiprocess mode:
every process writes its samples to memory-mapped files in one directory
($PROMETHEUS_MULTIPROC_DIR, set by the supervisor before any runner is spawned; the
runners inherit it) and `/metrics` merges them. That mode is chosen when
prometheus_client is first imported, so this module imports it lazily: `enable()` must
run before the first metric is touched. Outside the daemon (CLI, tests calling the
pipeline in-process) the same calls count in memory and nobody reads them.

Queue depths are not counted here: they are read live (spool directory, outbox rows)
at scrape time by `gateway.service.metrics_live`, so they are right even after a restart.

A metric never takes mail down: every helper swallows its own errors.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import structlog

log = structlog.get_logger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds from the SMTP 250 to the register / to the unit's folder: from sub-second on an
# idle gateway to hours when a folder backend is down and deliveries are retried.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600)

_metrics: SimpleNamespace | None = None
_creating = threading.Lock()


def enable(directory: Path) -> None:
    """Supervisor start-up: an empty sample directory, announced to every later process."""
    if directory.exists():
        shutil.rmtree(directory)  # samples of a previous run would be added to this one's
    directory.mkdir(parents=True)
    os.environ[ENV] = str(directory)


def _m() -> SimpleNamespace:
    if _metrics is None:
        with _creating:  # the delivery runner's threads: the metrics are made once
            return _make()
    return _metrics


def _make() -> SimpleNamespace:
    global _metrics
    if _metrics is None:
        from prometheus_client import Counter, Histogram

        _metrics = SimpleNamespace(
            accepted=Counter("saraban_accepted", "Messages accepted by SMTP (250 after the spool write)"),
            accepted_bytes=Counter("saraban_accepted_bytes", "Bytes of the messages accepted by SMTP"),
            rejected=Counter("saraban_rejected", "Letters refused, by stage (smtp, rules) and reason",
                             ["stage", "reason"]),
            registered=Counter("saraban_registered", "Letters entered in a receive register", ["unit", "book"]),
            outbox=Counter("saraban_outbox", "Outbox attempts by kind and result (done, retry, dead, overdue; notices: held, suppressed)",
                           ["kind", "result"]),
            notices=Counter("saraban_notices_sent", "Notices (outbox kind 'notice') sent"),
            registration_latency=Histogram(
                "saraban_registration_latency_seconds", "From SMTP acceptance to the receive number",
                buckets=LATENCY_BUCKETS),
            end_to_end=Histogram(
                "saraban_end_to_end_latency_seconds", "From SMTP acceptance to the copy in the unit's folder",
                buckets=LATENCY_BUCKETS),
            reloads=Counter("saraban_reloads", "Configuration reloads (SIGHUP) by result", ["result"]),
        )
    return _metrics


def _since(moment: dt.datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (dt.datetime.now(dt.timezone.utc) - moment).total_seconds())


def _safely(action) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - counting must never fail a letter
        log.warning("metric_failed", error=f"{type(exc).__name__}: {exc}")


def accepted(size: int) -> None:
    def do():
        _m().accepted.inc()
        _m().accepted_bytes.inc(size)
    _safely(do)


def rejected(stage: str, reason: str) -> None:
    _safely(lambda: _m().rejected.labels(stage, reason).inc())


def registered(unit: str, book: str, received_at: dt.datetime) -> None:
    def do():
        _m().registered.labels(unit, book).inc()
        _m().registration_latency.observe(_since(received_at))
    _safely(do)


def filed(received_at: dt.datetime) -> None:
    """The copy is in the unit's folder: the end of the letter's way through the gateway."""
    _safely(lambda: _m().end_to_end.observe(_since(received_at)))


def outbox(kind: str, result: str) -> None:
    def do():
        _m().outbox.labels(kind, result).inc()
        if kind == "notice" and result == "done":
            _m().notices.inc()
    _safely(do)


def reload(result: str) -> None:
    _safely(lambda: _m().reloads.labels(result).inc())


def render(extra_collectors=()) -> tuple[bytes, str]:
    """The /metrics body and content type: every process's samples plus live gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    _m()  # the supervisor's own metrics exist (at zero) even before the first letter
    registry = CollectorRegistry()
    if os.environ.get(ENV):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY
        registry = REGISTRY
    for collector in extra_collectors:
        registry.register(collector)
    try:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    finally:
        for collector in extra_collectors:
            registry.unregister(collector)
