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

from gateway.imap_session import ImapGone, ImapRefused, ImapSession

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
        self._loop.close()

    async def _session(self, target: ImapTarget) -> ImapSession:
        session = self._sessions.get(target.account)
        if session is not None and session.connected:
            return session
        session = ImapSession(target.host, target.port, target.username, target.password, tls=target.tls,
                              ca_file=target.ca_file, verify=target.verify, timeout=target.timeout)
        await session.connect()
        self._sessions[target.account] = session
        log.info("imap_connected", host=target.host, port=target.port, username=target.username)
        return session

    async def _file(self, target: ImapTarget, data: bytes, queue_id: str, unit: str, in_doubt: bool) -> str:
        try:
            session = await self._session(target)
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
        except ImapGone:
            self._sessions.pop(target.account, None)
            raise

    @staticmethod
    async def _already_filed(session: ImapSession, folder: str, queue_id: str, unit: str) -> bool:
        try:
            await session.select(folder)
        except ImapRefused:
            return False  # no folder yet: nothing filed there
        uids = await session.uid_search("HEADER", "X-Saraban-Queue-Id", queue_id, "HEADER", "X-Saraban-Unit", unit)
        return bool(uids)
