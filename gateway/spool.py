"""The intake spool: where an accepted message lives until the register has it.

One file per message, so that acceptance is a single atomic rename:

    SARABAN-SPOOL 1\n
    {"queue_id": ..., "mail_from": ..., "rcpt_to": [...], "received_at": ..., ...}\n
    <the raw message, byte for byte>

The queue id starts with the arrival time in nanoseconds (hex, fixed width) so that a
directory listing sorted by name is arrival order.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from storage.fsync import fsync_dir, write_durably

MAGIC = b"SARABAN-SPOOL 1\n"


def new_queue_id() -> str:
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"


@dataclass
class SpoolEntry:
    queue_id: str
    mail_from: str
    rcpt_to: list[str]
    received_at: dt.datetime
    peer: str | None
    helo: str | None
    raw: bytes
    path: Path
    # What intake found out about the sender (gateway/sender/results.py, as a dict);
    # kept beside the raw bytes, which stay exactly as they came (signatures, vault).
    auth: dict | None = None

    @property
    def size(self) -> int:
        return len(self.raw)


class Spool:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.new = root / "new"
        self.failed = root / "failed"
        for d in (self.tmp, self.new, self.failed):
            d.mkdir(parents=True, exist_ok=True)

    def clean_tmp(self) -> int:
        """Remove half-written files a crash left behind (never acknowledged)."""
        removed = 0
        for path in self.tmp.iterdir():
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def accept(self, raw: bytes, mail_from: str, rcpt_to: list[str], peer: str | None = None,
               helo: str | None = None, queue_id: str | None = None, auth: dict | None = None) -> str:
        """Write durably; return the queue id. Raises OSError if the disk refused.

        `queue_id`: one chosen (and recorded) beforehand, so that writing again after a
        crash yields the same entry (IMAP intake); default a fresh one."""
        queue_id = queue_id or new_queue_id()
        envelope = {
            "queue_id": queue_id,
            "mail_from": mail_from,
            "rcpt_to": rcpt_to,
            "received_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "peer": peer,
            "helo": helo,
        }
        if auth is not None:
            envelope["auth"] = auth
        header = json.dumps(envelope, ensure_ascii=False).encode("utf-8") + b"\n"
        write_durably(self.new / f"{queue_id}.msg", (MAGIC, header, raw), tmp_dir=self.tmp)
        return queue_id

    def pending(self) -> list[str]:
        """Queue ids waiting, oldest first."""
        names = [n[:-4] for n in os.listdir(self.new) if n.endswith(".msg")]
        names.sort()
        return names

    def read(self, queue_id: str) -> SpoolEntry:
        path = self.new / f"{queue_id}.msg"
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            raise ValueError(f"spool entry {queue_id} has no spool header")
        end = data.index(b"\n", len(MAGIC))
        envelope = json.loads(data[len(MAGIC):end])
        return SpoolEntry(
            queue_id=envelope["queue_id"],
            mail_from=envelope["mail_from"],
            rcpt_to=list(envelope["rcpt_to"]),
            received_at=dt.datetime.fromisoformat(envelope["received_at"]),
            peer=envelope.get("peer"),
            helo=envelope.get("helo"),
            raw=data[end + 1:],
            path=path,
            auth=envelope.get("auth"),
        )

    def remove(self, queue_id: str) -> None:
        """Called only once the database says the message is finished."""
        path = self.new / f"{queue_id}.msg"
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.new)

    def park(self, queue_id: str) -> None:
        """Move an entry that keeps failing out of the way, for a person to look at
        (`saraban-gateway status` counts them; reprocessing moves them back)."""
        source = self.new / f"{queue_id}.msg"
        if source.exists():
            source.rename(self.failed / source.name)
            fsync_dir(self.new)
            fsync_dir(self.failed)

    def unpark(self, queue_id: str) -> None:
        source = self.failed / f"{queue_id}.msg"
        source.rename(self.new / source.name)
        fsync_dir(self.failed)
        fsync_dir(self.new)

    def restore(self, queue_id: str, mail_from: str, rcpt_to: list[str], received_at: dt.datetime,
                raw: bytes) -> None:
        """Put a message back under its own queue id (reprocessing from the vault's raw
        copy): the envelope is the one it was accepted with, so the register sees it again
        exactly as it arrived."""
        envelope = {
            "queue_id": queue_id,
            "mail_from": mail_from,
            "rcpt_to": rcpt_to,
            "received_at": received_at.isoformat(),
            "peer": None,
            "helo": None,
        }
        header = json.dumps(envelope, ensure_ascii=False).encode("utf-8") + b"\n"
        write_durably(self.new / f"{queue_id}.msg", (MAGIC, header, raw), tmp_dir=self.tmp)

    def parked(self) -> list[str]:
        return sorted(n[:-4] for n in os.listdir(self.failed) if n.endswith(".msg"))

    def depth(self) -> int:
        return sum(1 for n in os.listdir(self.new) if n.endswith(".msg"))
