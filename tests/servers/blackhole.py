"""Servers that never finish answering: the dependency that hangs rather than fails.

`BlackHole(mode)` listens on a loopback port, in a thread of the test process, and
treats every connection in one of these ways:

* "silent": accepts the TCP connection and never sends a byte (a firewall that lets
  the SYN through, a PostgreSQL or LDAP server stuck before its first answer);
* "greet": sends `greeting` (an SMTP 220, an IMAP "* OK") and then reads whatever comes
  without ever answering, the server stalled in the middle of a command;
* "trickle": sends `greeting`, then, once the client has spoken, one byte of an answer
  that never ends every `every` seconds (`trickle` over and over: "250-" is an SMTP
  reply line without end; b"\x30\x84\x7f..." an LDAP message announcing 2 GB), so that
  a read timeout restarted by each byte never fires.

`tests/servers/dns.py` has the DNS equivalent (SilentNameserver); a refused connection
needs no server at all (`tests.daemon.free_port()`, nothing listening).
"""
from __future__ import annotations

import asyncio
import threading


class BlackHole:
    def __init__(self, mode: str = "silent", greeting: bytes = b"", every: float = 0.5,
                 trickle: bytes = b"250-"):
        assert mode in ("silent", "greet", "trickle"), mode
        self.mode, self.greeting, self.every, self.trickle = mode, greeting, every, trickle
        self.connections = 0  # accepted so far: a retry shows up here
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"blackhole-{mode}", daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "BlackHole":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> "BlackHole":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(self._listen())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for writer in self._writers:
                writer.transport.abort()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if self.mode != "silent" and self.greeting:
                writer.write(self.greeting)
                await writer.drain()
            if self.mode == "trickle":
                await reader.read(1)  # the client's first command (EHLO, an LDAP bind)
                while True:
                    for byte in self.trickle:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(self.every)
            while await reader.read(65536):  # take whatever comes, answer nothing
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
