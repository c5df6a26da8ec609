"""The intake spool: where an accepted message lives until the register has it.

One file per message, so that acceptance is a single atomic rename:

    SARABAN-SPOOL 1\n
    {"queue_id": ..., "mail_from": ..., "rcpt_to": [...], "received_at": ..., ...}\n
    <the raw message, byte for byte>

The queue id starts with the arrival time in nanoseconds (hex, fixed width) so that a
directory listing sorted by name is arrival order (for SMTP, the commit before the 250,
when the time of receipt is taken too: SpoolDraft.commit).
"""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.service.doorbell import ring_pipelines
from rules.thai_time import now_utc
from storage.fsync import fsync_dir, write_durably

if TYPE_CHECKING:
    from gateway.config.settings import Settings

MAGIC = b"SARABAN-SPOOL 1\n"


# The last queue id's nanoseconds this process gave (or found waiting at its start).
_last_id_ns = 0
_id_lock = threading.Lock()


def new_queue_id() -> str:
    """The wall clock in nanoseconds (hex), then random: the spool's listing sorted by
    name is arrival order (`pending`), and so the order receive numbers are given in.
    Never below the last one given: a clock stepped back (NTP, a VM restored) made the
    next letter's id sort before the letters still waiting, and it took its number
    before them, though it came after (session 38)."""
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(time.time_ns(), _last_id_ns + 1)
        moment = _last_id_ns
    return f"{moment:016x}{secrets.token_hex(4)}"


def follow_queue_ids(names: list[str]) -> None:
    """Give no queue id below these: the entries waiting now, and (the daemon and the IMAP
    intake at their start) the newest the register recorded. A letter's queue id is also
    its folder copy's name, by which the receive numbers are read back after a restore
    (gateway/delivery/numbers_seen.py: the newest `[register] check_copies` copies by
    name). Following only the entries waiting, a start after the clock stepped back gave
    the letters filed since names older than those filed before the step: after a restore
    their numbers were not read back, and 4/2569 was given a second time."""
    global _last_id_ns
    found = [int(name[:16], 16) for name in names if name and len(name) == 24 and _is_hex(name)]
    if found:
        with _id_lock:
            _last_id_ns = max(_last_id_ns, max(found))


def _is_hex(name: str) -> bool:
    try:
        int(name, 16)
    except ValueError:
        return False
    return True


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
    # The DATA check's reading of the letter's PDFs (gateway/pipeline/pdf_readings.py),
    # as written; None when there is none.
    reading: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.raw)

    @cached_property
    def sha256(self) -> str:
        """Of the raw message: the message row and the vault both name it by this."""
        return hashlib.sha256(self.raw).hexdigest()


def open_spool(settings: "Settings") -> "Spool":
    """The spool, whose new entries ring the pipeline runners' doorbells: every process
    that writes one opens it this way."""
    data_dir, runners = settings.data_dir, settings.pipeline.runners
    spool = Spool(settings.spool_dir, announce=lambda: ring_pipelines(data_dir, runners))
    follow_queue_ids(spool.pending())  # its new ids after those waiting, whatever the clock says now
    return spool


