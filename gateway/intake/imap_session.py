"""An IMAP session over aioimaplib in which no call can hang.

aioimaplib has known hangs: `idle_start()` never returns when the server answers IDLE
with BYE and closes (aioimaplib #110); a connection attempt with a TLS mismatch ignores
`asyncio.wait_for` cancellation (#128); commands pending when the connection drops are
never completed (seen against Dovecot; the brief also cites #58). So every call here
runs as a task raced against our own deadline and against the connection-lost callback; on either, the task is cancelled without being
awaited, the transport is aborted and `ImapGone` is raised. A session that raised
`ImapGone` is finished: the caller reconnects. A NO/BAD answer is `ImapRefused` and
leaves the session usable.
"""
from __future__ import annotations

import asyncio
import base64
import email.message
import email.parser
import email.utils
import email.policy
import re
import socket
import ssl
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aioimaplib
import structlog

log = structlog.get_logger("gateway.imap")

_FETCH_START = re.compile(rb"^(\d+) FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]*)"')


class ImapError(Exception):
    """Something went wrong talking to the IMAP server."""


class ImapGone(ImapError):
    """Timed out, connection lost, or the server said BYE: the session is over."""


class ImapUnanswered(ImapGone):
    """A command went out whole and its answer did not come in time: the server may still
    carry it out (an APPEND it commits late, behind a stalled fsync)."""


class ImapRefused(ImapError):
    """The server answered NO or BAD; the session is still usable."""

    def __init__(self, what: str, result: str, lines: list[Any]):
        self.result = result
        self.text = " ".join(_text(line) for line in lines if isinstance(line, (bytes, bytearray)))
        super().__init__(f"{what}: {result} {self.text}".strip())

    @property
    def trycreate(self) -> bool:
        return "[TRYCREATE]" in self.text.upper()


class ImapVanished(ImapRefused):
    """The server answered a FETCH of one UID with nothing: the message is no longer in
    the mailbox (expunged or moved by someone else)."""

    def __init__(self, what: str):
        super().__init__(what, "NO", [b"message vanished"])


@dataclass
class Headers:
    """What a header-only FETCH tells about one message, before its body is read."""

    uid: int
    size: int
    flags: set[str] = field(default_factory=set)
    message_id: str | None = None
    sender: str | None = None  # Return-Path, else the From address


# Folder names are configured with "/" between levels and spelt with the server's own
# hierarchy separator and personal namespace prefix, for delivery and intake alike.
@dataclass(frozen=True)
class Hierarchy:
    separator: str  # "" when the server has no hierarchy (flat names)
    prefix: str  # personal namespace prefix, e.g. "" or "INBOX."

    def spell(self, folder: str) -> str:
        """The server's name of a configured folder ("/" between levels)."""
        if folder.upper() == "INBOX":
            return folder
        parts = [p for p in folder.split("/") if p]
        sep = self.separator or "/"
        for part in parts:
            if self.separator and self.separator != "/" and self.separator in part:
                raise FolderNameError(f"folder {folder!r}: the level {part!r} contains the server's "
                                      f"hierarchy separator {self.separator!r}")
        name = sep.join(parts)
        if self.prefix and not name.startswith(self.prefix):
            name = self.prefix + name
        return name


class FolderNameError(ValueError):
    """A configured folder cannot be spelt on this server."""


# aioimaplib hands the untagged data without "* NAMESPACE "/"* LIST "; accept both.
_NS = re.compile(rb'^(?:\* NAMESPACE )?\(\("((?:[^"\\]|\\.)*)" (?:"((?:[^"\\]|\\.)*)"|NIL)', re.I)
_LIST = re.compile(rb'^(?:\* LIST )?\([^)]*\) (?:"((?:[^"\\]|\\.)*)"|NIL) ', re.I)


def parse_hierarchy(namespace_lines: list, list_lines: list) -> Hierarchy:
    for line in namespace_lines:
        m = _NS.match(bytes(line)) if isinstance(line, (bytes, bytearray)) else None
        if m:
            return Hierarchy((m.group(2) or b"").decode(), m.group(1).decode())
    for line in list_lines:
        m = _LIST.match(bytes(line)) if isinstance(line, (bytes, bytearray)) else None
        if m:
            return Hierarchy((m.group(1) or b"").decode(), "")
    return Hierarchy("/", "")


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


def in_plain_words(exc: BaseException) -> str:
    """A network or TLS failure as `status`, `check-config` and the outbox show it to a
    person: what happened, without Python's names for it (SSLCertVerificationError,
    gaierror, _ssl.c:1006)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the server's TLS certificate is not accepted: {(exc.verify_message or 'not trusted').rstrip('.')} "
                "(check ca_file and the host name)")
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({(exc.reason or 'unknown reason').lower().replace('_', ' ')})"
    if isinstance(exc, socket.gaierror):
        return "the host name cannot be resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "the server closed the connection"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or "the connection failed"


def tls_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def mailbox_name(name: str) -> str:
    """A folder name as IMAP spells it: modified UTF-7 (RFC 3501 5.1.3), so Thai works."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _quote(value: str) -> str:
    return quoted_string(mailbox_name(value))


def quoted_string(value: str) -> str:
    """`value` as an IMAP quoted string, as it is (a name LIST gave, already modified UTF-7)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSession:
    """One logged-in connection. Use `await ImapSession(...).connect()`; `close()` always."""

    def __init__(self, host: str, port: int, username: str, password: str, *, tls: bool = True,
                 ca_file: Path | None = None, verify: bool = True, timeout: float = 30.0,
                 max_response: int | None = None):
        """`max_response`: the most bytes one command's answer may take (the server's
        claims aside); more ends the session (ImapGone) instead of filling memory."""
        self.host, self.port, self.username = host, port, username
        self.max_response = max_response
        self._received = 0  # bytes of the answer to the call under way
        self._too_much: str | None = None
        self._password = password
        self._ssl = tls_context(ca_file, verify) if tls else None
        self.timeout = timeout
        self.client: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self.selected: str | None = None
        # Set when the server reports "* n EXISTS" in any response. Dovecot (like most
        # servers) reports new mail at the end of whatever command runs next, and
        # aioimaplib drops such untagged lines during FETCH/STORE/SEARCH; without this
        # flag a letter arriving during our own commands would wait for the next IDLE
        # wake-up instead of being taken at once.
        self.mail_arrived = False

    # -- the guard -----------------------------------------------------------------------

    async def call(self, what: str, awaitable: Awaitable, timeout: float | None = None,
                   check: bool = True, moving_until: float | None = None,
                   went_whole: Callable[[], bool] | None = None) -> Any:
        """Await `awaitable` within `timeout` (default: the session's), or finish the session.
        `moving_until`: while bytes keep moving (the server takes our upload, or sends
        its answer), the wait goes on past `timeout`, `timeout` at a time, until at most
        this many seconds. `went_whole`: whether the command went out whole, asked when
        the connection is lost before its answer (ImapUnanswered then, not ImapGone)."""
        if self.client is None or self._lost.is_set():
            raise ImapGone(f"{what}: not connected")
        self._received = 0
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done = await self._wait(task, lost, timeout or self.timeout, moving_until)
        except asyncio.CancelledError:
            self._drop(task)
            self.abort()
            raise
        finally:
            lost.cancel()
        if task not in done:
            self._drop(task)
            lost = self._lost.is_set()
            why = (self._too_much or "connection lost") if lost else f"no answer within {timeout or self.timeout:.0f}s"
            # Not all of it reached the server (a stalled link): the reset below makes it
            # drop what it has; all of it did: it may still act on it. So may a server whose
            # connection was lost after it had the command whole (below, `append`).
            whole = (_all_taken(self.client) if not lost
                     else went_whole is not None and not self._too_much and went_whole())
            self.abort()
            failure = (ImapUnanswered if whole else ImapGone)(f"{what}: {why}")
            failure.lost = lost
            raise failure
        try:
            result = task.result()
        except (aioimaplib.AioImapException, asyncio.TimeoutError, OSError, ssl.SSLError) as exc:
            self.abort()
            raise ImapGone(f"{what}: {in_plain_words(exc)}") from None
        if check and isinstance(result, tuple) and hasattr(result, "result"):
            if any(_text(line).upper().startswith("BYE") for line in result.lines
                   if isinstance(line, (bytes, bytearray))) and result.result != "OK":
                self.abort()
                raise ImapGone(f"{what}: server said BYE")
            if result.result != "OK":
                raise ImapRefused(what, result.result, result.lines)
        return result

    async def _wait(self, task: asyncio.Future, lost: asyncio.Future, timeout: float,
                    moving_until: float | None) -> set:
        started = asyncio.get_running_loop().time()
        moved = _bytes_moved(self.client)
        while True:
            done, _ = await asyncio.wait({task, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if done or moving_until is None or moved is None:
                return done
            before, moved = moved, _bytes_moved(self.client)
            if moved is None or moved == before or asyncio.get_running_loop().time() - started >= moving_until:
                return done

    @staticmethod
    def _drop(task: asyncio.Future) -> None:
        # Cancelled but never awaited: it may never finish (aioimaplib #128).
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def abort(self) -> None:
        """Tear the connection down at once, without LOGOUT (the server may be gone)."""
        self._lost.set()
        client, self.client = self.client, None
        if client is None:
            return
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            _reset_on_close(transport)
            transport.abort()
        client._client_task.cancel()

    @property
    def connected(self) -> bool:
        return self.client is not None and not self._lost.is_set()

    # -- commands ------------------------------------------------------------------------

    async def connect(self) -> "ImapSession":
        self._lost.clear()
        try:
            self.client = aioimaplib.IMAP4(self.host, self.port, timeout=self.timeout,
                                           conn_lost_cb=lambda exc: self._lost.set(),
                                           ssl_context=self._ssl)
        except OSError as exc:
            raise ImapGone(f"connect: {in_plain_words(exc)}") from None
        self._watch_untagged(self.client.protocol)
        in_slices(self.client.protocol)
        if self.max_response:
            self._bound(self.client.protocol, self.max_response)
        await self.call("connect", self.client.wait_hello_from_server())
        try:
            await self.call("login", self.client.login(self.username, self._password))
        except ImapRefused as exc:
            self.abort()
            raise ImapRefused(f"login as {self.username}", exc.result, [exc.text.encode()]) from None
        return self

    def _watch_untagged(self, protocol: aioimaplib.IMAP4ClientProtocol) -> None:
        original = protocol._untagged_response

        def watching(line: bytes):  # noqa: ANN202
            if line.rstrip().upper().endswith(b" EXISTS"):
                self.mail_arrived = True
            # Wrapped only when the line holds a second "* " (most never do): ~0.2 µs a line.
            return original(_UntaggedLine(line) if line.find(b"* ", 2) >= 0 else line)

        protocol._untagged_response = watching

    def _bound(self, protocol: aioimaplib.IMAP4ClientProtocol, limit: int) -> None:
        """aioimaplib keeps whatever the server sends for a command in memory: a literal
        announced as {2147483648}, a line that never ends, untagged lines without end.
        Checked as the bytes arrive, so at most one read past the limit is held."""
        original = protocol.data_received

        def bounded(data: bytes) -> None:
            self._received += len(data)
            command = protocol.current_command
            announced = getattr(command, "_expected_size", 0) if command is not None else 0
            if announced > limit or self._received > limit:
                self._too_much = (f"the server sent or announced more than {limit} bytes for one command "
                                  f"({max(announced, self._received)}), more than any letter taken")
                log.warning("imap_answer_too_big", host=self.host, username=self.username, limit=limit,
                            announced=announced, received=self._received)
                self.abort()
                return
            original(data)

        protocol.data_received = bounded

    async def close(self) -> None:
        if self.connected:
            try:
                await self.call("logout", self.client.logout(), timeout=min(5.0, self.timeout), check=False)
            except ImapError:
                pass
        self.abort()

    async def hierarchy(self) -> Hierarchy:
        """The server's hierarchy separator and personal namespace prefix (NAMESPACE, else
        LIST "" ""), to spell configured folder names with."""
        # aioimaplib refuses NAMESPACE itself (Abort, the session lost) when the server
        # did not announce it: such a server (RFC 3501 alone) is asked LIST "" "" only.
        namespace = (await self.call("namespace", self.client.namespace(), check=False)).lines \
            if self.has("NAMESPACE") else []
        listed = await self.call("list", self.client.list('""', '""'), check=False)
        return parse_hierarchy(namespace, listed.lines)

    def has(self, capability: str) -> bool:
        return self.client is not None and self.client.has_capability(capability)

    async def select(self, mailbox: str) -> int:
        """Select `mailbox`; return its UIDVALIDITY."""
        response = await self.call(f"select {mailbox}", self.client.select(_quote(mailbox)))
        self.selected = mailbox
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line)) if isinstance(line, (bytes, bytearray)) else None
            if match:
                return int(match.group(1))
        raise ImapGone(f"select {mailbox}: the server gave no UIDVALIDITY")

    async def create(self, mailbox: str) -> None:
        try:
            await self.call(f"create {mailbox}", self.client.create(_quote(mailbox)))
        except ImapRefused as exc:
            if "ALREADYEXISTS" not in exc.text.upper() and "EXISTS" not in exc.text.upper():
                raise

    async def uid_search(self, *criteria: str) -> list[int]:
        response = await self.call("uid search", self.client.uid_search(*criteria, charset=None))
        uids: list[int] = []
        for line in response.lines[:-1]:
            uids.extend(int(tok) for tok in _text(line).split() if tok.isdigit())
        return sorted(set(uids))

    async def fetch_headers(self, uids: list[int]) -> list[Headers]:
        """Size, flags and Message-ID/sender of each message, without its body."""
        if not uids:
            return []
        response = await self.call(
            "fetch headers",
            self.client.uid("fetch", ",".join(map(str, uids)),
                            "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID RETURN-PATH FROM)])"),
        )
        found: dict[int, Headers] = {}
        for meta, literal in _fetch_records(response.lines):
            uid_match, size_match = _UID.search(meta), _SIZE.search(meta)
            if not uid_match or not size_match:
                continue  # an unsolicited FETCH (flags changed by someone else)
            flags = _FLAGS.search(meta)
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(literal or b"")
            sender = _sender(headers)
            uid = int(uid_match.group(1))
            found[uid] = Headers(
                uid=uid,
                size=int(size_match.group(1)),
                flags=set(_text(flags.group(1)).split()) if flags else set(),
                message_id=(str(headers.get("Message-ID")).strip() or None) if headers.get("Message-ID") else None,
                sender=sender or None,
            )
        return [found[u] for u in sorted(found)]

    async def fetch_fields(self, uids: list[int], names: tuple[str, ...]) -> dict[int, email.message.Message]:
        """The header fields `names` of each message, parsed (no body fetched)."""
        if not uids:
            return {}
        response = await self.call(
            "fetch fields",
            self.client.uid("fetch", ",".join(map(str, uids)), f"(UID BODY.PEEK[HEADER.FIELDS ({' '.join(names)})])"),
        )
        found: dict[int, email.message.Message] = {}
        for meta, literal in _fetch_records(response.lines):
            uid_match = _UID.search(meta)
            if uid_match and literal is not None:
                found[int(uid_match.group(1))] = email.parser.BytesHeaderParser(
                    policy=email.policy.compat32).parsebytes(literal)
        return found

    async def fetch_body(self, uid: int, timeout: float | None = None) -> bytes:
        response = await self.call(f"fetch body {uid}", self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])"),
                                   timeout=timeout)
        for meta, literal in _fetch_records(response.lines):
            match = _UID.search(meta)
            if literal is not None and match and int(match.group(1)) == uid:
                return literal
        raise ImapVanished(f"fetch body {uid}")

    async def fetch_body_dated(self, uid: int, at_most: float | None = None) -> tuple[bytes, str | None]:
        """The message's bytes and its INTERNALDATE as the server spelt it (when the
        message reached the mailbox, RFC 3501 2.3.3), None if the server gave none.
        `timeout` without progress, as long as the body keeps coming up to `at_most`
        seconds in all: until session 20 `at_most` was the deadline, and a big letter
        over a slow link (25 MB at 400 kB/s: more than 30 s + 1 s per MB) ended the
        session at its FETCH, every time, and was never taken."""
        response = await self.call(f"fetch body {uid}",
                                   self.client.uid("fetch", str(uid), "(UID INTERNALDATE BODY.PEEK[])"),
                                   moving_until=at_most)
        for meta, literal in _fetch_records(response.lines):
            match = _UID.search(meta)
            if literal is not None and match and int(match.group(1)) == uid:
                date = _INTERNALDATE.search(meta)
                return literal, _text(date.group(1)) if date else None
        raise ImapVanished(f"fetch body {uid}")

    async def add_keyword(self, uid: int, keyword: str) -> None:
        await self.call(f"store {uid}", self.client.uid("store", str(uid), "+FLAGS.SILENT", f"({keyword})"))

    async def move(self, uid: int, mailbox: str) -> None:
        """Move one message (MOVE, or COPY + \\Deleted + UID EXPUNGE on older servers)."""
        if self.has("MOVE"):
            await self.call(f"move {uid}", self.client.uid("move", str(uid), _quote(mailbox)))
            return
        await self.call(f"copy {uid}", self.client.uid("copy", str(uid), _quote(mailbox)))
        await self.call(f"store {uid}", self.client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"))
        if self.has("UIDPLUS"):
            await self.call(f"expunge {uid}", self.client.uid("expunge", str(uid)))

    async def append(self, data: bytes, mailbox: str, flags: str | None = None) -> None:
        """The deadline is `timeout` without progress, not for the whole upload: as long
        as the server acknowledges more of the letter's bytes, the APPEND goes on (up to
        `timeout` + a second per 50 kB, against a server that takes a byte a minute).
        Until session 20 aioimaplib's own timer (`timeout` from the command, never reset
        while we send) ended any APPEND whose upload took longer than `timeout`: on a
        slow link a big letter was cut at each attempt, and (closed, not reset:
        `_reset_on_close`) reached the server all the same, filed two or three times."""
        protocol = self.client.protocol if self.client is not None else None
        if protocol is not None:
            protocol.literal_data = data  # aioimaplib's own; None once the server asked for it and it was written
        # A connection lost after the letter went out (a proxy before Dovecot restarted, a
        # firewall dropped the flow) leaves the server perhaps committing it still: an
        # APPEND in doubt, as one unanswered in time is. Taken for one that never carried
        # the letter, it was tried again at once on a new connection, found nothing yet
        # and appended again: two copies once the first landed (red team of 7 Dec 2026).
        # Lost during the upload, it waits as long (the kernel's queue cannot be read then).
        await self.call(f"append to {mailbox}",
                        # the protocol's own append: without aioimaplib's timer (ours rules)
                        self.client.protocol.append(data, _quote(mailbox), flags, None, timeout=None),
                        moving_until=self.timeout + len(data) / 50_000,
                        went_whole=lambda: protocol is not None and protocol.literal_data is None)

    async def noop(self) -> None:
        await self.call("noop", self.client.noop())

    async def idle(self, seconds: float) -> bool:
        """IDLE for up to `seconds`; True if the server pushed something (new mail, say)."""
        queue = self.client.protocol.idle_queue
        while not queue.empty():
            queue.get_nowait()  # leftovers of an earlier IDLE would wake us for nothing
        idle_task = await self.call("idle", self.client.idle_start(timeout=seconds))
        push = await self.call("idle wait", self.client.wait_server_push(timeout=seconds + self.timeout),
                               timeout=seconds + self.timeout * 2, check=False)
        self.client.idle_done()
        await self.call("idle done", idle_task)
        return push != aioimaplib.STOP_WAIT_SERVER_PUSH


class _UntaggedLine(bytes):
    """An untagged answer line as aioimaplib's `_untagged_response` is given it. That
    method drops the leading "* " with `line.replace(b'* ', b'')`, which drops every "* "
    in the line: LIST's `(\\HasNoChildren) "/" "* &DhQOSA4nDhk-"` (a clerk's folder "* ด่วน",
    the asterisk that sorts it first) came out as the folder "&DhQOSA4nDhk-", which does
    not exist, so the folder was passed over as gone since the LIST. A copy the clerk
    had moved there was filed again by an attempt done again, and after a restore the
    numbers given in it were given again. Only the line's own "* " goes now."""

    def replace(self, old, new, count=-1):  # noqa: ANN001, ANN201 - bytes.replace's own
        if old == b"* " and new == b"" and self.startswith(b"* "):
            return bytes(self[2:])
        return bytes.replace(self, old, new, count)


