"""File a folder copy into an IMAP folder by APPEND, exactly once.

The delivery runner is synchronous; this keeps one event loop and one logged-in
session per (server, account) for the life of the process, so a burst of letters costs
one APPEND each, not a login each.

Exactly once: APPEND has no idempotency key, and a connection that drops after the
server stored the message but before its OK arrives leaves us not knowing. So before
appending an item that may have been tried before (it failed earlier, or a claim row
shows an earlier attempt, e.g. a crash), we search the folder for our own
X-Saraban-Queue-Id + X-Saraban-Unit headers, then every other folder of the account
(a clerk may have moved the copy on, or renamed the folder, before the retry), and
append only if nothing is there.

Folder names: configured with "/" between levels; on connecting we ask the server for
its hierarchy separator and personal namespace prefix (NAMESPACE, RFC 2342, else
LIST "" "") and spell each name with them: "Saraban/latkrabang" is
"INBOX.Saraban.latkrabang" on a Courier-style server. What goes over the wire is the
CRLF-canonical copy (wire.on_the_wire)."""
from __future__ import annotations

import asyncio
import datetime as dt
import email.message
import email.parser
import email.policy
import re
from dataclasses import dataclass

import structlog

from gateway.delivery.copy_seal import HEADER as SEAL_HEADER
from gateway.delivery.wire import on_the_wire
from gateway.intake.imap_session import (FolderNameError, Hierarchy, ImapError, ImapGone, ImapRefused,  # noqa: F401
                                         ImapSession, ImapUnanswered, mailbox_name, parse_hierarchy,
                                         quoted_string)

log = structlog.get_logger("gateway.deliver.imap")


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    tls: bool
    ca_file: str | None
    verify: bool
    timeout: float
    username: str
    password: str
    folder: str
    keyword: str

    @property
    def account(self) -> tuple:
        return (self.host, self.port, self.username)


# What a filed copy says of its registration (folder_copy.py, registrar.py).
NUMBER_FIELDS = ("X-Saraban-Receive-No", "X-Saraban-Unit", "X-Saraban-Book", "X-Saraban-Queue-Id",
                 "X-Saraban-Copy-Seal")  # gateway/delivery/copy_seal.py


FETCH_CHUNK = 500  # UIDs in one FETCH: its command line stays far below a server's limit (Dovecot: 64 kB)


class ImapFolderUnreadable(ImapError):
    """A folder the server still lists but will not open (NO [SERVERBUG], [INUSE], a
    permission): it may hold a copy or a number, so it is never taken as empty."""


_LISTED = re.compile(rb'^(?:\* LIST )?\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?:"((?:[^"\\]|\\.)*)"|([^\s"]+))\s*$', re.I)


def _selectable(lines: list) -> list[str]:
    """The mailbox names of a LIST answer, as the server spells them, that can be selected."""
    names = []
    for line in lines:
        m = _LISTED.match(bytes(line)) if isinstance(line, (bytes, bytearray)) else None
        if m and b"\\noselect" not in m.group(1).lower() and b"\\nonexistent" not in m.group(1).lower():
            quoted = m.group(2)
            raw = re.sub(rb"\\(.)", rb"\1", quoted) if quoted is not None else m.group(3)
            names.append(raw.decode("ascii", "replace"))
    return names


