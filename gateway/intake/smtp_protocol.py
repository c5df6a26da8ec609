"""aiosmtpd's SMTP protocol, adapted to letters and to hostile clients.

Changes to the stock class, each for a reason a user would notice:
* DATA streams to a sink (the spool file in the gateway) as it arrives, 64 KiB at a
  time, instead of being collected in memory: eight 25 MB letters in flight cost the
  supervisor no more than eight idle sessions (docs/performance.md).
* The terminator is found with asyncio's `StreamReader.readuntil`, which keeps the bytes
  of a possible partial `<CRLF>.<CRLF>` in the stream, so a line that ends in `.` split
  at a read boundary cannot end DATA early (the old chunked reader could).
* Long lines are accepted: RFC 5321 says 1000 octets, but Thai HTML from real mail
  clients exceeds it, and a letter must not bounce for that.
* Connection caps (total, per client IP) answered `421 4.7.0` at connect, a per-command
  timeout and a total session budget answered `421 4.4.2` before closing (aiosmtpd
  closes silently), as Postfix does.
* MAIL/RCPT refuse NUL and control characters (501), invalid UTF-8 (553) and paths
  over RFC 5321's 256 octets (553) before any handler sees them.
* An exception is answered with a fixed 451 text, never Python's (aiosmtpd says
  `500 Error: (UnicodeEncodeError) ...`).
* aiosmtpd's own English-only refusals are said in Thai too.
* No AUTH unless an authenticator is given: aiosmtpd's default (every login fails)
  still ran the exchange, 334 challenges and all, after STARTTLS; now `502 5.5.1`.

aiosmtpd is pinned to the minor version this was tested with (pyproject.toml);
tests/hostile/test_aiosmtpd_contract.py fails loudly if an upgrade moves one of the
internals used here (`_call_handler_hook`, `_reset_timeout`, `_timeout_cb`), and
tests/hostile/test_aiosmtpd_suite.py runs aiosmtpd's own test suite against this class.
"""
from __future__ import annotations

import asyncio
import io
import logging
import time
import re
from collections import Counter
from collections.abc import Iterable
from typing import Callable, Protocol

import structlog
from aiosmtpd.smtp import MISSING, SMTP, TLSSetupException, syntax

from gateway.intake import replies
from gateway.intake.client_block import IPV6_PREFIX, ClientKeys
from gateway.intake.disk_space import BelowFloor
from gateway.intake.log_rate import LogRate
from gateway.intake.tls import handshake_failure

log = structlog.get_logger("gateway.intake.smtp")

