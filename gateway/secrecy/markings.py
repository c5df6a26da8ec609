"""The classification of a message as bytes: what intake needs at the end of DATA to
refuse ลับที่สุด (top secret) with 550 before anything is written, and what the
pipeline falls back on when the MIME parser gives up.

The decision itself is rules/markings.py `read_classification`; this module only gets
the bytes to it. The header block is read whole (no 256 KB window: a subject placed
after 300 KB of other headers is still a subject), then the whole message is parsed
exactly as the pipeline parses it (gateway/pipeline/parse.py: body, HTML, every PDF's
text layer, page by page). A message the parser cannot read (a recursion limit on
~1,000 nested multiparts, a parser bug) is *uncertain*: at least ลับ, never plaintext.

At DATA the parse runs in a worker process (`DataCheck`), not in the SMTP event loop:
a hostile PDF costs that worker, which is killed at the deadline and replaced. The
worker is a plain child process talking over its stdin/stdout, not a multiprocessing
pool, so it needs no semaphore and no resource tracker; it dies with the supervisor
(PR_SET_PDEATHSIG, and end of file on its stdin).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import os
import resource
import struct
import sys
import time
from pathlib import Path

import structlog

from gateway.service.warm_up import pdf_of
from rules.markings import (
    UNREADABLE,
    Classification,
    classification_of_headers,
    highest,
    read_classification,
    uncertain,
)
from rules.model import NOT_READ_IN_TIME, ReadingOverdue

log = structlog.get_logger("gateway.secrecy.markings")

DATA_CHECK_TIMEOUT = 30.0  # seconds for one message at DATA, PDFs included
# The worker's own budget for a letter's reading (gateway/pipeline/reading_time.py),
# inside the deadline: past it the worker answers "uncertain" itself and goes on to the
# next letter, where at the deadline it is killed and a new one (~1 s of CPU) started.
# 5 s short of it: the clock is looked at between elements and files, and the stdlib's
# parse of a 50 MB message before the first look is ~3 s of CPU.
DATA_READ_BUDGET = DATA_CHECK_TIMEOUT - 5.0
# Two workers from the start. When no two letters have been read at once for
# SPARE_IDLE seconds (a quiet night), one goes: each is a ~60 MiB interpreter. The next
# letter that finds the other busy starts it again, as a dead worker is replaced. Not
# one worker with a second started on demand: a burst then began with a second
# interpreter's start (~1 s of CPU) and was accepted 10-15 % slower
# (bench/side_by_side.py, session 26); one worker alone, 25 % slower.
DATA_CHECK_WORKERS = 2
SPARE_IDLE = 600.0
# Seconds a letter may wait for a worker (and for its client's turn) before its sender
# hears 451 4.3.2 and retries: the wait had no bound, so letters that keep both workers
# busy for their 30 s queued every other sender's end of DATA behind them.
DATA_CHECK_QUEUE_TIMEOUT = 5.0
# Checks one client IP may have in flight (running or waiting for a worker) at once:
# one sender's hostile letters hold at most this many workers, never all of them.
DATA_CHECKS_PER_IP = 1
WORKER_MEMORY_CAP = 1024 * 1024 * 1024  # bytes of address space per worker
HEADER_READ = 16 * 1024 * 1024  # of a spool file, for the in-process header check


def header_end(raw: bytes) -> int | None:
    """Where the header block ends (its first empty line), None when `raw` has none."""
    crlf = raw.find(b"\r\n\r\n")
    # Up to the first empty line, CRLF or bare LF: a bare one is looked for only before
    # the CRLF one (not through a 200 KB body that has none).
    lf = raw.find(b"\n\n", 0, crlf + 2) if crlf >= 0 else raw.find(b"\n\n")
    cut = [i for i in (crlf, lf) if i >= 0]
    return min(cut) if cut else None


def header_block(raw: bytes) -> bytes:
    """Every header line, however many kilobytes of them come before the body."""
    end = header_end(raw)
    return raw if end is None else raw[:end]


def header_block_size(raw: bytes) -> int:
    """The header block's bytes: what `[smtp] max_header_size` bounds (the pipeline's
    look, gateway/pipeline/check.py; SMTP's reads the draft's head, smtp_handler.header_past)."""
    end = header_end(raw)
    return len(raw) if end is None else end


# The check's answer (`Classification.where`, uncertain) for a letter whose parts and
# the messages inside them carry more header lines than are read (parse.py
# `PartHeadersTooLarge`): refused at DATA like a letter's own header block too large.
PART_HEADERS_TOO_LARGE = "header lines of its parts past the size read"
TOO_MANY_LINES = "more lines than are read"  # parse.py `TooManyLines`: refused at DATA too


# The header block a letter may have ([smtp] max_header_size). Each secrecy header is
# read and normalised (PyThaiNLP) by the header check and again with the parse, and
# every header line is parsed a few more times (S/MIME, sender, notices): 1-3 s of CPU
# per MiB of header lines, so a 48 MiB header block under the 50 MB message size held
# a DATA check worker to its deadline and a pipeline runner for minutes. Exim's
# header_maxsize has the same default.
MAX_HEADER_SIZE = 1024 * 1024


def raw_headers(raw: bytes) -> list[tuple[str, str]]:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))
    return [(name, str(value)) for name, value in parsed.raw_items()]


def classify_headers(raw: bytes) -> Classification:
    """From the header block only: cheap, and enough to refuse most ลับที่สุด letters."""
    try:
        return classification_of_headers(raw_headers(raw))
    except Exception:  # a header block the stdlib cannot split: the parse below decides
        return uncertain("headers unreadable")


def classify_raw(raw: bytes, pdf_reader=None, budget: float | None = None) -> Classification:
    """The classification of a whole message; uncertain (at least ลับ) when unreadable."""
    return read_and_classify(raw, pdf_reader, budget=budget)[0]


def read_and_classify(raw: bytes, pdf_reader=None, digests: bool = False, budget: float | None = None):
    """(classify_raw's answer, the message as parsed, or None when it was not parsed
    whole). `digests`: each file's sha256 too, which only the register needs (and the
    reading kept for it, gateway/pipeline/pdf_readings.py). `budget`: seconds the
    reading may take (gateway/pipeline/reading_time.py); past them, uncertain."""
    from gateway.pipeline.parse import PartHeadersTooLarge, TooManyLines, inspect_pdf, parse_mail
    from gateway.pipeline.reading_time import ReadingClock

    found = classify_headers(raw)
    if found.level == "top_secret" and found.certain:
        return found, None  # the headers say it: nothing the body holds can lower it
    clock = ReadingClock(budget) if budget is not None else None
    try:
        with clock.running() if clock is not None else contextlib.nullcontext():
            try:
                # Read exactly as the pipeline reads (no second, cheaper reader to
                # disagree with it).
                mail = parse_mail(raw, "", pdf_reader or inspect_pdf, digests=digests)
            except PartHeadersTooLarge:
                # Said apart: SMTP refuses it (552), as a letter's own header block too large.
                log.warning("classification_part_headers_too_large")
                return highest(found, uncertain(PART_HEADERS_TOO_LARGE)), None
            except TooManyLines:
                log.warning("classification_too_many_lines")
                return highest(found, uncertain(TOO_MANY_LINES)), None
            except (Exception, RecursionError) as exc:
                log.warning("classification_unreadable", error=type(exc).__name__)
                return highest(found, uncertain(UNREADABLE)), None
            return highest(found, read_classification(mail)), mail
    except ReadingOverdue:
        log.warning("classification_not_read_in_time", budget=budget)
        return highest(found, uncertain(NOT_READ_IN_TIME)), None


# ------------------------------------------------------------- a PDF's work, bounded

# --------------------------------------------------------------------------- worker

_LENGTH = struct.Struct(">Q")
# Tests only, as gateway/service/crashpoints.py: a message holding this marker keeps its
# worker busy past its deadline, whatever PDF library would be slow on (a hostile PDF's
# cost moves with every change to the readers: tests/test_intake_starvation.py). Unset
# in production: one test of an empty string.
_TEST_SLOW_MARK = os.environ.get("SARABAN_TEST_SLOW_CHECK", "").encode()
_WARM_UP_TEXT = b"BT /F1 14 Tf 72 760 Td (warm up) Tj ET"


def _warm_up_letter() -> bytes:
    """A letter that takes every path a real one takes: an encoded Thai subject with a
    marking's first letter (PyThaiNLP's normaliser is imported on the first text that
    has one), text and HTML bodies, and a one-page PDF with a text layer (pypdf's text
    extraction). With the old warm-up (no ล or ด, a PDF that did not open) the first
    real letter paid 60-90 ms of imports inside its deadline."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
               b" /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(_WARM_UP_TEXT), _WARM_UP_TEXT),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    pdf = pdf_of(objects)
    subject = "ด่วน แจ้งการประชุม".encode()
    return (b"Subject: =?utf-8?b?" + base64.b64encode(subject) + b"?=\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + subject + b"\r\n"
            b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + subject + b"</p>\r\n"
            b"--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(bytes(pdf)).replace(b"\n", b"\r\n") + b"--b--\r\n")


_WARM_UP = _warm_up_letter()


def _read_spool_file(payload: bytes) -> tuple[bytes, str | None]:
    """`<offset>:<path>[NUL<reading path>]`: the message in a file, after `offset` bytes
    of something else (a spool draft's envelope line), and where to leave the reading
    of its PDFs if the letter is ordinary."""
    request, _, reading = payload.partition(b"\0")
    offset, _, path = request.partition(b":")
    with open(os.fsdecode(path), "rb") as handle:
        handle.seek(int(offset))
        return handle.read(), (os.fsdecode(reading) if reading else None)


def _classify_and_keep(raw: bytes, reading: str | None) -> Classification:
    """classify_raw; for an ordinary letter, what was read (the parsed letter, each PDF's
    reading) is left at `reading` for the pipeline (gateway/pipeline/pdf_readings.py). A
    classified or uncertain letter leaves none: its text is in no file but the spool's own."""
    if reading is None:
        return classify_raw(raw, budget=DATA_READ_BUDGET)
    return keep_reading(raw, Path(reading))


def keep_reading(raw: bytes, reading: Path, budget: float = DATA_READ_BUDGET) -> Classification:
    """What the worker does with a letter SMTP intake spooled (public for the benches)."""
    from gateway.pipeline.pdf_readings import ReadingRecorder

    recorder = ReadingRecorder()
    found, mail = read_and_classify(raw, recorder, digests=True, budget=budget)
    if not found.classified and found.certain:
        try:
            recorder.write(reading, mail, hashlib.sha256(raw).hexdigest())
        except (OSError, MemoryError) as exc:  # the pipeline reads the letter itself; its
            # classification stands: it was read whole
            log.warning("pdf_reading_not_kept", error=type(exc).__name__)
    return found


def warm_up() -> None:
    """Read the warm-up letter: what a first letter would import and fill caches with
    (the worker, and the fork server for all of them)."""
    classify_raw(_WARM_UP)


def _worker_main() -> None:
    """`python -m gateway.secrecy.markings`: read requests (kind byte, length, payload)
    on stdin, answer one JSON line each on stdout, until stdin closes."""
    from gateway.service.process_util import die_with_parent, name_process

    die_with_parent()
    name_process("check")
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_CAP, WORKER_MEMORY_CAP))
    except (ValueError, OSError):
        pass
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the answer pipe
    import logging

    logging.disable(logging.CRITICAL)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    # Import and warm up (parser, pypdf, Thai normalisation) before the first request, so
    # a freshly started worker does not spend its first letter's deadline on imports.
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - a warm-up only; the first real letter says more
        pass
    while True:
        head = stdin.read(1 + _LENGTH.size)
        if len(head) < 1 + _LENGTH.size:
            return
        kind, (size,) = head[:1], _LENGTH.unpack(head[1:])
        payload = stdin.read(size)
        try:
            raw, reading = _read_spool_file(payload) if kind == b"P" else (payload, None)
            if _TEST_SLOW_MARK and _TEST_SLOW_MARK in raw:
                time.sleep(2 * DATA_CHECK_TIMEOUT)
            found = _classify_and_keep(raw, reading)
        except MemoryError:
            found = uncertain("too large to read")
        except (Exception, RecursionError):
            found = uncertain(UNREADABLE)
        answer = {"level": found.level, "where": found.where, "certain": found.certain}
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


