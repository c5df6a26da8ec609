"""The operator's HTTP endpoint on localhost: GET /healthz and GET /metrics.

A few lines of HTTP/1.0-style request parsing on asyncio are enough for a load balancer
probe and a Prometheus scrape; no web framework to patch. Each request is answered and
the connection closed. The handlers do blocking work (fsync, database), so they run in
the default executor and the SMTP sessions sharing this event loop never wait on them.
"""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

MAX_REQUEST = 8192
READ_TIMEOUT = 10.0

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Awaitable[Response]]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 503: "Service Unavailable"}


def json_response(status: int, data: dict) -> Response:
    return status, "application/json; charset=utf-8", (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


class HttpServer:
    def __init__(self, routes: dict[str, Route]):
        self.routes = routes
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                return
            if len(head) > MAX_REQUEST:
                await self._send(writer, "GET", (400, "text/plain", b"request too large\n"))
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                await self._send(writer, "GET", (400, "text/plain", b"bad request line\n"))
                return
            method, target = parts[0], parts[1].split("?", 1)[0]
            route = self.routes.get(target)
            if route is None:
                response = (404, "text/plain", f"no such path: {target}; try /healthz or /metrics\n".encode())
            elif method not in ("GET", "HEAD"):
                response = (405, "text/plain", b"only GET and HEAD\n")
            else:
                try:
                    response = await route()
                except Exception:  # noqa: BLE001 - answer 500, keep serving
                    log.exception("http_handler_failed", path=target)
                    # The error's text (paths, a database URL) is for the log, not for
                    # whoever polls the endpoint.
                    response = (500, "text/plain", b"internal error; the gateway's log has it (http_handler_failed)\n")
            await self._send(writer, method, response)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, method: str, response: Response) -> None:
        status, content_type, body = response
        headers = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        writer.write(headers + (b"" if method == "HEAD" else body))
        await writer.drain()