class ImapFiler:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sessions: dict[tuple, ImapSession] = {}
        self._hierarchy: dict[tuple, Hierarchy] = {}

    def file(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool,
             since: dt.datetime | None = None) -> str:
        """Return "appended" or "found" (an earlier attempt had stored it). Raises ImapError.
        `since`: when the item was made; no earlier attempt can have stored it before."""
        return self._loop.run_until_complete(self._file(target, on_the_wire(data), queue_id, unit,
                                                        in_doubt, since))

    def server_folder(self, target: ImapTarget) -> str:
        """The target folder as this server spells it (connects if need be)."""
        async def spell() -> str:
            await self._session(target)
            return self._hierarchy[target.account].spell(target.folder)
        return self._loop.run_until_complete(spell())

    def ensure_folder(self, target: ImapTarget) -> tuple[str, bool]:
        """(server's name of the folder, True if it was created now). Start-up and
        check-config use it to find a route that cannot work before a letter waits on it."""
        return self._loop.run_until_complete(self._ensure(target))

    async def _ensure(self, target: ImapTarget) -> tuple[str, bool]:
        session, _ = await self._session(target)
        name = self._hierarchy[target.account].spell(target.folder)
        try:
            await session.select(name)
            return name, False
        except ImapRefused:
            pass
        await session.create(name)
        await session.select(name)
        return name, True

    def numbered_copies(self, target: ImapTarget, limit: int) -> list[tuple[str, email.message.Message]]:
        """The X-Saraban-* fields of the newest `limit` copies carrying a receive number in
        each folder of the target's account (gateway/delivery/numbers_seen.py): a clerk
        moves filed letters on to other folders, and a number there is given all the
        same. The server finds them (SEARCH HEADER), only those fields travel.
        (folder as the server spells it, fields) per copy."""
        return self._loop.run_until_complete(self._numbered(target, limit))

    async def _numbered(self, target: ImapTarget, limit: int) -> list:
        session, _ = await self._session(target)
        listed = await session.call("list", session.client.list('""', '"*"'))
        found = []
        for name in _selectable(listed.lines):
            if not await _select_listed(session, name):
                continue  # gone since the LIST
            uids = (await session.uid_search("HEADER", "X-Saraban-Receive-No", '""'))[-limit:]
            for start in range(0, len(uids), FETCH_CHUNK):
                fields = await session.fetch_fields(uids[start:start + FETCH_CHUNK], NUMBER_FIELDS)
                found += [(name, one) for one in fields.values()]
        return found

    def close(self) -> None:
        for session in list(self._sessions.values()):
            self._loop.run_until_complete(session.close())
        self._sessions.clear()
        leftovers = asyncio.all_tasks(self._loop)  # calls given up on (see imap_session)
        for task in leftovers:
            task.cancel()
        if leftovers:
            self._loop.run_until_complete(asyncio.wait(leftovers, timeout=1))
        self._loop.close()

    async def _session(self, target: ImapTarget) -> tuple[ImapSession, bool]:
        """The cached session (reused=True) or a new one."""
        session = self._sessions.get(target.account)
        if session is not None and session.connected:
            return session, True
        session = ImapSession(target.host, target.port, target.username, target.password, tls=target.tls,
                              ca_file=target.ca_file, verify=target.verify, timeout=target.timeout)
        await session.connect()
        self._hierarchy[target.account] = await session.hierarchy()
        self._sessions[target.account] = session
        log.info("imap_connected", host=target.host, port=target.port, username=target.username)
        return session, False

    async def _file(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool,
                    since: dt.datetime | None) -> str:
        try:
            return await self._file_once(target, data, queue_id, unit, in_doubt, since)
        except ImapUnanswered as exc:
            if not (getattr(exc, "lost", False) and getattr(exc, "retry_after", 0)):
                raise
            # The connection went after the letter did, most often after the server's OK
            # (a reset that took the answer with it): one look now, on a new connection,
            # finds it committed, where waiting the grace out cost a minute and a failed
            # attempt in `status`. Not there (yet): no APPEND, the grace stands.
            if await self._found_now(target, data, queue_id, unit, since):
                return "found"
            raise
        except ImapGone as exc:
            if not getattr(exc, "reused", False) or getattr(exc, "retry_after", 0):
                raise
            # A cached connection the server had closed (idle timeout, restart): try once
            # more on a new one; the APPEND may have reached the server, so look first.
            log.info("imap_reconnect", host=target.host, username=target.username, error=str(exc))
            return await self._file_once(target, data, queue_id, unit, True, since)

    async def _found_now(self, target: ImapTarget, data: bytes, queue_id: str, unit: str,
                         since: dt.datetime | None) -> bool:
        """Whether the copy is filed, looked for once; False when the server cannot say."""
        try:
            session, _ = await self._session(target)
            folder = self._hierarchy[target.account].spell(target.folder)
            found = await self._already_filed(session, folder, queue_id, unit, since, *_identity(data))
        except ImapGone:
            self._sessions.pop(target.account, None)
            return False
        except ImapError:
            return False
        if found is not None:
            log.info("imap_already_filed", folder=folder, found_in=found, queue_id=queue_id, unit=unit)
        return found is not None

    async def _file_once(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool,
                         since: dt.datetime | None) -> str:
        reused = False
        try:
            session, reused = await self._session(target)
            folder = self._hierarchy[target.account].spell(target.folder)
            found = (await self._already_filed(session, folder, queue_id, unit, since, *_identity(data))
                     if in_doubt else None)
            if found is not None:
                log.info("imap_already_filed", folder=folder, found_in=found, queue_id=queue_id, unit=unit)
                return "found"
            try:
                await _append(session, target, data, folder)
            except ImapRefused as exc:
                if not exc.trycreate:
                    raise
                await session.create(folder)
                log.info("imap_folder_created", folder=folder, username=target.username)
                await _append(session, target, data, folder)
            return "appended"
        except ImapGone as exc:
            self._sessions.pop(target.account, None)
            exc.reused = reused
            raise

    @staticmethod
    async def _already_filed(session: ImapSession, folder: str, queue_id: str, unit: str,
                             since: dt.datetime | None, message_id: str, seal: str = "") -> str | None:
        """The folder (as the server spells it) holding the copy an earlier attempt stored,
        or None. The target folder first; then every other folder of the account, since
        a clerk files the letters on (into "ดำเนินการแล้ว", a folder per year) or renames
        the folder between the attempt and its retry, which may come hours later after
        a crash. Until session 20 only the target folder was searched, and a copy moved
        on was appended again: the clerk saw the letter, same receive number, as new
        twice. Moving and copying keep a message's INTERNALDATE (RFC 3501 6.4.7), so
        the other folders are searched only among messages that arrived since the item
        was made, which the server answers from its index. There the Message-ID must
        match too: the secret registrar's sealed copy, by default in the same account,
        carries the same queue id and unit (folder_copy.py, registrar.py) and is not the
        folder copy, nor the folder copy the registrar's. With `seal` (the copy's
        X-Saraban-Copy-Seal, since session 36) a message counts only if it carries the
        same seal: anyone who can mail the unit's mailbox can put a message with our
        headers there, and the sender of a letter knows its queue id (the 250 says it),
        so until session 37 such a message, found by a retry, stood for the copy, and
        the copy was never filed."""
        try:
            await session.select(folder)
        except ImapRefused as exc:
            # No folder (yet, or renamed): look in the others. One still there that the
            # server will not open may hold the copy: the attempt waits (session 52).
            await _unless_listed(session, mailbox_name(folder), exc)
        else:
            if await _holds(session, queue_id, unit, seal=seal):
                return mailbox_name(folder)
        criteria = ()
        if since is not None:
            day = since - dt.timedelta(days=1)  # SINCE is a date in the server's time zone
            criteria = ("SINCE", f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}")
        listed = await session.call("list", session.client.list('""', '"*"'))
        for name in _selectable(listed.lines):
            if name == mailbox_name(folder) or not await _select_listed(session, name):
                continue
            if await _holds(session, queue_id, unit, *criteria, message_id=message_id, seal=seal):
                return name
        return None