def _headers_of(raw: bytes | Path, offset: int) -> Classification:
    if isinstance(raw, Path):
        try:
            with open(raw, "rb") as handle:
                handle.seek(offset)
                raw = handle.read(HEADER_READ)
        except OSError:
            return uncertain(UNREADABLE)
    return classify_headers(raw)


async def _headers_off_the_loop(raw: bytes | Path, offset: int) -> Classification:
    """`_headers_of` in a thread: up to 16 MB of header block is read and parsed (0.6 s
    of CPU), which in the event loop would stop every SMTP session meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, _headers_of, raw, offset)


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    async def ask(self, kind: bytes, payload: bytes) -> Classification:
        assert self.proc.stdin and self.proc.stdout
        head = kind + _LENGTH.pack(len(payload))
        if len(payload) <= 4096:  # a draft's path: one write, not two
            self.proc.stdin.write(head + payload)
        else:
            self.proc.stdin.write(head)
            self.proc.stdin.write(payload)
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise EOFError("the classification worker exited")
        answer = json.loads(line)
        return Classification(answer["level"], answer["where"], bool(answer["certain"]))

    def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


def _no_reading(reading: Path | None) -> None:
    """A worker killed mid-letter may have left part of a reading, or one for a letter
    it did not finish judging: the pipeline reads that letter's PDFs itself."""
    if reading is not None:
        with contextlib.suppress(OSError):
            reading.unlink()