# aioimaplib reads the answer lines of one read from the socket by recursion, a level a
# line (IMAP4ClientProtocol._handle_responses): a read of more than ~900 lines (a UID FETCH
# of 500 messages' fields arrives as 1,500 lines in one read of 100 kB over TLS) raised
# RecursionError inside the SSL protocol, which dropped the connection ("connection
# lost"): reading the receive numbers back from a folder of 500 copies, or looking for a
# copy among many messages, failed as often as not (session 52). Each read is handed on in
# pieces of at most this many lines: where a read may be cut anyway, as TCP cuts it.
LINES_A_PIECE = 200


def in_slices(protocol: aioimaplib.IMAP4ClientProtocol) -> None:
    original = protocol.data_received

    def sliced(data: bytes) -> None:
        if data.count(b"\n") <= LINES_A_PIECE:
            original(data)
            return
        start = 0
        while start < len(data):
            end = start
            for _ in range(LINES_A_PIECE):
                found = data.find(b"\n", end)
                if found < 0:
                    end = len(data)
                    break
                end = found + 1
            original(data[start:end])
            start = end

    protocol.data_received = sliced


def _reset_on_close(transport: asyncio.BaseTransport) -> None:
    """Make closing the socket a reset (SO_LINGER 0), not an orderly end. A plain close
    leaves what the kernel still holds of an APPEND going out: given up on (no progress
    for `timeout` over a stalled link), the letter still reached the server seconds
    later, after our retry had looked for it, not found it and appended it again; two
    copies in the clerk's folder. A reset drops it, and the server discards an APPEND
    whose literal never ended."""
    reset_when_closed(transport.get_extra_info("socket"))