class Spool:
    def __init__(self, root: Path, announce: Callable[[], None] | None = None):
        self.root = root
        # Called once an entry is durable in new/: rings the pipeline runners' doorbells
        # (gateway/service/doorbell.py), so that an idle runner takes it at once.
        self._announce = announce
        self.tmp = root / "tmp"
        self.new = root / "new"
        self.failed = root / "failed"
        # The DATA check's readings of PDFs, a cache for the pipeline: never fsync'ed,
        # removed (shredded for a classified letter) with the letter's spool file.
        self.readings = root / "readings"
        for d in (self.tmp, self.new, self.failed, self.readings):
            d.mkdir(parents=True, exist_ok=True)
        self.new_sync = GroupSync(self.new)  # SMTP commits share directory fsyncs
        self.commits = CommitOrder()  # SMTP commits reach new/ in the order they were dated
        # The time of receipt of a letter received now (SMTP): the daemon gives it a
        # gateway/intake/clock_guard.py ReceiptClock, never before the last one given.
        self.clock: Callable[[], dt.datetime] = now_utc

    def reading_path(self, queue_id: str) -> Path:
        return self.readings / f"{queue_id}.json"

    def drop_reading(self, queue_id: str, shred: bool = False) -> None:
        """Remove a letter's PDF reading; `shred` when the letter turned out classified."""
        path = self.reading_path(queue_id)
        if shred:
            from gateway.secrecy.shred import shred as shred_file

            shred_file(path)
        else:
            path.unlink(missing_ok=True)

    def clean_readings(self) -> int:
        """At startup: remove readings whose letter is no longer waiting (a crash between
        the two removals, a draft never committed). Not while SMTP is open: a draft's
        reading is written before its spool file exists."""
        waiting = {n[:-4] for n in os.listdir(self.new) if n.endswith(".msg")}
        removed = 0
        for name in os.listdir(self.readings):
            if name.removesuffix(".json") not in waiting:
                self.drop_reading(name.removesuffix(".json"), shred=True)
                removed += 1
        return removed

    def clean_tmp(self) -> int:
        """Remove half-written files a crash left behind (never acknowledged): shredded,
        since a draft holds a letter no check has cleared (it may be ลับที่สุด)."""
        removed = 0
        for path in self.tmp.iterdir():
            if path.is_dir() and not path.is_symlink():  # the desk's upload of a paper letter's scans
                for inner in path.iterdir():
                    _shred(inner)
                path.rmdir()
            else:
                _shred(path)
            removed += 1
        return removed

    def draft(self, mail_from: str, rcpt_to: list[str], peer: str | None = None,
              helo: str | None = None) -> "SpoolDraft":
        """A spool entry written as the message arrives (SMTP DATA), so the supervisor
        holds no more than one read of a message in memory, whatever its size."""
        return SpoolDraft(self, mail_from, rcpt_to, peer, helo)

    def accept(self, raw: bytes, mail_from: str, rcpt_to: list[str], peer: str | None = None,
               helo: str | None = None, queue_id: str | None = None, auth: dict | None = None,
               received_at: dt.datetime | None = None) -> str:
        """Write durably; return the queue id. Raises OSError if the disk refused.

        `queue_id`: one chosen (and recorded) beforehand, so that writing again after a
        crash yields the same entry (IMAP intake); default a fresh one.
        `received_at` (aware): when the letter reached us, if not now (IMAP intake: the
        message's INTERNALDATE, when it reached the central mailbox)."""
        queue_id = queue_id or new_queue_id()
        header = _envelope_line(_envelope(queue_id, mail_from, rcpt_to, peer, helo, auth,
                                          received_at if received_at is not None else self.clock()))
        write_durably(self.new / f"{queue_id}.msg", (MAGIC, header, raw), tmp_dir=self.tmp)
        self.announce()
        return queue_id

    def announce(self) -> None:
        """A new entry is durable in new/ (written by someone other than this class: the
        sealed spool of gateway/pipeline/classified.py)."""
        if self._announce is not None:
            self._announce()

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
            # Once each: an entry written before intake kept a unit named twice once
            # (gateway/intake/smtp_handler.py) would be disposed of twice.
            rcpt_to=list(dict.fromkeys(envelope["rcpt_to"])),
            received_at=dt.datetime.fromisoformat(envelope["received_at"]),
            peer=envelope.get("peer"),
            helo=envelope.get("helo"),
            raw=data[end + 1:],
            path=path,
            auth=envelope.get("auth"),
            reading=self._reading(queue_id),
        )

    def _reading(self, queue_id: str) -> bytes | None:
        try:
            return self.reading_path(queue_id).read_bytes()
        except OSError:  # none (IMAP, classified, lost in a crash): the pipeline reads itself
            return None

    def remove(self, queue_id: str) -> None:
        """Called only once the database says the message is finished."""
        self.drop_reading(queue_id)
        path = self.new / f"{queue_id}.msg"
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.new)

    def park(self, queue_id: str) -> None:
        """Move an entry that keeps failing out of the way, for a person to look at
        (`saraban-gateway status` counts them; reprocessing moves them back)."""
        self.drop_reading(queue_id, shred=True)  # read again if it is ever let back in
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
        self.announce()

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
        self.announce()

    def parked(self) -> list[str]:
        return sorted(n[:-4] for n in os.listdir(self.failed) if n.endswith(".msg"))

    def depth(self) -> int:
        return sum(1 for n in os.listdir(self.new) if n.endswith(".msg"))


def _envelope(queue_id: str, mail_from: str, rcpt_to: list[str], peer: str | None,
              helo: str | None, auth: dict | None = None, received_at: dt.datetime | None = None) -> dict:
    envelope = {
        "queue_id": queue_id,
        "mail_from": mail_from,
        "rcpt_to": rcpt_to,
        "received_at": (received_at.astimezone(dt.timezone.utc) if received_at is not None
                        else now_utc()).isoformat(),
        "peer": peer,
        "helo": helo,
    }
    if auth is not None:
        envelope["auth"] = auth
    return envelope


_SURROGATE = re.compile("[\ud800-\udfff]")


