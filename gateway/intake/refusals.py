"""Refusals at the end of DATA that must be recorded and counted (ลับที่สุด, top secret).

The record is the minimum the issue allows: reason, sender, time, Message-ID and peer —
nothing of the content. It is written off the SMTP event loop, in a thread of its own:
on the loop's shared pool, a database another program held locked kept each record's
thread waiting, and the pool's few threads are the ones that commit an accepted letter
to the spool before its 250 (session 18). A failure to record never changes the 550 the
sender already got.

A record that cannot be written (the database away, its file moved or replaced:
storage/db.py `check_file`) is owed, not dropped: kept with the time of the refusal in
`refusals-owed.json` in the data directory (who, when, which Message-ID: nothing of the
content), logged as `refusal_not_recorded` with its fields, and written at the
supervisor's first tick that finds the database usable, after a restart too. Until
session 38 the supervisor's pooled connection wrote it into a file moved or replaced
under it, where no one would count it again, and a database away lost it."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import structlog
from storage.db import Database
from storage.fsync import fsync_dir, write_durably
from storage.intake import record_refusals_owed

log = structlog.get_logger("gateway.intake.refusals")

RECORDED = ("top_secret", "dmarc_reject")  # dmarc_reject: [sender] reject_at_data


OWED_FILE = "refusals-owed.json"
OWED_MAX = 10_000  # refusals kept while the database is away; past that the oldest go (each was logged)


class RefusalRecorder:
    """`IntakeHandler.on_refused` callback: `recorder(reason, info)`; `write_owed()` each
    supervisor tick."""

    def __init__(self, open_database: Callable[[], Database], data_dir: Path):
        self.open_database = open_database
        self._db: Database | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="refusals")
        self._owed_file = Path(data_dir) / OWED_FILE
        self._owed: deque[dict] = deque(_read_owed(self._owed_file), maxlen=OWED_MAX)  # in self._thread only
        self._later: asyncio.Future | None = None

    def __call__(self, reason: str, info: dict) -> None:
        if reason not in RECORDED:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.record(reason, info)
            return
        loop.run_in_executor(self._thread, self.record, reason, dict(info))

    def record(self, reason: str, info: dict) -> None:
        refusal = dict(reason=reason, mail_from=str(info.get("mail_from") or ""),
                       message_id=info.get("message_id") or None,
                       peer=None if info.get("peer") is None else str(info["peer"]),
                       at=dt.datetime.now(dt.timezone.utc))
        self._owed.append(refusal)
        problem = self._write()
        if problem is not None:
            kept = self._keep_owed()
            log.error("refusal_not_recorded", **{**refusal, "at": refusal["at"].isoformat()}, error=problem,
                      owed=len(self._owed), kept_in=str(self._owed_file) if kept else None,
                      detail="recorded once the database is usable again")

    def write_owed(self) -> None:
        """The supervisor's tick: the refusals owed, written if the database is usable. Not
        waited for: a database that is down may take its connect timeout to say so, and
        the tick also watches the runners. One write in flight at a time."""
        if self._owed and (self._later is None or self._later.done()):
            self._later = asyncio.get_running_loop().run_in_executor(self._thread, self._write_later)

    def _write_later(self) -> None:
        owed = len(self._owed)
        if owed and self._write() is None:
            log.warning("refusals_recorded_late", count=owed)

    def _write(self) -> str | None:
        """Write every refusal owed in one transaction; None once done, else why not."""
        try:
            if self._db is None:
                self._db = self.open_database()
            self._db.check_file()  # the pool's connection would write into a moved or replaced file
            with self._db.session() as session:
                record_refusals_owed(session, list(self._owed))
        except Exception as exc:  # noqa: BLE001 - any failure: owed, never the sender's 550 changed
            return f"{type(exc).__name__}: {str(exc)[:300]}"
        self._owed.clear()
        try:
            if self._owed_file.exists():
                self._owed_file.unlink()
                fsync_dir(self._owed_file.parent)
        except OSError as exc:  # written again at the next start: record_refusals_owed skips them
            log.warning("refusals_owed_file_left", path=str(self._owed_file), error=exc.strerror or str(exc))
        return None

    def _keep_owed(self) -> bool:
        try:
            write_durably(self._owed_file, json.dumps(
                [{**r, "at": r["at"].isoformat()} for r in self._owed]).encode(), mode=0o640)
        except OSError as exc:
            log.error("refusals_owed_not_kept", path=str(self._owed_file), error=exc.strerror or str(exc))
            return False
        return True


def owed_counts(data_dir: Path) -> dict[str, int]:
    """For `status`: the refusals kept in refusals-owed.json, by reason ({} when none).
    A file that cannot be read counts as one "unreadable" entry, so that it is seen."""
    path = Path(data_dir) / OWED_FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {"unreadable": 1}
    counts: dict[str, int] = {}
    for r in kept if isinstance(kept, list) else [None]:
        reason = str(r.get("reason")) if isinstance(r, dict) and r.get("reason") in RECORDED else "unreadable"
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def owed_warning(owed: dict[str, int], data_dir: Path) -> list[str]:
    if not owed:
        return []
    return [f"{sum(owed.values())} refusal(s) at the end of DATA ("
            + ", ".join(f"{k} {v}" for k, v in sorted(owed.items()))
            + f") are not yet in the register: the database could not take them; they are kept in "
            f"{Path(data_dir) / OWED_FILE} and written by the running daemon once the database is usable"]


def _read_owed(path: Path) -> list[dict]:
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.error("refusals_owed_unreadable", path=str(path), error=str(exc)[:300])
        return []
    owed = []
    for r in kept if isinstance(kept, list) else []:
        try:
            owed.append(dict(reason=str(r["reason"]), mail_from=str(r.get("mail_from") or ""),
                             message_id=r.get("message_id") or None, peer=r.get("peer"),
                             at=dt.datetime.fromisoformat(r["at"])))
        except (KeyError, TypeError, ValueError):
            log.error("refusal_owed_unreadable", path=str(path), entry=str(r)[:300])
    return owed
