"""The desk says `web_listening` once a connection to it is taken (session 47).

The socket was bound and the event logged, but `listen()` came later, in uvicorn's own
start-up on the event loop: on a loaded machine the daemon said smtp_listening before
uvicorn had run, and the first request to the desk was refused (ECONNREFUSED), as one
test of a full run on 2 cores found. Now the socket listens before the event is said;
a connection made then waits in its backlog until uvicorn accepts it."""
from __future__ import annotations

import asyncio
import socket

from gateway.config.settings import load_settings
from gateway.web.server import WebServer
from tests.daemon import write_config


def test_a_connection_made_as_soon_as_the_desk_says_it_listens_is_answered(tmp_path):
    config = write_config(tmp_path, extra="[web]\nenabled = true\nport = 0\n")
    settings = load_settings(config)
    db = settings.open_database()
    db.create_schema()
    db.dispose()

    async def main() -> bytes:
        web = WebServer(settings)
        port = await web.start("127.0.0.1", 0)
        try:
            # Not one await since start() returned: uvicorn's task has not run yet.
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            client.setblocking(False)
            answer = b""
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(30):
                while chunk := await loop.sock_recv(client, 65536):
                    answer += chunk
            client.close()
            return answer
        finally:
            await web.close()

    answer = asyncio.run(main())
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
