"""The receive stamp (ตรารับ) and the signature summary on the folder copy.

The delivery runner stamps the letter's first PDF (the letter itself; later PDFs are its
enclosures) with the gateway seal: unit name from the directory, เลขรับ (receive
number), วันที่ (date), เวลา (time). The stamped copy travels as an added attachment
`<name>.stamped.pdf` beside the untouched original; when the sender certified the file
with "no changes allowed" (DocMDP P=1), or it cannot be stamped, a sealed receipt
`receipt-<number>-<year>.pdf` goes there instead. Stamping parses sender-supplied PDFs,
so it runs in a child process with a deadline and a memory cap; a failed stamp never
holds up the filing (the copy then says so in X-Saraban-Stamp).
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import pickle
import resource
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable

import structlog

from gateway.secrecy.key_files import keys_dir, stamp_key_state
from gateway.service.process_util import die_with_parent, exit_now
from gateway.service.worker_process import WorkerProcess
from gateway.signatures.stamp import SealKey, StampInfo, StampResult

if TYPE_CHECKING:  # the stamping child imports this module: no configuration model in it
    from gateway.config.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StampJob:
    filename: str | None
    data: bytes
    info: StampInfo
    receive_no: str  # "15/2569"


def stamped_name(filename: str | None, index: int = 1) -> str:
    stem = PurePosixPath((filename or f"letter-{index}.pdf").replace("\\", "/")).name
    if stem.lower().endswith(".pdf"):
        stem = stem[:-4]
    return f"{stem}.stamped.pdf"


def receipt_name(receive_no: str) -> str:
    return f"receipt-{receive_no.replace('/', '-')}.pdf"


def stamp_job_for(settings: Settings, letter, unit, vault) -> StampJob | None:
    """What to stamp for a registered letter (read inside the caller's session)."""
    from gateway.signatures.settings import stamp_font

    if not settings.signatures.stamp:
        return None
    # The cover letter (หนังสือนำ) the register read, as the paper stamp goes on it; the
    # first PDF for an entry registered before the register named it.
    pdfs = [a for a in letter.attachments if a.content_type == "application/pdf"]
    cover = (letter.facts or {}).get("cover_file")
    pdf = next((a for a in pdfs if a.position == cover), pdfs[0] if pdfs else None)
    if pdf is None:
        return None
    received = letter.received_at
    if received.tzinfo is None:  # SQLite hands back naive UTC
        received = received.replace(tzinfo=dt.timezone.utc)
    info = StampInfo(
        unit_name=unit.name_th if unit is not None else letter.unit,
        receive_number=letter.receive_no,
        received_at=received,
        thai_digits=settings.signatures.stamp_thai_digits,
        font_path=stamp_font(settings),
    )
    return StampJob(pdf.filename, vault.get(pdf.sha256), info, letter.receive_no)


def _child_setup(memory_mb: int, log_setup: tuple[str, str]) -> None:
    from gateway.service.log import setup_logging

    # The stamping child dies with its runner, even when the runner is killed -9 or
    # overruns its stop grace: an orphan would hold the seal key and outlive the daemon.
    die_with_parent()
    setup_logging(*log_setup, process="stamp")
    from gateway.signatures.verify import quiet_library_logs

    # Once: each setLevel clears every logger's level cache, which cost a little on
    # every letter when it was done per job.
    quiet_library_logs()
    from gateway.signatures.stamp import keep_written_names

    keep_written_names()
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass


_frozen = False  # not gc.get_freeze_count(): in 3.11 it counts the frozen objects one by one
_loop = None  # the child's event loop, kept from one letter to the next


def _stamp_in_child(data: bytes, info: StampInfo, seal: SealKey) -> StampResult:
    global _frozen, _loop
    import asyncio

    from gateway.signatures.stamp import stamp_pdf

    if _loop is None:
        _loop = asyncio.new_event_loop()
    result = stamp_pdf(data, info, seal, loop=_loop)
    if not _frozen:
        # After the first letter the child holds what it keeps for good (the libraries,
        # the seal's signer, the font): ~85 000 objects that the collector's full passes
        # would walk again and again. Frozen, they are left out of every collection; the
        # garbage of each letter is still collected as before.
        _frozen = True
        gc.collect()
        gc.freeze()
    return result


def _child_main(conn, seal: SealKey, memory_mb: int, log_setup: tuple[str, str],
                warm_font: Path | None = None) -> None:
    """The stamping child: (data, info) in, a StampResult or the words of an error out
    (`_reply`), one letter at a time, until the runner closes its end of the pipe.

    `warm_font`: stamp a blank page in that font first, before reading the pipe, so the
    first letter does not wait for the libraries' imports, the font and the seal's
    signer (~1 s of CPU); a letter sent meanwhile waits in the pipe."""
    _child_setup(memory_mb, log_setup)
    try:
        seal, unusable = seal.resolved(), None  # the key store's key is read here, not in the runner
    except Exception as exc:  # noqa: BLE001 - said for every letter, which is filed unstamped
        unusable = SealUnusable(str(exc))
        log.error("seal_unusable", error=str(exc))
    if warm_font is not None and unusable is None:
        _warm_up(seal, warm_font, log_setup)
    while True:
        try:
            data, info = pickle.loads(conn.recv_bytes())
        except EOFError:
            exit_now(0)  # not Python's teardown of pyHanko and friends (1-2 s): the runner waits
        if unusable is not None:
            conn.send_bytes(_reply(unusable))
            continue
        began = time.process_time()
        try:
            reply = _reply(_stamp_in_child(data, info, seal), time.process_time() - began)
        except Exception as exc:  # MemoryError (memory_mb) included: the runner decides
            reply = _reply(exc)
        conn.send_bytes(reply)


class SealUnusable(Exception):
    """The seal the child was given cannot sign: its key store key is missing, unreadable,
    not its name or expired. The runner makes a new child once the key store changes."""


def _warm_up(seal: SealKey, font: Path, log_setup: tuple[str, str]) -> None:
    """One stamp of a blank page, its result thrown away; its events are not logged (it
    is no letter), only `stamp_child_ready` when it is done. Whatever goes wrong is left
    for the first letter to meet and say."""
    from gateway.service.log import setup_logging
    from gateway.service.warm_up import blank_page

    began, warmed = time.monotonic(), False
    setup_logging("critical", log_setup[1], process="stamp")
    try:
        info = StampInfo(unit_name="-", receive_number="1/2569", received_at=dt.datetime.now(dt.timezone.utc),
                         font_path=font)
        warmed = _stamp_in_child(blank_page(), info, seal).mode == "stamped"
    except Exception:  # noqa: BLE001 - a warm-up only
        pass
    finally:
        setup_logging(*log_setup, process="stamp")
    log.info("stamp_child_ready", warmed=warmed, seconds=round(time.monotonic() - began, 2))


# The child's answer is data, never a pickle: the child parses the sender's PDF, and a
# parser fault that took it over must not run code in the runner (which holds the
# database and the vault) through what it unpickles. One JSON line, then the PDF.
_MODES = ("stamped", "receipt")


def _reply(outcome: StampResult | Exception, cpu: float = 0.0) -> bytes:
    """`cpu`: the child's CPU seconds for the letter (StampingChildren's measure of load)."""
    if isinstance(outcome, StampResult):
        head = {"mode": outcome.mode, "sha256": outcome.original_sha256, "reason": outcome.reason,
                "cpu": round(cpu, 6)}
        return json.dumps(head).encode() + b"\n" + outcome.pdf
    head = {"error": type(outcome).__name__, "message": str(outcome)[:2000]}
    return json.dumps(head).encode() + b"\n"


class StampChildError(Exception):
    """An error in the stamping child that no receipt gets past (a missing font, an
    unusable seal), in its words: its type's name and its message."""

    @property
    def seal_unusable(self) -> bool:
        return str(self).startswith(f"{SealUnusable.__name__}:")


def _read_answer(payload: bytes) -> tuple[StampResult, float]:
    """The child's answer (`_reply`) and the CPU seconds it says the letter took (0 when
    it does not say, or says something that is not a small number: the child is not
    trusted); raises MemoryError or StampChildError for its errors, ValueError for
    anything that is not an answer."""
    head, _, pdf = payload.partition(b"\n")
    fields = json.loads(head)
    if not isinstance(fields, dict):
        raise ValueError("not an answer")
    if "error" in fields:
        if fields["error"] == "MemoryError":
            raise MemoryError(str(fields.get("message", "")))
        raise StampChildError(f"{fields['error']}: {fields.get('message', '')}")
    mode, sha256, reason = fields.get("mode"), fields.get("sha256"), fields.get("reason")
    if mode not in _MODES or not isinstance(sha256, str) or not isinstance(reason, str) or not pdf:
        raise ValueError("not an answer")
    cpu = fields.get("cpu")
    cpu = float(cpu) if isinstance(cpu, (int, float)) and 0 <= cpu < 3600 else 0.0
    return StampResult(mode, pdf, sha256, reason), cpu


class Stamper:
    """One stamping child, replaced when a file overruns it; one letter at a time (the
    runner's threads share children through `StampingChildren`).

    A plain process and a pipe (gateway/service/worker_process.py), not a
    ProcessPoolExecutor: for one child taking one letter at a time, the executor's manager
    and queue-feeder threads cost the runner 0.5-0.7 ms of CPU a letter. The seal goes to
    the child once, when it starts, and the key store's key as its name (`SealKey.in_store`):
    the child reads and checks it. A Stamper's seal never changes (a rotated key reaches
    the runners when they start again, through `stamper_for` and `seal_for_stamping`, or
    at once when the children said their seal is unusable), and every new child gets it."""

    def __init__(self, seal: SealKey, timeout: float, memory_mb: int,
                 log_setup: tuple[str, str] = ("info", "json"), warm_font: Path | None = None):
        self.seal = seal
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.log_setup = log_setup
        self.last_cpu = 0.0  # the child's CPU seconds for the last letter it stamped
        self.last_wall = 0.0  # seconds from sending that letter to its answer
        self._worker = WorkerProcess(_child_main, (seal, memory_mb, log_setup, warm_font), "stamp", log=log,
                                     replaced="stamp_process_replaced",
                                     idle_reason="the stamping process ended while idle")

    def start(self) -> None:
        """Start the child now rather than with its first letter."""
        self._worker.start()

    def stamp(self, job: StampJob) -> StampResult:
        """The stamped letter or, failing that, a receipt; raises only if even the
        receipt cannot be made (missing font, unusable seal)."""
        self.last_cpu = 0.0
        sent = time.monotonic()
        try:
            return self._stamp(job)
        finally:
            self.last_wall = time.monotonic() - sent

    def _ask(self, job: StampJob, timeout: float) -> bytes | str:
        """The child's answer, or "timeout" / "crashed" (the child then killed)."""
        try:
            # pickle and the bytes, not Connection.send: multiprocessing's pickler, with its
            # own dispatch table, takes several times as long for the same bytes.
            self._worker.send_bytes(pickle.dumps((job.data, job.info), pickle.HIGHEST_PROTOCOL),
                                    receive_no=job.receive_no)
        except OSError:  # refused by a new child too
            return "crashed"
        return self._worker.answer(timeout)

    def _stamp(self, job: StampJob) -> StampResult:
        try:
            started = time.monotonic()
            answer = self._ask(job, self.timeout)
            if answer == "crashed" and (left := self.timeout - (time.monotonic() - started)) > 0:
                # A child killed from outside with the letter in hand (the OOM killer, an
                # operator's kill) cannot be told from one the file crashed: a new child
                # stamps it once more. Before, the letter was filed with a receipt "the
                # stamping process failed (memory limit or a parser fault)" for good.
                log.warning("stamp_process_died_stamping_again", receive_no=job.receive_no)
                answer = self._ask(job, left)
            if answer == "timeout":
                raise TimeoutError
            if answer == "crashed":
                raise EOFError  # its end of the pipe closed: it died on this letter
            result, self.last_cpu = _read_answer(answer)
            return result
        except TimeoutError:
            reason = f"stamping took longer than {self.timeout:g} s"
        except (EOFError, OSError, MemoryError, ValueError) as exc:
            # It died on this letter (or just before it: a broken pipe twice), ran out of
            # its memory, or answered something that is not an answer.
            log.warning("stamp_process_failed", error=type(exc).__name__, receive_no=job.receive_no)
            reason = "the stamping process failed (memory limit or a parser fault)"
        self._worker.kill()
        log.warning("stamp_failed", reason=reason, receive_no=job.receive_no)
        return receipt_only(job, self.seal, reason)

    def close(self, grace: float = 5.0) -> None:
        """Stop the child (the runner calls this on its way out, after the letter in hand)."""
        self._worker.close(grace)

    def kill(self) -> None:
        """Stop the child at once (it holds no letter)."""
        self._worker.kill()


def close_stampers() -> None:
    """Stop every stamping child of this process (the delivery runner's shutdown)."""
    while _stampers:
        _, children = _stampers.popitem()
        children.close()
    _unusable.clear()
    _made_with.clear()


def receipt_only(job: StampJob, seal: SealKey, reason: str) -> StampResult:
    """A receipt that names the original by hash; never parses the sender's file."""
    import hashlib

    from gateway.signatures.stamp import receipt_pdf

    sha256 = hashlib.sha256(job.data).hexdigest()
    return StampResult("receipt", receipt_pdf(job.info, seal.resolved(), sha256, reason), sha256, reason)


# Seconds a thread waits for a busy stamping child before it starts one more. A stamp
# is 5-7 ms of CPU (15-25 for a signed letter), a big scan's a few hundred: a child busy this long is most likely
# on a slow or hostile file, which may hold it for the whole `[signatures] timeout`.
SPARE_AFTER = 1.0
# The children's CPU for their letters, in seconds a second over the last LOAD_WINDOW
# seconds: above MORE_AT one child no longer keeps up (a signed letter's stamp is 15-25
# ms, an unsigned one's 5-7; a child shares the machine with the runners), so a thread
# that finds the children busy starts one more at once; an extra child is closed again
# only below FEWER_AT.
LOAD_WINDOW, MORE_AT, FEWER_AT = 10.0, 0.45, 0.2
# ... and only while the children are busy (from a letter sent to its answer) this share
# of the window each: then the letters wait for them. Unsigned letters at 10 KiB crossed
# MORE_AT on a loaded 2-core machine with their one child busy ~0.66 of the time, and
# the second child (~90 MiB, ~1 s of CPU to start) took CPU from the stages that held
# the letters up; signed ones had it busy 0.85 at the same point, and rising.
BUSY_AT = 0.9


class StampingChildren:
    """The stamping children of a process's threads (the delivery runner's), shared.

    One child stamps for every thread: a stamp is 5-7 ms of CPU, so one keeps up with the
    filing, and each child is a ~95 MiB interpreter (a child per thread was ~100 MiB of a
    daemon's peak RSS more, for the same letters a second; docs/performance.md). A thread
    that finds every child busy for longer than `spare_after` starts one more, up to
    `most` (one per thread), so a file that hangs its child for the whole stamp timeout
    holds up only the thread that sent it, as when each thread had its own. So does one
    that finds them busy while their letters take more CPU than one child gives (`load`
    above `more_at`: signed letters, whose stamps cost three times an unsigned one's)
    and keep each child busy `busy_at` of the time.
    A child handed back while another is idle, no thread waits and the load is below
    `fewer_at` is closed: the extra one lives as long as the slow letter or the busy
    spell that called for it."""

    def __init__(self, make: Callable[[], Stamper], most: int, spare_after: float = SPARE_AFTER,
                 window: float = LOAD_WINDOW, more_at: float = MORE_AT, fewer_at: float = FEWER_AT,
                 busy_at: float = BUSY_AT):
        self._make = make
        self.most = max(1, most)
        self.spare_after = spare_after
        self.window, self.more_at, self.fewer_at, self.busy_at = window, more_at, fewer_at, busy_at
        self._idle: list[Stamper] = []
        self._children: list[Stamper] = []
        self._waiting = 0
        self._closed = False
        # (when handed back, the child's CPU seconds, seconds from sending to answer)
        self._spent: deque[tuple[float, float, float]] = deque()
        self._spent_sum = self._busy_sum = 0.0
        self._turn = threading.Condition()

    def load(self) -> float:
        """The children's CPU seconds a second for their letters, over the last `window`."""
        with self._turn:
            return self._load(time.monotonic())

    def _load(self, now: float) -> float:
        self._forget_before(now - self.window)
        return max(0.0, self._spent_sum) / self.window

    def _overloaded(self, now: float) -> bool:
        """The children's letters take more CPU than one child gives, and keep them busy:
        one more child starts at once (`_take`)."""
        return (self._load(now) > self.more_at
                and self._busy_share(now) >= self.busy_at * len(self._children))

    def _busy_share(self, now: float) -> float:
        self._forget_before(now - self.window)
        return max(0.0, self._busy_sum) / self.window

    def _forget_before(self, start: float) -> None:
        while self._spent and self._spent[0][0] < start:
            _, cpu, wall = self._spent.popleft()
            self._spent_sum -= cpu
            self._busy_sum -= wall
        if not self._spent:
            self._spent_sum = self._busy_sum = 0.0  # no rounding left over from the sums of the past

    @property
    def children(self) -> int:
        return len(self._children)

    def warm(self) -> None:
        """Start the first child now (the runner's start): it imports and warms up while
        no letter waits, and the first letters do not find it busy for longer than
        `spare_after` and start a second one."""
        with self._turn:
            if self._children or self._closed:
                return
            stamper = self._make()
            # Started before a thread can take it: one that did would start its own.
            stamper.start()
            self._children.append(stamper)
            self._idle.append(stamper)

    def stamp(self, job: StampJob) -> StampResult:
        """As `Stamper.stamp`, on an idle child (or a new one)."""
        stamper = self._take()
        try:
            return stamper.stamp(job)
        finally:
            self._give_back(stamper)

    def _take(self) -> Stamper:
        why = "busy"
        with self._turn:
            if (not self._idle and self._children
                    and not (len(self._children) < self.most and self._overloaded(time.monotonic()))):
                self._waiting += 1
                try:
                    if (not self._turn.wait_for(lambda: self._idle, self.spare_after)
                            and len(self._children) >= self.most):
                        # As many children as threads, all busy: the next one free.
                        self._turn.wait_for(lambda: self._idle)
                    why = "held_up"
                finally:
                    self._waiting -= 1
            if self._idle:
                return self._idle.pop()
            stamper = self._make()  # no process yet: it starts with its first letter
            self._children.append(stamper)
            children = len(self._children)
            load = self._load(time.monotonic())
            busy = self._busy_share(time.monotonic())
        if children > 1:
            log.info("stamp_child_added", children=children, reason=why, load=round(load, 2), busy=round(busy, 2))
        return stamper

    def _give_back(self, stamper: Stamper) -> None:
        with self._turn:
            now = time.monotonic()
            spent = stamper.last_cpu
            self._spent.append((now, spent, stamper.last_wall))
            self._spent_sum += spent
            self._busy_sum += stamper.last_wall
            surplus = self._closed or (bool(self._idle) and not self._waiting
                                       and self._load(now) < self.fewer_at)
            if surplus:
                if stamper in self._children:
                    self._children.remove(stamper)
            else:
                self._idle.append(stamper)
                self._turn.notify()
            children = len(self._children)
        if surplus:
            stamper.close()
            log.info("stamp_child_closed", children=children)

    def close(self) -> None:
        """Stop every idle child (the runner's shutdown, its threads done); one still in
        a letter is stopped when its thread hands it back. An idle child is killed, not
        waited for: it holds no letter, and one still warming up would hold a stop for
        the rest of its warm-up."""
        with self._turn:
            self._closed = True
            idle, self._idle = self._idle, []
            self._children = [stamper for stamper in self._children if stamper not in idle]
        for stamper in idle:
            stamper.kill()


# The process's stamping children, by the settings they were made for.
_stampers: dict[int, StampingChildren] = {}
_stampers_made = threading.Lock()


# Settings -> (key store, its files' state when their children were made). Once the
# children have said their seal is unusable (`_unusable`), they are replaced as soon as
# the files differ from that state (a rotation, a renewal, a key made readable), and not
# before: a new child is ~1 s of CPU, and each letter meanwhile is filed unstamped at
# once by the child that says so. The state is the one the children were made with, not
# the one when the first letter met the error: a key fixed in between is taken up too.
_made_with: dict[int, tuple[Path, tuple]] = {}
_unusable: set[int] = set()


def stamper_for(settings: Settings) -> StampingChildren:
    from gateway.signatures.settings import seal_for_stamping, stamp_font

    stale = None
    with _stampers_made:
        children = _stampers.get(id(settings))
        if children is not None and id(settings) in _unusable:
            store, state = _made_with[id(settings)]
            if stamp_key_state(store) != state:
                stale, children = _stampers.pop(id(settings)), None
                _unusable.discard(id(settings))
        if children is None:
            sig = settings.signatures
            store = keys_dir(settings.data_dir)
            _made_with[id(settings)] = (store, stamp_key_state(store))
            seal = seal_for_stamping(settings)  # raises (no seal) before anything is kept
            log_setup = (settings.logging.level, settings.logging.format)
            font = stamp_font(settings)
            children = StampingChildren(lambda: Stamper(seal, sig.timeout, sig.memory_mb, log_setup, font),
                                        most=settings.delivery.threads)
            _stampers[id(settings)] = children
    if stale is not None:
        log.info("seal_changed", hint="new stamping children for the key store's new files")
        stale.close()
    return children


def _seal_found_unusable(settings: Settings) -> None:
    with _stampers_made:
        if id(settings) in _stampers:
            _unusable.add(id(settings))


@dataclass(frozen=True)
class ReceiveStamp:
    """What the receive stamp adds to a folder copy, whatever backend files it."""

    headers: tuple[tuple[str, str], ...]  # ("X-Saraban-Stamp", ...) then ("X-Saraban-Signature", ...) lines
    attachment: tuple[str, bytes] | None = None  # ("<name>.stamped.pdf" | "receipt-N-YYYY.pdf", PDF)


STAMP_UNAVAILABLE = "none: the receive stamp is unavailable (seal key or stamp font unusable; see the gateway log)"


def receive_stamp(settings: Settings, job: StampJob | None, letter=None) -> ReceiveStamp:
    """The receive stamp for one registered letter: `(letter PDF + letter metadata) ->
    stamped PDF + headers`, for every delivery backend (Maildir, IMAP APPEND, SMTP).

    `job` is `stamp_job_for(settings, letter, unit, vault)`: the letter's first PDF as
    received (bytes) with the unit's name, เลขรับ and the time of receipt; None when the
    stamp is off or the letter has no PDF. `letter` is the register row
    (`storage.register.Letter`, its `attachments[*].signatures` read) for the
    X-Saraban-Signature lines; None leaves them out.

    Returns the headers to add (`X-Saraban-Stamp: stamped: <file>` / `receipt: <file>
    (<why>)` / `none: <why>`, then one `X-Saraban-Signature` per signature) and the PDF
    to attach (the stamped letter, or a sealed receipt naming the original by SHA-256).
    Never raises for a bad PDF or a missing seal: the letter is filed regardless, and no
    text a person reads carries a Python exception. Blocks for up to the stamp timeout
    (the work runs in a child process); call it from a thread in async code."""
    headers = list(signature_headers(letter)) if letter is not None else []
    if job is None:
        return ReceiveStamp(tuple(headers))
    try:
        result = stamper_for(settings).stamp(job)
    except Exception as exc:  # no font, no seal: file the letter anyway, and say so
        if isinstance(exc, StampChildError) and exc.seal_unusable:
            _seal_found_unusable(settings)
        log.error("stamp_unavailable", receive_no=job.receive_no, error=f"{type(exc).__name__}: {exc}")
        return ReceiveStamp((("X-Saraban-Stamp", STAMP_UNAVAILABLE), *headers))
    name = stamped_name(job.filename) if result.mode == "stamped" else receipt_name(job.receive_no)
    note = f"{result.mode}: {name}" + (f" ({result.reason})" if result.reason else "")
    log.info("receive_stamp", mode=result.mode, file=name, receive_no=job.receive_no)
    return ReceiveStamp((("X-Saraban-Stamp", note), *headers), (name, result.pdf))


def apply_receive_stamp(copy: bytes, stamp: ReceiveStamp) -> bytes:
    """The folder copy (raw RFC 5322 bytes) with the stamp's attachment and headers."""
    from gateway.pipeline.mime_attach import add_attachment, add_headers

    if stamp.attachment is not None:
        copy = add_attachment(copy, *stamp.attachment)
    return add_headers(copy, list(stamp.headers))


_CHANGED = ("form_fields_changed", "annotations_changed", "other")


def signature_headers(letter) -> list[tuple[str, str]]:
    """X-Saraban-Signature lines: one per verified signature, as the clerk reads them;
    a signature that needs review also says why (what changed, which certificate)."""
    out: list[tuple[str, str]] = []
    for attachment in letter.attachments:
        for sig in attachment.signatures or []:
            verdict = sig["indication"] + (f"/{sig['sub_indication']}" if sig.get("sub_indication") else "")
            name = attachment.filename or "?"
            if sig.get("member"):  # a PDF inside an archive (check.py): "x.zip/2569.pdf"
                name += "/" + sig["member"]
            parts = [name, verdict]
            timestamp = sig.get("kind") == "document_timestamp"  # a TSA's, not a signer's
            if sig.get("signer"):
                parts.append(("document timestamp by " if timestamp else "")
                             + sig["signer"] + (f" ({sig['organisation']})" if sig.get("organisation") else ""))
            if sig.get("signed_at"):
                # Only a trusted timestamp vouches for the time; a signer's own clock is a
                # claim, and says so (the register's signed_at_source).
                claimed = " (signer's own clock)" if sig.get("signed_at_source") == "claimed" else ""
                parts.append(f"{'at' if timestamp else 'signed'} {sig['signed_at']}{claimed}")
            if sig.get("covers"):  # an S/MIME signature: which files it signs, which not
                parts.append("covers " + ", ".join(sig["covers"]))
            if sig.get("not_covered"):
                parts.append("not signed: " + ", ".join(sig["not_covered"]))
            if sig.get("review"):
                parts.append("review")
                # What changed after signing (and why the verdict is what it is); a file
                # that could not be parsed keeps its parser's words to the register.
                if sig.get("message") and (sig.get("modifications") in _CHANGED or timestamp):
                    message = sig["message"]
                    parts.append(message if len(message) <= 300 else message[:297] + "...")
            out.append(("X-Saraban-Signature", "; ".join(parts)))
    return out
