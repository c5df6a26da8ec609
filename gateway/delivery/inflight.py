"""The items a delivery thread is working on, in a small file of its own, so that the
thread started after the runner died knows what it died on.

An item that takes the runner down (building the copy of a letter too large for the
machine's memory: the kernel's OOM killer; a crash in a library) raises nothing: the
supervisor starts the runner again, it takes the same batch, and dies again, for ever,
the notices its batch sent before it going out again each time (session 17: twelve
acknowledgements of one letter in a minute). After a death the items of the batch it
died in are worked one at a time, so each innocent one is done (its notice sent at most
once more, with its Message-ID) and only the killer dies again; one the runner died on
alone KILLS_BEFORE_DEAD times is dead (a permanent failure: `outbox list`, status,
`outbox retry` once its cause is fixed).

A death of the whole daemon (kill -9 of its process group, a power cut, the
supervisor's crash) is not the item's doing: the supervisor starting next marks the
files `daemon_died` (`forgive`), and those items are suspected (worked alone once) but
not counted. Before (session 20), two such restarts while one copy was being filed made
it dead, and the letter never reached its unit's folder. The same for a runner the
supervisor kills itself, past `runner_grace` at a reload (gateway/service/daemon.py
`_stop_children`, session 52).

No fsync: a machine that loses the file in a crash loses only the suspicion."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import structlog

from gateway.delivery.errors import PermanentFailure

log = structlog.get_logger("gateway.runner.delivery")

KILLS_BEFORE_DEAD = 2


class RunnerKilled(PermanentFailure):
    """The delivery runner died each time it worked this item alone."""


class InFlight:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.suspects: dict[int, int] = {}  # item id -> deaths of the runner working it alone
        try:
            record = json.loads(path.read_text(encoding="ascii"))
            items = [int(i) for i in record["items"]]
            deaths = {int(i): int(n) for i, n in record["deaths"].items()}
            alone = len(items) == 1 and not record.get("daemon_died")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # none (the last run ended its batches), or unreadable: nothing suspected
        for item_id in items:
            self.suspects[item_id] = deaths.get(item_id, 0) + alone
        if self.suspects:
            log.warning("delivery_runner_died_in_batch", items=sorted(self.suspects))

    def suspected(self, item_ids: Iterable[int]) -> bool:
        return bool(self.suspects) and any(i in self.suspects for i in item_ids)

    def killers(self, item_ids: Iterable[int]) -> list[int]:
        return [i for i in item_ids if self.suspects.get(i, 0) >= KILLS_BEFORE_DEAD]

    def start(self, item_ids: list[int]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"items": item_ids, "deaths": {
            str(i): self.suspects[i] for i in item_ids if i in self.suspects}}), encoding="ascii")
        os.replace(tmp, self.path)

    def end(self, item_ids: list[int]) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        for item_id in item_ids:
            self.suspects.pop(item_id, None)


def forgive(data_dir: Path) -> None:
    """At the daemon's start, before any runner: the files left are of runners that died
    with the daemon, not of their items (module docstring)."""
    for path in data_dir.glob("delivery-*.inflight"):
        try:
            record = json.loads(path.read_text(encoding="ascii"))
            record["daemon_died"] = True
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record), encoding="ascii")
            os.replace(tmp, path)
        except (OSError, ValueError, TypeError):
            continue  # unreadable: InFlight reads nothing from it either
