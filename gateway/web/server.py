"""The desk served by uvicorn inside an asyncio loop: the daemon's (with `[web]
enabled = true`) or its own (`saraban-gateway web`). Uvicorn's access log is off: the
desk logs its own events, and a URL's query may carry a search term."""
from __future__ import annotations

import asyncio
import contextlib
import socket

import structlog
import uvicorn

from gateway.config.settings import Settings
from gateway.web.slow_clients import bounded_protocol

log = structlog.get_logger("gateway.web")


class WebServer:
    def __init__(self, settings: Settings, own_signals: bool = False):
        self.settings = settings
        self.own_signals = own_signals
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None
        self.port: int | None = None
        self.desk = None

    async def start(self, host: str, port: int) -> int:
        """Bind (OSError if the port is taken), build the app, serve in the background."""
        from gateway.web.app import create_app

        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, not in uvicorn's start-up on the loop: `web_listening` (and the
        # daemon's smtp_listening after it) was said before that ran, and a request then
        # was refused on a loaded machine. It waits in the backlog until uvicorn accepts.
        sock.listen(2048)
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        app = await loop.run_in_executor(None, create_app, self.settings)  # schema, directory
        self.desk = app.desk
        web = self.settings.web
        protocol = bounded_protocol(web.request_head_seconds, web.max_connections,
                                    web.max_connections_per_address, web.trusted_proxies)
        config = uvicorn.Config(app, http=protocol, log_config=None, access_log=False, lifespan="off",
                                # Only a configured proxy's X-Forwarded-For names the client.
                                proxy_headers=bool(self.settings.web.trusted_proxies),
                                forwarded_allow_ips=list(self.settings.web.trusted_proxies) or [],
                                server_header=False, timeout_keep_alive=5, h11_max_incomplete_event_size=16384)
        self.server = uvicorn.Server(config)
        if not self.own_signals:  # the daemon owns SIGTERM/SIGINT/SIGHUP
            self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        log.info("web_listening", host=host, port=self.port)
        return self.port

    async def wait(self) -> None:
        if self.task is not None:
            await self.task

    async def close(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            try:
                await asyncio.wait_for(self.task, 10)
            except asyncio.TimeoutError:
                self.task.cancel()
        if self.desk is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.desk.close)