class DataCheckBusy(Exception):
    """No worker (or not this client's turn) within the queue timeout: the letter was not
    checked, so it must not be accepted; its sender is told 451 and retries."""

    def __init__(self, reason: str, waited: float):
        super().__init__(reason)
        self.reason = reason  # "per_ip": the client's own checks; "workers": all busy
        self.waited = waited


class _ClientTurns:
    """The checks one client IP may have at once, and who is waiting for one."""

    __slots__ = ("slots", "users")

    def __init__(self, share: int):
        self.slots = asyncio.Semaphore(share)
        self.users = 0  # holding or waiting: the entry goes when it drops to 0


class DataCheck:
    """Classifies messages at the end of DATA in worker processes, with a deadline.

    `classify(raw)` raises only `DataCheckBusy` (no worker, or not the client's turn,
    within `queue_timeout`: the letter was not read, its sender hears 451) and
    CancelledError; otherwise a worker that overruns the deadline or dies is killed
    and the message is *uncertain* (accepted; the pipeline reads it again and seals it
    if it still cannot tell).

    A client IP has at most `per_ip` checks in flight, waiting ones included: one
    sender's letters, however slow to read, hold at most that many workers.

    `start()` starts `workers` of them. Once no two letters have been read at once for
    `spare_idle` seconds, idle ones go, one each `spare_idle`, down to one; a letter that
    holds a slot and finds no idle worker starts one, as for a worker that died."""

    def __init__(self, timeout: float = DATA_CHECK_TIMEOUT, workers: int = DATA_CHECK_WORKERS,
                 queue_timeout: float = DATA_CHECK_QUEUE_TIMEOUT, per_ip: int = DATA_CHECKS_PER_IP,
                 spare_idle: float = SPARE_IDLE):
        self.timeout = timeout
        self.max_workers = max(1, workers)
        self.queue_timeout = queue_timeout
        self.per_ip = max(1, per_ip)
        self.spare_idle = spare_idle
        self._idle: list[_Worker] = []
        self._spawned: list[_Worker] = []  # every worker started, for close()
        self._free: asyncio.Semaphore | None = None
        self._reading = 0  # letters in a worker's hands now
        self._last_overlap = 0.0  # loop time two letters were last read at once
        self._retire_timer: asyncio.TimerHandle | None = None
        self._clients: dict[str, _ClientTurns] = {}

    def _retire(self) -> None:
        """Every spare_idle: one idle worker goes if no two letters were read at once
        meanwhile; one is always kept."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_overlap >= self.spare_idle and len(self._idle) > 1:
            self._idle.pop(0).kill()  # _idle is a stack: its bottom was used least lately
            log.info("classification_worker_removed", workers=self._live())
        self._retire_timer = loop.call_later(self.spare_idle, self._retire)

    def _live(self) -> int:
        return len([w for w in self._spawned if w.proc.returncode is None])

    async def _spawn(self) -> _Worker:
        from gateway.service import fork_server

        # Forked by the supervisor's fork server where it has one (the libraries imported
        # there once); else a fresh interpreter.
        proc = await fork_server.start_check_worker(_worker_main)
        if proc is None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.secrecy.markings",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=str(Path(__file__).resolve().parents[2]),
            )
        worker = _Worker(proc)
        self._spawned = [w for w in self._spawned if w.proc.returncode is None] + [worker]
        return worker

    async def classify(self, raw: bytes | Path, offset: int = 0, reading: Path | None = None,
                       client: str | None = None) -> Classification:
        """`raw` the message, or a file holding it from byte `offset` on (a spool draft
        written while DATA streamed in: the worker reads it, the supervisor does not).
        `reading`: where the worker leaves its reading of an ordinary letter's PDFs for
        the pipeline (a draft's `reading_path`; gateway/pipeline/pdf_readings.py).
        `client`: the sender's IP, whose checks in flight are capped at `per_ip`.
        Raises DataCheckBusy when no worker is free for it within `queue_timeout`."""
        if self._free is None:
            self._free = asyncio.Semaphore(self.max_workers)
        turns = None
        if client is not None:
            turns = self._clients.get(client)
            if turns is None:
                turns = self._clients[client] = _ClientTurns(self.per_ip)
            turns.users += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        reason = "per_ip"
        have_turn = have_worker = False
        try:
            try:
                async with asyncio.timeout(self.queue_timeout):
                    if turns is not None:
                        await turns.slots.acquire()
                        have_turn = True
                    reason = "workers"
                    await self._free.acquire()
                    have_worker = True
                    self._reading += 1
                    if self._reading > 1:
                        self._last_overlap = loop.time()
            except TimeoutError:
                raise DataCheckBusy(reason, loop.time() - started) from None
            return await self._check(raw, offset, reading)
        finally:
            if have_worker:
                self._reading -= 1
                self._free.release()
            if turns is not None:
                if have_turn:
                    turns.slots.release()
                turns.users -= 1
                if turns.users <= 0 and self._clients.get(client) is turns:
                    del self._clients[client]

    async def _check(self, raw: bytes | Path, offset: int, reading: Path | None) -> Classification:
        """One message on a worker; the caller holds a worker slot."""
        # The worker reads the header block first (classify_raw), so the supervisor's
        # event loop, which serves every session, does not parse headers itself; only
        # when the worker fails does it read them, to refuse what they mark ลับที่สุด.
        if isinstance(raw, Path):
            kind, payload = b"P", b"%d:" % offset + os.fsencode(str(raw))
            if reading is not None:
                payload += b"\0" + os.fsencode(str(reading))
        else:
            kind, payload = b"B", bytes(raw)
        worker, replaced = None, False
        while self._idle and worker is None:
            worker = self._idle.pop()
            if worker.proc.returncode is not None:
                # It died between letters (killed, the kernel's OOM killer): this letter
                # had no part in it and is read by a new worker, not "unreadable".
                log.warning("classification_worker_replaced", exitcode=worker.proc.returncode)
                worker, replaced = None, True
        if worker is None:
            worker = await self._spawn()
            if not replaced:  # one had gone for a quiet spell (_retire), or was killed mid-letter
                log.info("classification_worker_added", workers=self._live())
        try:
            # asyncio.timeout, not wait_for: no second task per letter on the event
            # loop that serves every SMTP session.
            async with asyncio.timeout(self.timeout):
                found = await worker.ask(kind, payload)
        except TimeoutError:  # before OSError, of which it is a subclass
            worker.kill()
            _no_reading(reading)
            log.warning("classification_timeout", timeout=self.timeout)
            return highest(await _headers_off_the_loop(raw, offset), uncertain("not read in time"))
        except (EOFError, OSError, ValueError, KeyError) as exc:
            worker.kill()
            _no_reading(reading)
            log.warning("classification_worker_failed", error=type(exc).__name__)
            return highest(await _headers_off_the_loop(raw, offset), uncertain(UNREADABLE))
        except BaseException:
            # Cancelled: aiosmtpd cancels the DATA handler when the client closes or
            # half-closes its side. The worker's answer would reach no one, or the
            # next letter as if it were that letter's; kept alive but not idle, each
            # such worker stayed (and the next letter started another).
            worker.kill()
            _no_reading(reading)
            raise
        self._idle.append(worker)
        return found

    async def start(self) -> None:
        """Start the workers now (the daemon, at startup): the first letters do not wait
        for a Python interpreter to start and import the parser."""
        if self._free is None:
            self._free = asyncio.Semaphore(self.max_workers)
        while len(self._idle) < self.max_workers:
            self._idle.append(await self._spawn())
        if self._retire_timer is None:
            self._retire_timer = asyncio.get_running_loop().call_later(self.spare_idle, self._retire)

    async def aclose(self) -> None:
        """End every worker and wait for it (their pipes are closed with the loop's help)."""
        workers = list(self._spawned)
        self.close()
        for worker in workers:
            await worker.proc.wait()
            for pipe in (worker.proc.stdin,):
                if pipe is not None:
                    pipe.close()

    def close(self) -> None:
        if self._retire_timer is not None:
            self._retire_timer.cancel()
            self._retire_timer = None
        for worker in self._spawned:
            worker.kill()
        self._idle.clear()
        self._spawned.clear()


if __name__ == "__main__":
    _worker_main()