TERMINATOR = b"\r\n.\r\n"
# Seconds a closing session's last replies get to be read. asyncio's transport.close()
# waits until everything buffered has been sent: a client that never reads (its window
# shut, or half-closed and gone quiet) kept its connection, and its slot in
# max_connections and max_connections_per_ip, for ever after its 421, through the
# session budget too. After this grace the socket is aborted instead.
CLOSE_GRACE = 5.0
# Seconds one session answers commands already received before other sessions run
# (_read_command). Measured on a loaded 2-core machine: another sender's six round
# trips took 0.06 s beside one flooding session, 0.6-0.8 s beside 20, about 2 s beside
# 50 (max_connections_per_ip); before, 13-32 s beside one.
TURN = 0.002
MAX_PATH = 256  # RFC 5321 4.5.3.1.3, angle brackets included
# Commands that carry no letter (NOOP, RSET, VRFY, EXPN, HELP) a session may send
# between two letters answered, taken or refused (Postfix's smtpd_junk_command_limit,
# 100 too): then it hears 421 4.7.0 and is closed. A client pipelining NOOPs and
# reading its replies was answered for the whole session budget (1800 s), each such
# session half a core of the supervisor (session 55's red team); a sending MTA says
# RSET or NOOP once a letter or so.
JUNK_LIMIT = 100
_JUNK_LOG = LogRate(1.0, 20.0)  # one line a cut session; a loop of such sessions is bounded
# Control characters (C0, DEL, C1: NEL among them, which str.split() takes for a space)
# and the bidirectional controls that make a name read otherwise than it is (a log
# viewer, the desk): no host name or address holds one (session 35's third red team).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
# What no reply line may carry: control characters but the CR LF between the lines of
# a multi-line reply, C1 controls, invalid UTF-8 as aiosmtpd decoded it. A command
# ends at LF, so the one aiosmtpd echoes may hold a bare CR: "X<CR>250" went back as
# sent, and a transcript on a terminal showed a line beginning "250" (session 50).
_ECHOED = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udcff]|\r(?!\n)|(?<!\r)\n")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# <local@domain> of RFC 5322 dot-atoms, then nothing or parameters after a blank that do
# not begin a comment: what the email package's get_angle_addr reads the same way.
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>((?:[ \t]+[^ \t(][^()]*)?)")


# Lines a client has the gateway write for nothing: an unknown command (aiosmtpd's own
# warnings, one a command and one more at its fifth, which closes the session) and a
# STARTTLS handshake that failed. One client in a loop of short sessions wrote ~6 lines a
# session, 545 sessions in 5 s: 1.9 MB, about 33 GB a day (session 43's red team). Like
# refused RCPTs and session exceptions (smtp_handler.py): one line a second on average,
# 20 at once, the others counted in `not_logged` of the next line and in
# saraban_rejected_total.
NOISE_LOG_RATE = 1.0
NOISE_LOG_BURST = 20.0
# aiosmtpd 1.4's words for them (tests/hostile/test_aiosmtpd_contract.py pins them).
AIOSMTPD_UNKNOWN_COMMAND = "%r unrecognised: %s"
AIOSMTPD_TOO_MANY_UNKNOWN = "%r too many bogus commands"


class ClientNoise(logging.Filter):
    """A filter on aiosmtpd's logger ("mail.log") that turns its unknown-command warnings
    into the gateway's throttled `smtp_unknown_command` event, and the throttle of
    `smtp_tls_handshake_failed`. `on_counted(reason)` counts every one (metrics)."""

    def __init__(self, on_counted: Callable[[str], None] = lambda reason: None) -> None:
        super().__init__("")
        self.on_counted = on_counted
        self.unknown_commands = LogRate(NOISE_LOG_RATE, NOISE_LOG_BURST)
        self.tls_failures = LogRate(NOISE_LOG_RATE, NOISE_LOG_BURST)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == AIOSMTPD_UNKNOWN_COMMAND:
            closed = False
        elif record.msg == AIOSMTPD_TOO_MANY_UNKNOWN:
            closed = True
        else:
            return True
        self.on_counted("unknown_commands_closed" if closed else "unknown_command")
        if (skipped := self.unknown_commands.allow()) is not None:
            args = record.args if isinstance(record.args, tuple) else ()
            peer = args[0] if args else None
            fields = {"peer": str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)}
            if closed:
                fields["closed"] = True  # aiosmtpd's fifth: 502 5.5.1 and the session ends
            elif len(args) > 1:
                # The client's word (ASCII, aiosmtpd refuses anything else), up to a line
                # of 64 KiB: cut, and quoted so no control character reaches a terminal.
                fields["command"] = ascii(str(args[1])[:40])
            log.info("smtp_unknown_command", **fields, **skipped)
        return False

    def tls_handshake_failed(self, peer: str | None, reason: str) -> None:
        self.on_counted("tls_handshake_failed")
        if (skipped := self.tls_failures.allow()) is not None:
            log.info("smtp_tls_handshake_failed", peer=peer, reason=reason, **skipped)


class DataSink(Protocol):
    """Where DATA goes as it arrives (gateway.spool.SpoolDraft, or MemorySink)."""

    size: int
    failed: OSError | None

    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


class MemorySink:
    """The stock behaviour (envelope.content in memory), for use without a spool."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self.size = 0
        self.failed: OSError | None = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._buffer.write(data)

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()

    def discard(self) -> None:
        self._buffer = io.BytesIO()


class ConnectionLimits:
    """Concurrent SMTP sessions, in total and per client IP (Postfix's
    smtpd_client_connection_count_limit). `refused` counts by reason for metrics."""

    def __init__(self, total: int, per_ip: int,
                 on_refused: Callable[[str], None] = lambda reason: None,
                 ipv6_prefix: int = IPV6_PREFIX, exceptions: Iterable[str] = (),
                 rate_per_ip: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.per_ip = per_ip
        # New sessions a client may open a minute (Postfix's
        # smtpd_client_connection_rate_limit over anvil_rate_time_unit = 60 s); 0: no limit.
        # A flood of short sessions (a TLS handshake each costs the event loop 1-2 ms)
        # is refused before it is a session at all.
        self.rate_per_ip = rate_per_ip
        self._clock = clock
        self._window_start = clock()
        self._this_minute: Counter[str] = Counter()
        # An IPv6 client is its network; a relay in `exceptions` has no per-IP cap
        # (client_block.py).
        self.client = ClientKeys(ipv6_prefix, exceptions)
        self.on_refused = on_refused  # metrics
        self.open = 0
        self.by_ip: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, ip: str | None) -> str | None:
        """None if the session may start, else why not ("total" or "per_ip"); `ip` is
        the key `client` gave (None: a client the per-IP cap does not count)."""
        if self.open >= self.total:
            reason = "total"
        elif ip is not None and self.by_ip[ip] >= self.per_ip:
            reason = "per_ip"
        elif ip is not None and self.rate_per_ip and self._over_rate(ip):
            reason = "rate"
        else:
            self.open += 1
            if ip is not None:
                self.by_ip[ip] += 1
            return None
        self.refused[reason] += 1
        self.on_refused(reason)
        return reason

    def _over_rate(self, ip: str) -> bool:
        """Count this attempt in the client's minute (a fixed window: the counts of all
        clients are dropped together each minute, so a flood from many addresses leaves
        no table behind); True past the limit."""
        now = self._clock()
        if now - self._window_start >= 60.0:
            self._window_start, self._this_minute = now, Counter()
        self._this_minute[ip] += 1
        return self._this_minute[ip] > self.rate_per_ip

    def release(self, ip: str | None) -> None:
        self.open -= 1
        if ip is not None:
            self.by_ip[ip] -= 1
            if self.by_ip[ip] <= 0:
                del self.by_ip[ip]


def _peer_ip(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


_INTROSPECTED = ("smtp_", "auth_")
_LISTED: dict[tuple[type, tuple[str, ...]], list[str]] = {}


def names_for_aiosmtpd(obj: object, prefixes: tuple[str, ...]) -> list[str]:
    """`dir(obj)` cut to the names starting with `prefixes`, which is all aiosmtpd reads
    `dir()` and `inspect.getmembers` of a session and of its handler for: it builds its
    tables from them in every session's `__init__`, and listing (and, for getmembers,
    getting) every attribute through the class's MRO there cost ~0.2 ms of the event
    loop's time a connection (most senders open one connection a letter). The class's
    names are listed once; the instance's own are added each time."""
    key = (type(obj), prefixes)
    names = _LISTED.get(key)
    if names is None:
        names = _LISTED[key] = [n for n in object.__dir__(obj) if n.startswith(prefixes)]
    return names + [n for n in obj.__dict__ if n.startswith(prefixes) and n not in names]


