"""A UID SEARCH's answer is its `* SEARCH` line. What else a server says while it runs
(`* 9 EXISTS` for mail that just came, `* 2 EXPUNGE`, `* 7 FETCH (FLAGS ...)` for a flag
another client set) names no UIDs: were those numbers taken for UIDs, the read-back of
receive numbers would give one of its 500 places to a message sequence number, and the
central mailbox's intake would fetch a UID its search had not found. aioimaplib files
such lines by their name, not under the pending SEARCH (a guard found holding in session
53, when a red team suspected it; `ImapSession.uid_search` reads every line it is given).
Dovecot says these whenever they happen, which a test cannot time: a scripted server
says them here."""
from __future__ import annotations

import asyncio

from gateway.intake.imap_session import ImapSession


async def _scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n")
    while line := await reader.readline():
        tag, _, command = line.decode().strip().partition(" ")
        upper = command.upper()
        if upper.startswith("UID SEARCH"):
            writer.write(b"* 9 EXISTS\r\n* SEARCH 3 4 40\r\n* 2 EXPUNGE\r\n* 7 FETCH (FLAGS (\\Seen))\r\n"
                         b"* 8 RECENT\r\n" + f"{tag} OK searched\r\n".encode())
        elif upper.startswith("CAPABILITY"):
            writer.write(b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n" + f"{tag} OK done\r\n".encode())
        elif upper.startswith("SELECT"):
            writer.write(b"* 9 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + f"{tag} OK [READ-WRITE] selected\r\n".encode())
        elif upper.startswith("LOGOUT"):
            writer.write(b"* BYE\r\n" + f"{tag} OK bye\r\n".encode())
            await writer.drain()
            break
        else:
            writer.write(f"{tag} OK done\r\n".encode())
        await writer.drain()
    writer.close()


def test_only_the_search_line_names_uids():
    async def run() -> list[int]:
        server = await asyncio.start_server(_scripted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        session = ImapSession("127.0.0.1", port, "central", "pw", tls=False, timeout=10)
        try:
            await session.connect()
            await session.select("INBOX")
            return await session.uid_search("UID", "1:*")
        finally:
            session.abort()
            server.close()
            await server.wait_closed()

    assert asyncio.run(run()) == [3, 4, 40]