# How long after an APPEND sent whole but unanswered the copy is looked for again: a
# server may commit it that much later (a stalled fsync on NFS or Ceph, a slow plugin).
# Looked for sooner, it was not there yet, appended again, and then the first landed:
# two copies in the clerk's folder (session 35's red team, a commit 8 s past a 3 s timeout).
UNANSWERED_GRACE = 4.0  # times the account's timeout, and at least a minute


async def _append(session: ImapSession, target: ImapTarget, data: bytes, folder: str) -> None:
    try:
        await session.append(data, folder, f"({target.keyword})")
    except ImapUnanswered as exc:
        # No second try on a new connection now, and the outbox's next attempt no sooner
        # than this (gateway/delivery/runner.py `_record_failure`).
        exc.retry_after = max(60.0, UNANSWERED_GRACE * target.timeout)
        raise


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


async def _unless_listed(session: ImapSession, name: str, refused: ImapRefused) -> None:
    """After the server refused to open `name` (as LIST spells it): nothing if it is
    gone; ImapFolderUnreadable if the server still lists it. Dovecot answers EXAMINE of
    a folder it cannot read (its directory's permissions, a damaged index) with NO
    [SERVERBUG]; until session 52 such a folder was taken as gone, so a copy the clerk had
    moved there was filed again by an attempt done again, and after a restore the numbers
    given in it were not read back, nor was the folder named as unread."""
    listed = await session.call(f"list {name}", session.client.list('""', quoted_string(name)))
    if name in _selectable(listed.lines):
        raise ImapFolderUnreadable(f"folder {name!r} is there but the server will not open it: {refused.text}")