def _envelope_line(envelope: dict, width: int = 0) -> bytes:
    """The JSON line, padded with spaces to `width` (JSON allows trailing blanks).

    Never raises on the text: a lone surrogate (bytes that were not UTF-8, as aiosmtpd
    decodes them, e.g. in a HELO name) is written as U+FFFD. Before, it raised
    UnicodeEncodeError at every DATA of that session: 451, and the sender retried for days."""
    text = json.dumps(envelope, ensure_ascii=False)
    try:
        line = text.encode("utf-8")
    except UnicodeEncodeError:
        line = _SURROGATE.sub("\ufffd", text).encode("utf-8")
    return line.ljust(width) + b"\n"


def _shred(path: Path) -> None:
    """Overwrite, fsync, unlink (gateway/secrecy/vault_crypto.py `shred`, as a classified
    spool file is removed); unlinked at least when it cannot be overwritten."""
    from gateway.secrecy.shred import shred

    try:
        shred(path)
    except Exception:  # noqa: BLE001 - SecrecyError, OSError (EIO): gone is the least
        try:
            os.unlink(path)
        except OSError:
            pass


# Room kept in a draft's envelope line for what is learnt only at the end of DATA (the
# sender's authentication verdict, gateway/sender/), written in place before the commit.
_ENVELOPE_ROOM = 8192
# Bytes of a message between two looks at the free space while it is written (a
# statvfs per file system: microseconds a MiB).
ROOM_CHECK = 1 << 20


class SpoolDraft:
    """One message being received: a file in spool/tmp that becomes spool/new/<id>.msg
    only at `commit()` (fsync, rename, fsync of both directories), i.e. before the 250.

    Writes go to the page cache from the event loop (a 64 KiB write costs microseconds);
    the fsync of `commit()` is what callers run off the loop. A write error (ENOSPC,
    EIO) is remembered, not raised, so the protocol can read the sender's data to the
    terminator and then answer 451: `failed` holds the error. `discard()` leaves
    nothing behind: the draft (and the DATA check's reading of it) is shredded, since
    it holds the whole letter, ลับที่สุด ones included (refused only once all of it
    is read); it is safe to call more than once and after `commit()`. It writes and
    fsyncs: callers run it off the event loop."""

    def __init__(self, spool: Spool, mail_from: str, rcpt_to: list[str], peer: str | None,
                 helo: str | None):
        self.spool = spool
        self.queue_id = new_queue_id()
        self.path = spool.tmp / f"{self.queue_id}.draft"
        # Where the DATA check leaves its reading of the PDFs (gateway/pipeline/pdf_readings.py).
        self.reading_path = spool.reading_path(self.queue_id)
        self.size = 0  # message bytes, without the spool header
        self.failed: OSError | None = None
        # Asked every ROOM_CHECK bytes of the message, with its size so far: an OSError
        # when the disk may not take more (intake's floor, [smtp] min_free_mb), which
        # ends the writing.
        self.room: Callable[[int], OSError | None] | None = None
        self._room_checked = 0
        self.committed = False
        # commit() and discard() one at a time: a client gone mid-commit has its discard
        # run (in another thread) only once the commit is over, so a draft is never
        # overwritten while, or after, it is renamed into spool/new.
        self._lock = threading.Lock()
        # The time of receipt and the queue id (the order receive numbers are given in)
        # are both taken at commit(): here a placeholder of the same width. Taken when
        # DATA began, a letter whose upload or check took longer than another's got the
        # later receive number with the earlier time (2/2569 received before 1/2569).
        self._envelope = _envelope(self.queue_id, mail_from, rcpt_to, peer, helo)
        self._envelope["received_at"] = _moment(now_utc())
        header = MAGIC + _envelope_line(self._envelope, _ENVELOPE_ROOM)
        self._offset = len(header)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
        self._write_all(header)

    def _write_all(self, data) -> None:
        if self.failed is not None or self._fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.failed = exc

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.room is not None and self.failed is None and self.size - self._room_checked >= ROOM_CHECK:
            self._room_checked = self.size
            self.failed = self.room(self.size)
        self._write_all(data)

    @property
    def message_start(self) -> int:
        """Where the message begins in `path`, after the spool header (for the DATA check,
        which reads the draft in a worker: gateway/secrecy/markings.py)."""
        return self._offset

    def head(self, limit: int) -> bytes:
        """The first `limit` bytes of the message (its header block, for checks at DATA)."""
        if self._fd is None:
            return b""
        return os.pread(self._fd, limit, self._offset)

    def chunks(self, size: int = 1 << 20):
        """The whole message, `size` bytes at a time (a check that must see all of it)."""
        position = self._offset
        while self._fd is not None:
            chunk = os.pread(self._fd, size, position)
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def commit(self, auth: dict | None = None) -> str:
        """Make the message durable and visible to the runners; raises OSError.
        `auth`, the sender check's verdict, goes into the room kept in the envelope."""
        with self._lock:
            return self._commit(auth)

    def _commit(self, auth: dict | None) -> str:
        if self.failed is not None:
            raise self.failed
        assert self._fd is not None
        commits = self.spool.commits
        # The moment the gateway takes the letter: its time of receipt, and a queue id
        # from the same moment, so that the order the runners number letters in (queue
        # ids) is the order of their times of receipt.
        turn, (received_at, queue_id) = commits.take(lambda: (self.spool.clock(), new_queue_id()))
        try:
            self.queue_id = queue_id
            self._envelope = {**self._envelope, "queue_id": queue_id, "received_at": _moment(received_at)}
            width = self._offset - len(MAGIC) - 1  # the line written at the start, padding included
            line = _envelope_line(self._envelope, width)
            if auth is not None:
                with_auth = _envelope_line({**self._envelope, "auth": auth}, width)
                if len(with_auth) == width + 1:  # else: no verdict kept, the pipeline checks
                    line = with_auth
            if len(line) != width + 1:  # never over the message's first bytes
                raise OSError(errno.EOVERFLOW, "the spool envelope outgrew its room at commit")
            os.pwrite(self._fd, line, len(MAGIC))
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            reading = self.spool.reading_path(queue_id)
            try:
                os.rename(self.reading_path, reading)  # a cache: not fsync'ed (pdf_readings.py)
            except FileNotFoundError:
                pass  # none written (no PDF read, a classified letter)
            self.reading_path = reading
            # A letter dated before this one whose fsync is slower is in new/ first: a
            # runner never numbers this one while that one is still on its way.
            commits.wait_turn(turn)
            os.rename(self.path, self.spool.new / f"{queue_id}.msg")
            self.committed = True
        finally:
            commits.done(turn)
        # The rename is durable once spool/new is; spool/tmp needs no fsync: a draft name
        # a power cut brings back there is never acknowledged, and clean_tmp() removes it.
        self.spool.new_sync.sync()
        self.spool.announce()
        return self.queue_id

    def discard(self) -> None:
        if self.committed:  # its descriptor closed, its file renamed: nothing to wait for
            return
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        if not self.committed:
            # Shredded, not only unlinked: the kernel writes a draft's pages back within
            # ~30 s, so a slow upload or a large letter left its plaintext in freed blocks.
            for path in (self.path, self.reading_path):
                if os.path.lexists(path):
                    _shred(path)


