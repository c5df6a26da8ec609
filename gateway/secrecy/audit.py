"""Append-only, tamper-evident audit trail of every decryption of a classified letter.

`<data_dir>/audit/audit.log` holds one JSON object per line:

    {"action": "export", "letter_id": "...", "prev": "<sha256 hex>", "seq": 7,
     "when": "2024-03-08T14:05:09+07:00", "who": "somchai", "details": {...}}

`prev` is the SHA-256 of the previous line's bytes (without its newline); the first
line has 64 zeros. Editing a line breaks the next line's `prev`; reordering breaks
`seq` and `prev`; deleting a line breaks both. Deleting the *last* lines leaves a
valid shorter chain, so `audit.log.head` records the seq and hash of the newest entry
and `verify_chain` compares them. Someone who can rewrite both files can forge a whole
new chain: for evidence that survives a compromised host, the hash of every entry is
also logged (event `audit_appended`) to the system journal, which can be shipped off
the machine.

Details must never carry letter content (subject, sender's text): only ids and codes.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import pwd
from pathlib import Path

import structlog

from gateway.secrecy.errors import SecrecyError, TamperedError

log = structlog.get_logger(__name__)

BANGKOK = dt.timezone(dt.timedelta(hours=7))
GENESIS = "0" * 64
_FIELDS = {"seq", "when", "who", "action", "letter_id", "prev"}


class AuditError(SecrecyError):
    """The audit entry could not be written: the action it records must not happen."""


def audit_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "audit" / "audit.log"


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _service_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid:{os.geteuid()}"


def _last_line(fd: int) -> bytes | None:
    """The last line (without newline) of a file that ends with a newline."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditError("the audit log does not end with a newline (torn write?): "
                         "run `saraban-gateway audit verify`")
    pos = size - 1  # the final newline; the last line ends just before it
    buf = b""
    while True:
        start = max(0, pos - 4096)
        buf = os.pread(fd, pos - start, start) + buf
        pos = start
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return buf[nl + 1 :]
        if pos == 0:
            return buf


