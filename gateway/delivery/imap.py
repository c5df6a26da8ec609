"""File a folder copy into an IMAP folder by APPEND, exactly once.

The delivery runner is synchronous; this keeps one event loop and one logged-in
session per (server, account) for the life of the process, so a burst of letters costs
one APPEND each, not a login each.

Exactly once: APPEND has no idempotency key, and a connection that drops after the
server stored the message but before its OK arrives leaves us not knowing. So before
appending an item that may have been tried before (it failed earlier, or a claim row
shows an earlier attempt, e.g. a crash), we search the folder for our own
X-Saraban-Queue-Id + X-Saraban-Unit headers and append only if nothing is there."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from gateway.intake.imap_session import ImapGone, ImapRefused, ImapSession

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


class ImapFiler:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sessions: dict[tuple, ImapSession] = {}

    def file(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool) -> str:
        """Return "appended" or "found" (an earlier attempt had stored it). Raises ImapError."""
        return self._loop.run_until_complete(self._file(target, data, queue_id, unit, in_doubt))

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
        self._sessions[target.account] = session
        log.info("imap_connected", host=target.host, port=target.port, username=target.username)
        return session, False

    async def _file(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool) -> str:
        try:
            return await self._file_once(target, data, queue_id, unit, in_doubt)
        except ImapGone as exc:
            if not getattr(exc, "reused", False):
                raise
            # A cached connection the server had closed (idle timeout, restart): try once
            # more on a new one; the APPEND may have reached the server, so look first.
            log.info("imap_reconnect", host=target.host, username=target.username, error=str(exc))
            return await self._file_once(target, data, queue_id, unit, in_doubt=True)

    async def _file_once(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool) -> str:
        reused = False
        try:
            session, reused = await self._session(target)
            if in_doubt and await self._already_filed(session, target.folder, queue_id, unit):
                log.info("imap_already_filed", folder=target.folder, queue_id=queue_id, unit=unit)
                return "found"
            try:
                await session.append(data, target.folder, f"({target.keyword})")
            except ImapRefused as exc:
                if not exc.trycreate:
                    raise
                await session.create(target.folder)
                log.info("imap_folder_created", folder=target.folder, username=target.username)
                await session.append(data, target.folder, f"({target.keyword})")
            return "appended"
        except ImapGone as exc:
            self._sessions.pop(target.account, None)
            exc.reused = reused
            raise

    @staticmethod
    async def _already_filed(session: ImapSession, folder: str, queue_id: str, unit: str) -> bool:
        try:
            await session.select(folder)
        except ImapRefused:
            return False  # no folder yet: nothing filed there
        uids = await session.uid_search("HEADER", "X-Saraban-Queue-Id", queue_id, "HEADER", "X-Saraban-Unit", unit)
        return bool(uids)