def reset_when_closed(sock) -> None:
    """Closing `sock` resets the connection (SO_LINGER 0): what the kernel still holds
    of ours is dropped, not sent on. IMAP's APPEND and the SMTP forward give up so."""
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError):
            pass


def unsent_bytes(sock) -> int | None:
    """Bytes written to `sock` that the peer has not acknowledged yet (Linux SIOCOUTQ),
    or None where that cannot be read."""
    import fcntl
    import termios

    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (OSError, ValueError, AttributeError):
        return None


def _all_taken(client: aioimaplib.IMAP4 | None) -> bool:
    """The server's end has acknowledged every byte written on this connection (nothing
    in the transport's buffer nor in the kernel's send queue); where that cannot be
    read, True: the caller then waits rather than risk a second copy."""
    transport = getattr(getattr(client, "protocol", None), "transport", None)
    if transport is None:
        return True
    try:
        if transport.get_write_buffer_size():
            return False
        queued = unsent_bytes(transport.get_extra_info("socket"))
    except (OSError, AttributeError, RuntimeError):
        return True
    return queued is None or queued == 0


def _bytes_moved(client: aioimaplib.IMAP4 | None) -> int | None:
    """How many bytes the server has acknowledged of ours plus sent us on this
    connection (Linux TCP_INFO tcpi_bytes_acked + tcpi_bytes_received, a stable part of
    the kernel's ABI since 4.1), or None where it cannot be read: then a deadline is a
    plain deadline."""
    transport = getattr(getattr(client, "protocol", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except OSError:
        return None
    if len(info) < _TCPI_BYTES_ACKED + 16:
        return None
    acked, received = struct.unpack_from("QQ", info, _TCPI_BYTES_ACKED)
    return acked + received


_TCPI_BYTES_ACKED = 120  # offset in struct tcp_info (linux/tcp.h); tcpi_bytes_received follows


def _fetch_records(lines: list[Any]) -> list[tuple[bytes, bytes | None]]:
    """(the non-literal text, the literal) of each `* n FETCH (...)` in a response."""
    records: list[list] = []
    for line in lines:
        if isinstance(line, bytearray):
            if records:
                records[-1][1] = bytes(line)
        elif isinstance(line, bytes):
            if _FETCH_START.match(line):
                records.append([line, None])
            elif records:
                records[-1][0] += b" " + line
    return [(meta, literal) for meta, literal in records]



_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE_TIME = re.compile(r"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


def _sender(headers: email.message.Message) -> str | None:
    """The address of Return-Path, else From: the envelope sender the spool records.
    (5,000 nested comments in it made the stdlib's address parser recurse past Python's
    limit, at every reconnect: gateway/email_fixes.py reads them without recursion.)"""
    value = headers.get("Return-Path") or headers.get("From")
    if not value:
        return None
    addresses = email.utils.getaddresses([str(value)])
    return addresses[0][1] if addresses and addresses[0][1] else None


def parse_internaldate(text: str | None):  # -> datetime.datetime | None
    """An INTERNALDATE (`31-Dec-2025 23:50:00 +0700`, the day may be space-padded) as an
    aware datetime; None if it is missing or not in that form (not locale-dependent)."""
    import datetime as dt

    match = _DATE_TIME.match(text or "")
    if not match or match.group(2).title() not in _MONTHS:
        return None
    day, month, year, hour, minute, second = (int(match.group(1)), _MONTHS.index(match.group(2).title()) + 1,
                                              *map(int, match.group(3, 4, 5, 6)))
    offset = dt.timedelta(hours=int(match.group(8)), minutes=int(match.group(9)))
    try:
        return dt.datetime(year, month, day, hour, minute, second,
                           tzinfo=dt.timezone(-offset if match.group(7) == "-" else offset))
    except ValueError:
        return None