def append_event(
    path: str | os.PathLike,
    *,
    action: str,
    letter_id: str | None,
    who: str | None = None,
    **details,
) -> dict:
    """Append one entry under an exclusive lock and fsync it; returns the entry."""
    path = Path(path)
    if not action or not isinstance(action, str):
        raise AuditError("an audit entry needs an action")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AuditError(f"cannot open the audit log {path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last = _last_line(fd)
        if last is None:
            seq, prev = 1, GENESIS
        else:
            try:
                seq = int(json.loads(last)["seq"]) + 1
            except (ValueError, KeyError, TypeError):
                raise AuditError("the last audit entry is unreadable: run `audit verify`") from None
            prev = _line_hash(last)
        entry = {
            "seq": seq,
            "when": dt.datetime.now(BANGKOK).isoformat(timespec="seconds"),
            "who": who or _service_user(),
            "action": action,
            "letter_id": letter_id,
            "prev": prev,
        }
        if details:
            entry["details"] = details
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        raw = line.encode("utf-8")
        data = raw + b"\n"
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
        digest = _line_hash(raw)
        _write_head(path, seq, digest)
        log.info("audit_appended", seq=seq, action=action, letter_id=letter_id, entry_sha256=digest)
        return entry
    except OSError as exc:
        raise AuditError(f"cannot write the audit log {path}: {exc}") from None
    finally:
        os.close(fd)  # releases the lock


def _write_head(path: Path, seq: int, digest: str) -> None:
    head = _head_path(path)
    tmp = head.with_name(head.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps({"seq": seq, "sha256": digest}).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, head)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def verify_chain(path: str | os.PathLike) -> tuple[bool, int | None, str]:
    """(ok, first bad line number or None, a sentence for the operator)."""
    path = Path(path)
    try:
        head = _read_head(path)
    except TamperedError as exc:
        return False, None, str(exc)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if head is None:
            return True, None, "no audit entries yet"
        return False, 1, f"the audit log is missing but its head records {head[0]} entries"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read()
    finally:
        os.close(fd)
    if not data:
        if head is None:
            return True, None, "no audit entries yet"
        return False, 1, f"the audit log is empty but its head records {head[0]} entries"
    lines = data.split(b"\n")
    if lines[-1] != b"":
        return False, len(lines), f"line {len(lines)} is incomplete (no newline at the end)"
    lines.pop()
    prev = GENESIS
    hashes: list[str] = []
    for n, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            return False, n, f"line {n} is not valid JSON"
        if not isinstance(entry, dict) or not _FIELDS <= entry.keys():
            return False, n, f"line {n} lacks required fields"
        if entry["seq"] != n:
            return False, n, f"line {n} has sequence number {entry['seq']} (lines removed or reordered)"
        if entry["prev"] != prev:
            return False, n, f"line {n} does not chain to line {n - 1} (edited, removed or reordered)"
        prev = _line_hash(line)
        hashes.append(prev)
    count = len(lines)
    if head is None:
        return False, None, f"{count} entries chain correctly but audit.log.head is missing"
    head_seq, head_hash = head
    if head_seq > count:
        return False, count + 1, f"the head records {head_seq} entries but only {count} remain (the last were deleted)"
    if head_seq < count - 1 or head_seq < 1:
        return False, head_seq + 1, f"the head records {head_seq} entries but there are {count}"
    if hashes[head_seq - 1] != head_hash:
        return False, head_seq, f"line {head_seq} does not match the hash the head recorded"
    note = "" if head_seq == count else " (the head lags one entry: an append was interrupted)"
    return True, None, f"{count} entries, chain intact{note}"


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        raw = _head_path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(raw)
        return int(obj["seq"]), str(obj["sha256"])
    except (ValueError, KeyError, TypeError):
        raise TamperedError("audit.log.head is damaged") from None


def read_events(path: str | os.PathLike, letter_id: str | None = None, limit: int = 500) -> list[dict]:
    """The newest `limit` entries (oldest first), of one letter if given; for showing
    the trail to a registrar or an auditor. `verify_chain` is what proves it intact.
    Read from the end of the log (`events_backwards`): the whole log was parsed for each
    view of a page that shows its last entries."""
    events = []
    for event in events_backwards(path):
        if len(events) >= limit:
            break
        if letter_id is None or event.get("letter_id") == letter_id:
            events.append(event)
    return events[::-1]


BLOCK = 64 * 1024
# The most of the log one reading goes back through: a city-wide gateway appends an
# entry for each classified letter sealed (~300 bytes), ~100 MB is some 300,000 of them.
MOST_READ_BACK = 100 * 1024 * 1024


class ReadBack:
    """Whether `events_backwards` stopped at MOST_READ_BACK with older entries unread."""

    stopped_short = False


def events_backwards(path: str | os.PathLike, most: int = MOST_READ_BACK, told: ReadBack | None = None):
    """The log's entries, newest first, read from its end in blocks: a page that shows
    one unit's last entries filters as it goes and stops when it has them, however long
    the log. At most `most` bytes are read; `told.stopped_short` says when older ones
    were left unread. A line that is not JSON is passed over, as `read_events` always did."""
    try:
        log_file = open(path, "rb")
    except FileNotFoundError:
        return
    with log_file:
        end = log_file.seek(0, os.SEEK_END)
        position, tail, read = end, b"", 0
        while position > 0:
            if read >= most:
                if told is not None:
                    told.stopped_short = True
                return
            size = min(BLOCK, position)
            position -= size
            log_file.seek(position)
            block = log_file.read(size)
            read += size
            lines = (block + tail).split(b"\n")
            tail = lines[0]  # perhaps the end of a line that starts in the block before
            for line in reversed(lines[1:]):
                if (event := _event(line)) is not None:
                    yield event
        if (event := _event(tail)) is not None:
            yield event


def _event(line: bytes) -> dict | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