def _moment(received_at: dt.datetime) -> str:
    """A time of receipt as the envelope keeps it: always with microseconds, so that the
    line a draft begins with and the one its commit writes over it have one width."""
    return received_at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


class CommitOrder:
    """SMTP commits run in the executor's threads at once (each fsync off the event
    loop), so the one dated first may finish its fsync last. Each takes its turn and its
    moment (time of receipt, queue id) under one lock, fsyncs in parallel with the
    others, and renames into spool/new only once every turn taken before it is over
    (renamed, or failed): the runners, which take new/ in queue-id order, never see a
    letter before one dated earlier that is still on its way."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._open: set[int] = set()

    def take(self, moment: Callable[[], tuple]) -> tuple[int, tuple]:
        with self._cond:
            turn = self._next
            given = moment()  # under the lock: turns and moments in one order
            self._next += 1
            self._open.add(turn)
            return turn, given

    def wait_turn(self, turn: int) -> None:
        with self._cond:
            while self._open and min(self._open) < turn:
                self._cond.wait()

    def done(self, turn: int) -> None:
        with self._cond:
            self._open.discard(turn)
            self._cond.notify_all()


class GroupSync:
    """fsync of one directory shared by the threads that need it at the same time: a
    thread whose rename is done joins the batch not yet started; one member of it runs
    the fsync for all, so N messages ending DATA together cost one directory fsync
    instead of N, while none returns (and gets its 250) before an fsync that began
    after its own rename has finished (Postfix and Dovecot's mail_fsync = optimized
    batch in the same way). An error reaches every member of that batch."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._pending: _Batch | None = None  # joined by renames not yet covered
        self._syncing = False

    def sync(self) -> None:
        with self._lock:
            batch = self._pending
            if batch is None:
                batch = self._pending = _Batch()
            while not batch.finished:
                if self._syncing:
                    self._done.wait()
                    continue
                # Lead: close the batch first, so that every member renamed before the fsync.
                self._syncing = True
                if self._pending is batch:
                    self._pending = None
                self._lock.release()
                try:
                    fsync_dir(self.path)
                except BaseException as exc:  # noqa: BLE001 - handed to every member
                    batch.error = exc
                finally:
                    self._lock.acquire()
                    batch.finished = True
                    self._syncing = False
                    self._done.notify_all()
        if batch.error is not None:
            raise batch.error


class _Batch:
    __slots__ = ("finished", "error")

    def __init__(self) -> None:
        self.finished = False
        self.error: BaseException | None = None