# RFC 2034: once EHLO has announced ENHANCEDSTATUSCODES, every reply but the greeting and
# the answer to HELO/EHLO carries one. aiosmtpd's own replies ("250 OK", "503 Error: need
# RCPT command", "500 Error: command ... not recognized", "221 Bye") carry none: each gets
# RFC 3463's code for its reply code (Postfix's choices), else its class's X.0.0.
_ENHANCED = re.compile(r"\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_ENHANCED_BY_REPLY = {"500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
                      "530": "5.7.0", "555": "5.5.4"}


def with_enhanced_code(status: str) -> str:
    """`status` ("NNN text" or "NNN-text") with an enhanced status code if it has none;
    3xx replies (354, 334) have no class in RFC 3463 and are left as they are."""
    code = status[:3]
    if not (code.isdigit() and status[3:4] in (" ", "-", "") and code[0] in "245") or _ENHANCED.match(status):
        return status
    enhanced = _ENHANCED_BY_REPLY.get(code, f"{code[0]}.0.0")
    text = status[4:]
    return f"{code}{status[3:4] or ' '}{enhanced}{' ' + text if text else ''}"


class SarabanSMTP(SMTP):
    line_length_limit = 65536  # also the StreamReader's limit: the size of one DATA read

    _BILINGUAL = {
        "552 Error: Too much mail data": replies.TOO_BIG,
        "552 Error: message size exceeds fixed maximum message size": replies.TOO_BIG,
        "500 Line too long": replies.LINE_TOO_LONG,
        "421 Too many connections": replies.TOO_BUSY,
        "530 Must issue a STARTTLS command first": replies.TLS_REQUIRED,
    }

    def __init__(self, handler, *args, data_sink: Callable[["SarabanSMTP"], DataSink] | None = None,
                 limits: ConnectionLimits | None = None, session_timeout: float | None = None,
                 data_timeout: float | None = None, noise: ClientNoise | None = None, **kwargs) -> None:
        super().__init__(handler, *args, **kwargs)
        self._noise = noise
        # AUTH only with something to check it against (aiosmtpd's public `authenticator`,
        # `auth_callback`, or a handler's own auth_ mechanisms). Without one, aiosmtpd
        # ran every AUTH to its end (its default fails every login): after STARTTLS,
        # though no EHLO offered AUTH, a 334 challenge invited password guessing that
        # could only ever get 535. The gateway has no accounts (session 40).
        self._takes_auth = (kwargs.get("authenticator") is not None or kwargs.get("auth_callback") is not None
                            or any(name.startswith("auth_") for name in dir(handler)))
        self._data_sink = data_sink
        self._limits = limits
        self._session_timeout = session_timeout
        self._data_timeout = data_timeout  # a stalled DATA read; default: the command timeout
        self._budget_handle: asyncio.TimerHandle | None = None
        self._admitted_ip: str | None = None  # the client, for the log
        self._admitted = False  # counted in the limits: released when the session ends
        self._limit_key: str | None = None  # what the per-IP cap counts it as (None: not counted)
        self._refused = False
        # From the terminator to the reply the DATA hook runs: the check at DATA (its wait
        # for a worker included) and the sender check, which the session budget still
        # bounds; then the commit (fsync, rename), which nothing cuts: the letter is
        # already durable or about to be, and its sender must hear its 250.
        self._in_data_hook = False
        self._committing = False
        self._abort_handle: asyncio.TimerHandle | None = None
        self._half_closed = False  # the client sent its end of file (eof_received)
        # From the 354 to the reply: a letter being read, checked or committed. A client
        # that ends its side in it has its letter read to the end of what it sent, and,
        # if the final dot is there, taken (see eof_received and connection_lost).
        self._in_data = False
        self._gone = False  # the connection is lost, its end put off until the letter's
        self._cut = False  # the gateway closed or aborted the connection (421, QUIT grace)
        self._enhanced_codes = False  # EHLO announced ENHANCEDSTATUSCODES (push)
        self._answering_hello = False  # the answer to HELO/EHLO carries no enhanced code
        self._continued: list[str] = []  # the lines of a multi-line reply until its last (push)
        self._turn_began = 0.0  # when the loop last ran other sessions (_read_command)
        self._junk_commands = 0  # since the session began or its last letter answered (JUNK_LIMIT)

    def __dir__(self) -> list[str]:
        """The SMTP commands and AUTH mechanisms (see `names_for_aiosmtpd`)."""
        return names_for_aiosmtpd(self, _INTROSPECTED)

    @property
    def committing(self) -> bool:
        """The letter is being made durable: the session is not cut now (drain, budget)."""
        return self._committing

    def begin_commit(self) -> None:
        """Called by the DATA hook just before it commits the draft to the spool."""
        self._committing = True

    # -- connection caps and the session budget --------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._limits is not None and self.transport is None:  # not the STARTTLS re-entry
            peer = _peer_ip(transport)
            key = self._limits.client(peer)
            reason = self._limits.admit(key)
            if reason is not None:
                # Said before the greeting and closed: RFC 5321 3.1 allows 421 instead of 220.
                self._refused = True
                count = self._limits.refused[reason]
                if count == 1 or count % 1000 == 0:  # an attack must not also flood the log
                    log.warning("smtp_connection_refused", peer=key or peer, reason=reason,
                                open=self._limits.open, refused_so_far=count)
                said = replies.TOO_FAST if reason == "rate" else replies.TOO_BUSY
                transport.write(said.encode("utf-8") + b"\r\n")
                transport.close()
                return
            self._admitted_ip, self._limit_key, self._admitted = key or peer, key, True
        super().connection_made(transport)
        reader = getattr(self, "_reader", None)
        if reader is not None and "readuntil" not in vars(reader):
            # aiosmtpd reads each command line with readuntil(); see _read_command.
            reader.readuntil = self._read_command
        if self._session_timeout and self._budget_handle is None:
            self._budget_handle = self.loop.call_later(self._session_timeout, self._over_budget)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        task = self._handler_coroutine
        if (self._half_closed and self._in_data and not self._cut and not self._gone
                and self._under_tls
                and task is not None and not task.done()):
            # The client ended its side in DATA and, under TLS, the connection is gone
            # with it: asyncio closes it at once (a close_notify answered with its own,
            # as TLS 1.2 requires, and a bare FIN alike; a plain connection stays open
            # for the reply, and is lost after that only by a reset or the gateway's
            # own close, which cut the session as before). aiosmtpd cancelled it here: a
            # letter whose final dot had arrived was shredded in its check, unanswered,
            # and its sender, which never saw a 250 either, sent it again later or not.
            # Now what was received is read to its end, as on a plain connection: a
            # letter with its final dot is checked and committed (its 250 unheard, the
            # sender's retry is a resend to the pipeline: one register entry), half a
            # letter is not taken. The session ends when its task does.
            self._gone = True
            asyncio.streams.FlowControlMixin.connection_lost(self, error)  # a paused reply wakes
            self._reader.feed_eof()
            task.add_done_callback(lambda done: self._end_after_data(done, error))
            return
        if self._admitted and self._limits is not None:
            self._limits.release(self._limit_key)
            self._admitted = False
        if self._budget_handle is not None:
            self._budget_handle.cancel()
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        reader = getattr(self, "_reader", None)
        if reader is not None:
            # _read_command, bound to this session: a cycle the reader's buffer (up to
            # 128 KiB) stayed in until the garbage collector's next pass.
            vars(reader).pop("readuntil", None)
        super().connection_lost(error)

    @property
    def _under_tls(self) -> bool:
        """The session runs through STARTTLS's TLS layer."""
        return self.session is not None and self.session.ssl is not None

    def _end_after_data(self, task: asyncio.Task, error: Exception | None) -> None:
        if not task.cancelled():
            task.exception()  # a reply written to the lost connection: nobody else reads it
        self._in_data = False
        self.connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        task = self._handler_coroutine
        tls = self._under_tls
        if self.session is not None and task is not None and not task.done() and (not tls or self._in_data):
            # A client that half-closes after its last command (`nc -N`, a script's
            # `printf ... | nc`, one that shuts its side after the final dot and waits)
            # is answered as Postfix and Exim answer it: aiosmtpd cancelled its session
            # here, a letter complete before the end of file and its check at DATA with
            # it (no reply, the draft shredded: session 43's red team). The commands
            # already read run to their replies; the command loop ends at the end of
            # the input (_read_command) and closes. A half-closed client that does not
            # read its replies still loses its slot after CLOSE_GRACE (_abort_unread).
            self._half_closed = True
            if tls:
                # In DATA (session 44): asyncio's SSL layer closes the connection after
                # this whatever is answered, so no reply can follow; the letter is read
                # to its end all the same (connection_lost).
                self._reader.feed_eof()
                keep_open = False
            else:
                keep_open = asyncio.StreamReaderProtocol.eof_received(self)
        else:
            # Under TLS outside DATA: aiosmtpd's end of the session (nothing it could
            # still answer would reach the client).
            keep_open = super().eof_received()  # aiosmtpd closes once its command loop ends
        self._abort_after_grace()
        return keep_open

    async def _read_command(self, separator: bytes = b"\n") -> bytes:
        """aiosmtpd's read of one command line. At the client's end of file, with every
        whole line before it answered, the session ends as aiosmtpd ended it at the end
        of file (a cancellation its command loop closes the connection on).

        A session answers pipelined commands (lines already received) for at most
        TURN seconds before it lets the event loop run others: readuntil() and an
        unpaused reply return without a turn of the loop, so aiosmtpd's loop answered a
        client's buffered commands, 128 KiB of them (~20,000 NOOPs), before any other
        session, new connection or timer ran. One client pipelining NOOPs and reading
        its replies held every other sender's greeting 5-7 s (session 50's red team)."""
        pipelined = bool(self._reader._buffer)  # noqa: SLF001 - pinned, see module docstring
        try:
            line = await asyncio.StreamReader.readuntil(self._reader, separator)
        except asyncio.IncompleteReadError:
            if not self._half_closed:
                raise
            self._abort_unread_later()
            raise asyncio.CancelledError from None
        now = self.loop.time()
        if not pipelined:
            self._turn_began = now  # it waited for the line: the loop ran others meanwhile
        elif now - self._turn_began >= TURN:
            # Not a turn of the loop per command: that doubled a pipelined command's cost.
            await asyncio.sleep(0)
            self._turn_began = self.loop.time()
        return line

    def _say_and_close(self, reply: str) -> None:
        if self._gone:
            # No one to say it to: the letter's read or check is what is cut (see
            # _over_budget), not a commit, which nothing calls this during.
            self._handler_coroutine.cancel()
            return
        transport = self.transport
        if transport is None:
            return
        self._cut = True
        if transport.is_closing():
            # Closed before, and still here: its peer reads nothing of what is left.
            transport.abort()
            return
        try:
            transport.write(reply.encode("utf-8") + b"\r\n")
        finally:
            transport.close()
            self._abort_after_grace()

    def _abort_after_grace(self) -> None:
        if self._abort_handle is None and self.transport is not None:
            self._abort_handle = self.loop.call_later(CLOSE_GRACE, self._abort_unread)

    def _abort_unread_later(self) -> None:
        # The grace counts from the close: the one armed at the end of file may be
        # almost spent by a long check at DATA.
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        self._abort_after_grace()

    def _abort_unread(self) -> None:
        self._abort_handle = None  # a QUIT whose 221 is still being sent is not closing yet
        transport = self.transport
        if transport is None or self._gone:
            return
        # Half-closed and its replies unread (pipelined commands, its window shut): the
        # session would wait on them until the command timeout. A letter being checked
        # or committed is let finish: the close after its reply arms the grace again.
        stuck = (self._half_closed and not self._in_data_hook and not self._committing
                 and transport.get_write_buffer_size() > 0)
        if transport.is_closing() or stuck:
            log.info("smtp_close_unread", peer=self._admitted_ip)
            self._cut = True
            transport.abort()

    def _over_budget(self) -> None:
        # The check at DATA is not spared: a letter waiting for (or in) it when the budget
        # is spent is cut with the session (its check cancelled, its draft discarded, no
        # 250 promised); only the commit is.
        if self._committing:  # the letter is being made durable: let it have its 250
            self._budget_handle = self.loop.call_later(1.0, self._over_budget)
            return
        log.info("smtp_session_budget_spent", peer=self._admitted_ip, seconds=self._session_timeout)
        self._say_and_close(replies.SESSION_TOO_LONG)

    def _timeout_cb(self) -> None:  # aiosmtpd's idle timer; it closes without a word
        if self._in_data_hook or self._committing:  # the client waits for us, not we for it
            self._reset_timeout()
            return
        log.info("smtp_command_timeout", peer=self._admitted_ip)
        self._say_and_close(replies.TIMEOUT)

    # -- replies -----------------------------------------------------------------------

    async def push(self, status: str | bytes, *, utf8: bool | None = None) -> None:
        if isinstance(status, bytes):  # AUTH challenges come as bytes
            await super().push(status)
            return
        if not self._takes_auth and status.startswith("250-AUTH"):
            return  # aiosmtpd's EHLO offers its mechanisms after STARTTLS whatever it takes
        for prefix, text in self._BILINGUAL.items():
            if status.startswith(prefix):
                status = text
                break
        if self._answering_hello:
            if status[4:].upper() == "ENHANCEDSTATUSCODES":  # the handler's EHLO line
                self._enhanced_codes = True
        elif self._enhanced_codes:
            status = with_enhanced_code(status)
        if utf8 is None:
            utf8 = self.enable_SMTPUTF8 and getattr(self.envelope, "smtp_utf8", False)
        if utf8:
            status = replies.in_thai(status)  # RFC 6531: this client asked for UTF-8
        elif not status.isascii():
            status = replies.english_only(status)  # aiosmtpd would raise UnicodeEncodeError
        if _ECHOED.search(status):
            # aiosmtpd echoes an unknown command ('500 Error: command "X" not recognized'):
            # an escape sequence sent back would act on the terminal of whoever reads
            # the session (swaks, a transcript in a log viewer).
            status = _ECHOED.sub("?", status)
        if status[3:4] == "-":
            # A line of a multi-line reply (EHLO's eight) goes out with its last line, in
            # one write: a send(2) and a drain each were ~a tenth of the intake's CPU.
            self._continued.append(status)
            return
        if self._continued:
            status = "\r\n".join((*self._continued, status))
            self._continued.clear()
        await super().push(status)

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # A client that asked for STARTTLS and could not finish the handshake (no
            # common protocol, a scanner, a dropped line): aiosmtpd closes the session.
            reason = handshake_failure(error.__cause__)
            if self._noise is not None:
                self._noise.tls_handshake_failed(self._admitted_ip, reason)
            else:
                log.info("smtp_tls_handshake_failed", peer=self._admitted_ip, reason=reason)
            return replies.INTERNAL_ERROR
        handler_hook = getattr(self.event_handler, "handle_exception", None)
        if handler_hook is not None:
            return await handler_hook(error)
        log.error("smtp_session_exception", peer=self._admitted_ip,
                  error=f"{type(error).__name__}: {ascii(str(error)[:200])}")
        return replies.INTERNAL_ERROR

    # -- MAIL and RCPT: what no handler should ever see ----------------------------------

    async def _address_refused(self, arg: str | None, keyword: str) -> bool:
        if not arg:
            return False
        reply = address_problem(arg, keyword)
        if reply is None:
            return False
        await self.push(reply)
        return True

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every MAIL and RCPT path with the email package's RFC 5322
        # header parser (~0.15 ms each, a tenth of intake's CPU per letter). A plain
        # <dot-atom@dot-atom> with nothing odd after it yields the same result by a
        # regular expression; anything else (quoted local parts, comments, literals,
        # UTF-8) goes to aiosmtpd's parser (tests/hostile/test_aiosmtpd_fast_paths.py).
        plain = _PLAIN_PATH.fullmatch(arg) if arg else None
        if plain is None:
            try:
                return super()._getaddr(arg)
            except Exception:  # noqa: BLE001 - "MAIL FROM:<", "a@", "\u212a@": the parser raises
                # IndexError or AttributeError, not HeaderParseError: a malformed address
                # (553, as aiosmtpd answers the ones it catches), not a 451 to retry for days.
                return None, None
        address, rest = plain.group(1), plain.group(2).lstrip(" \t")
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    def _getparams(self, params):
        # RFC 5321's esmtp-value is ASCII; aiosmtpd takes "SIZE=\u00b2" for digits
        # (str.isdigit) and int() raises on it: a syntax error, not a 451.
        if not all(p.isascii() for p in params):
            return None
        return super()._getparams(params)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd's name
        if await self._address_refused(arg, "FROM:"):
            return
        await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:  # noqa: N802
        if await self._address_refused(arg, "TO:"):
            return
        await super().smtp_RCPT(arg)

    @syntax("AUTH <mechanism>", when="_takes_auth")  # HELP lists it only when it is taken
    async def smtp_AUTH(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        if self._takes_auth:
            await super().smtp_AUTH(arg)
            return
        # Before and after STARTTLS alike, whatever the mechanism: no 538 that suggests
        # TLS would help, no 504 that suggests another mechanism would.
        await self.push(replies.AUTH_NOT_OFFERED)

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        # aiosmtpd 1.4 answers a second STARTTLS with 220 and stacks a TLS session inside
        # the first: RFC 3207 forbids it, each layer costs a handshake and a decryption of
        # every byte, and closing one logged asyncio's TypeError traceback at error level
        # (its SSLProtocol cannot sit on another one's transport).
        if self._tls_protocol is not None:
            await self.push(replies.TLS_ALREADY_ACTIVE)
            return
        await super().smtp_STARTTLS(arg)
        if self._tls_protocol is not None and self.session is not None and self.session.ssl is None \
                and self.transport is not None:
            # The handshake ended without TLS and without an error: the connection was
            # aborted in the middle of it (the command timeout or the session budget, for a
            # client that said STARTTLS and then nothing, or half a ClientHello). asyncio's
            # SSL layer then tells its protocol nothing of the loss, so the session never
            # ended: its connection slot was never given back, and enough of them shut
            # every sender out until a restart (session 43's red team).
            log.info("smtp_tls_handshake_cut", peer=self._admitted_ip)
            self.connection_lost(None)

    # -- commands without a letter: JUNK_LIMIT ------------------------------------------

    async def _junk(self) -> None:
        self._junk_commands += 1
        if self._junk_commands <= JUNK_LIMIT:
            return
        if (skipped := _JUNK_LOG.allow()) is not None:
            log.info("smtp_junk_commands", peer=self._admitted_ip, limit=JUNK_LIMIT, **skipped)
        await self.push(replies.TOO_MANY_JUNK_COMMANDS)
        self._cut = True
        self._abort_after_grace()  # its 421 unread: see CLOSE_GRACE
        # As at the client's end of file (_read_command): aiosmtpd's command loop closes
        # the connection; nothing pipelined after this is answered.
        raise asyncio.CancelledError

    @syntax("NOOP [ignored]")
    async def smtp_NOOP(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        await self._junk()
        await super().smtp_NOOP(arg)

    @syntax("RSET")
    async def smtp_RSET(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        await self._junk()
        await super().smtp_RSET(arg)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        await self._junk()
        await super().smtp_VRFY(arg)

    @syntax("HELP [command]")
    async def smtp_HELP(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        await self._junk()
        await super().smtp_HELP(arg)

    async def smtp_EXPN(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        await self._junk()
        await super().smtp_EXPN(arg)

    @syntax("QUIT")
    async def smtp_QUIT(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        self._abort_after_grace()  # its 221 unread: see CLOSE_GRACE
        await super().smtp_QUIT(arg)

    # -- HELO and EHLO: a name the spool and the logs can keep ---------------------------

    async def _helo_refused(self, hostname: str | None) -> bool:
        # aiosmtpd decodes with surrogateescape: a name that is not UTF-8 holds lone
        # surrogates, which the spool could not write at DATA (451 at every try, for days).
        if hostname and (_CONTROL.search(hostname) or _SURROGATE.search(hostname)):
            await self.push(replies.HELO_INVALID)
            return True
        return False

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:  # noqa: N802 - aiosmtpd's name
        if await self._helo_refused(hostname):
            return
        self._answering_hello = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._answering_hello = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:  # noqa: N802
        if await self._helo_refused(hostname):
            return
        self._answering_hello = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._answering_hello = False

    # -- DATA ------------------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802
        # The checks before 354 are aiosmtpd's own, in its order.
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        try:
            sink = self._data_sink(self) if self._data_sink is not None else MemorySink()
        except OSError as exc:  # no spool file (ENOSPC, EMFILE): the sender retries later
            log.error("spool_open_failed", error=str(exc), errno=exc.errno)
            await self.push(replies.SPOOL_FAILED)
            return
        self._in_data = True
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            complete = await read_data(self._reader, sink, self.data_size_limit, self._data_read)
            if not complete:  # the client went away mid-message: nothing was accepted
                if self._half_closed:
                    log.info("smtp_letter_cut_by_client", peer=self._admitted_ip,
                             tls=self._under_tls, size=sink.size)
                return
            if self.data_size_limit and sink.size > self.data_size_limit:
                self._set_post_data_state()
                await self.push(replies.TOO_BIG)
                return
            if isinstance(sink.failed, BelowFloor):  # counted and logged where it was found
                self._set_post_data_state()
                await self.push(replies.INSUFFICIENT_STORAGE)
                return
            if sink.failed is not None:
                log.error("spool_write_failed", error=str(sink.failed), errno=sink.failed.errno)
                self._set_post_data_state()
                await self.push(replies.SPOOL_FAILED)
                return
            if isinstance(sink, MemorySink):
                content = sink.getvalue()
                self.envelope.original_content = content
                self.envelope.content = content
                if self._decode_data:  # aiosmtpd's rules for a decoding handler
                    if self.enable_SMTPUTF8:
                        self.envelope.content = content.decode("utf-8", "surrogateescape")
                    elif not content.isascii():
                        self._set_post_data_state()
                        await self.push("500 Error: strict ASCII mode")
                        return
                    else:
                        self.envelope.content = content.decode("ascii")
            else:
                self.envelope.content = None
                self.envelope.original_content = None
                self.envelope.spool_draft = sink  # type: ignore[attr-defined]
            self._in_data_hook = True
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                self._in_data_hook = self._committing = False
            utf8 = getattr(self.envelope, "smtp_utf8", False)
            self._set_post_data_state()
            self._reset_timeout()
            status = "250 OK" if status is MISSING else status
            # A letter answered, taken or refused: the RSET a client says before the next is
            # no junk. smtplib says RSET after every refusal, so a client sending 150 letters
            # the gateway refuses (a hostile corpus, ลับที่สุด) in one session was cut at 100.
            self._junk_commands = 0
            if self._gone:
                # Taken or refused, and no one to tell: the sender, which never saw this
                # reply, keeps the letter and sends it again (a resend to the pipeline).
                log.info("smtp_reply_unheard", peer=self._admitted_ip, reply=status[:80],
                         tls=self._under_tls)
            else:
                await self.push(status, utf8=utf8)  # the envelope, and its SMTPUTF8, is reset
        finally:
            self._in_data = False
            # After a commit this only closes; otherwise nothing is left: the draft is
            # shredded (written over and fsync'ed), in a thread, not in the event loop.
            # Shielded: a client that closes right after its 550 cancels this session's
            # task, and the cancel reached the executor's job before it had started: the
            # refused ลับที่สุด letter's draft stayed in spool/tmp until the next start.
            if isinstance(sink, MemorySink) or getattr(sink, "committed", False):
                sink.discard()
            else:
                await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, sink.discard))

    def _data_read(self) -> None:
        """Each DATA read restarts the idle timer: a steady upload is not cut by the
        command timeout, only by the session budget."""
        self._reset_timeout(self._data_timeout)


def address_problem(arg: str, keyword: str) -> str | None:
    """The refusal for a MAIL/RCPT argument no handler should see, or None."""
    if _CONTROL.search(arg):
        return replies.ADDRESS_CONTROL_CHARS
    if _SURROGATE.search(arg):  # aiosmtpd decodes with surrogateescape: invalid UTF-8
        return replies.ADDRESS_NOT_UTF8
    rest = arg.strip()
    if rest[:len(keyword)].upper() == keyword:
        rest = rest[len(keyword):].lstrip()
    if rest.startswith("<"):
        end = rest.find(">")
        path = rest if end == -1 else rest[:end + 1]
    else:
        path = rest.split(" ", 1)[0]
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
        return replies.ADDRESS_TOO_LONG
    return None


async def read_data(reader: asyncio.StreamReader, sink: DataSink, limit: int | None,
                    on_read: Callable[[], None] = lambda: None) -> bool:
    """Copy one DATA section from `reader` into `sink`, dot-unstuffed, up to and without
    the terminator; True when the terminator was read, False if the client went away.

    Only the last four bytes read stay in memory between reads: they may begin a
    terminator that the next read completes (the old reader forgot them once a message
    was over the size limit, so `.` at a read boundary could end DATA early and turn
    the rest of the message into commands). Past `limit` the rest is read and dropped
    (RFC 5321 4.2.5 answers after the data). Commands pipelined after the terminator
    are given back to `reader` for the command loop."""
    out = _Unstuffer(sink, limit)
    # The CRLF before the first line (virtual, never written), so that an empty message
    # (".\r\n") and a first line that starts with '.' are handled like any other line.
    buf = bytearray(b"\r\n")
    written = 2  # buf[:written] is already in the sink (or virtual)
    keep = len(TERMINATOR) - 1
    while True:
        found = buf.find(TERMINATOR)
        if found != -1:
            out.write(bytes(buf[written:found + 2]))  # the last line's CRLF is the letter's
            rest = bytes(buf[found + len(TERMINATOR):])
            if rest:
                # Exactly as if read line by line: what follows is the next command.
                reader._buffer[0:0] = rest  # noqa: SLF001 - pinned, see module docstring
            return True
        cut = len(buf) - keep
        if cut > written:
            out.write(bytes(buf[written:cut]))
            written = cut
        if cut > 0:
            del buf[:cut]
            written -= cut
        try:
            chunk = await reader.read(CHUNK)
        except (ConnectionError, OSError):
            return False
        if not chunk:
            return False
        on_read()
        buf += chunk


CHUNK = 1 << 16


class _Unstuffer:
    """Undo dot-stuffing (RFC 5321 4.5.2) across read boundaries: the two bytes written
    last decide whether a '.' at the start of the next piece begins a line."""

    def __init__(self, sink: DataSink, limit: int | None) -> None:
        self.sink = sink
        self.limit = limit
        self.last = b"\r\n"

    def write(self, raw: bytes) -> None:
        if not raw:
            return
        joined = self.last + raw
        self.last = joined[-2:]
        data = joined.replace(b"\r\n.", b"\r\n")[2:] if b"\r\n." in joined else raw
        if self.limit and self.sink.size + len(data) > self.limit:
            self.sink.size += len(data)  # only counted: the message is refused anyway
            return
        self.sink.write(data)


def unstuff(data: bytes) -> bytes:
    """Undo dot-stuffing (RFC 5321 4.5.2): a line that starts with '.' had one added."""
    if b"\r\n." not in data and not data.startswith(b"."):
        return data
    return (b"\r\n" + data).replace(b"\r\n.", b"\r\n")[2:]