async def _select_listed(session: ImapSession, name: str) -> bool:
    """Open a mailbox read-only (EXAMINE) by the name LIST gave (already modified
    UTF-7: not encoded again); False if it is gone since (ImapFolderUnreadable if it is
    still there). Read-only: these are the
    clerks' folders, their INBOX among them, and SELECT would take the \\Recent flag
    (new mail, RFC 3501 2.3.2) from every message the gateway's session saw first."""
    quoted = quoted_string(name)
    try:
        await session.call(f"examine {name}", session.client.examine(quoted))
    except ImapRefused as exc:
        await _unless_listed(session, name, exc)
        return False
    session.client.protocol.state = "SELECTED"  # aioimaplib notes only SELECT's; UID commands need it
    session.selected = name
    return True


async def _holds(session: ImapSession, queue_id: str, unit: str, *criteria: str,
                 message_id: str | None = None, seal: str = "") -> bool:
    """The selected mailbox holds our copy of (queue_id, unit) (with this Message-ID,
    when one is given, "" for none; with this copy seal, when one is given)."""
    uids = await session.uid_search(*criteria, "HEADER", "X-Saraban-Queue-Id", queue_id,
                                    "HEADER", "X-Saraban-Unit", unit)
    # SEARCH HEADER matches a substring (RFC 3501 6.4.4): unit saraban.dindaeng finds
    # saraban.dindaeng.admin's copy of the same letter, filed in the same folder, and
    # the district's copy was taken as filed and never made. The fields are compared
    # whole.
    names = (("X-Saraban-Queue-Id", "X-Saraban-Unit") + (("Message-ID",) if message_id is not None else ())
             + ((SEAL_HEADER,) if seal else ()))
    # A few hundred UIDs a FETCH: anyone who can mail the account can put thousands of
    # messages with the letter's queue id (the 250 names it) and unit there, and one
    # FETCH of 15,000 UIDs is a line Dovecot refuses ("BAD ... Too long argument"): until
    # session 52 every attempt done again failed on it, and the copy was never filed.
    fields: dict = {}
    for start in range(0, len(uids), FETCH_CHUNK):
        fields |= await session.fetch_fields(uids[start:start + FETCH_CHUNK], names)

    def whole(value) -> str:  # noqa: ANN001 - a header value; folding whitespace gone
        return "".join(str(value or "").split()).lower()

    return any(whole(found.get("X-Saraban-Queue-Id")) == whole(queue_id)
               and whole(found.get("X-Saraban-Unit")) == whole(unit)
               and (message_id is None or whole(found.get("Message-ID")) == whole(message_id))
               and (not seal or whole(found.get(SEAL_HEADER)) == whole(seal))
               for found in fields.values())


def _identity(data: bytes) -> tuple[str, str]:
    """The copy's own Message-ID and copy seal ("" for one it has not), from its header block."""
    head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    fields = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    return str(fields.get("Message-ID") or ""), str(fields.get(SEAL_HEADER) or "")
