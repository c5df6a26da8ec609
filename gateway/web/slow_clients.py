"""The desk's HTTP connections, bounded: uvicorn's h11 protocol with a deadline for a
request's head and caps on open connections.

The desk runs in the daemon's own process, beside the SMTP listener. Uvicorn closes a
connection only after `timeout_keep_alive` of silence, and each byte received starts that
again: a client that sent a request's head a byte every few seconds held its connection
for ever (Slowloris, CVE-2007-6750), and nothing bounded how many it held. Each one is a
file descriptor and some memory of the process that also takes the letters; enough of
them (the unit allows 65,536 descriptors) and the SMTP listener cannot accept or spool a
letter. Apache's `RequestReadTimeout header=20-40` and nginx's `client_header_timeout`
(60 s) and `limit_conn` are the models."""
from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterable

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger("gateway.web")

SAY_EVERY = 10.0  # seconds between two log events of one kind while clients are refused


class _Said:
    """At most one event a SAY_EVERY of each kind, with how many happened since: under an
    attack of thousands of connections a minute the log stays readable."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def event(self, name: str, **fields) -> None:
        self.count[name] = self.count.get(name, 0) + 1
        now = time.monotonic()
        if now - self.last.get(name, -SAY_EVERY) >= SAY_EVERY:
            log.warning(name, times=self.count.pop(name), **fields)
            self.last[name] = now


def bounded_protocol(header_seconds: float, max_connections: int, per_address: int,
                     trusted_proxies: Iterable[str] = ()) -> type[H11Protocol]:
    """An H11Protocol class for uvicorn.Config(http=...): a request's head (its line and
    headers) must arrive within `header_seconds` of the connection's opening or of the
    previous response, or the connection is closed; at most `max_connections` are open
    at once, and `per_address` from one client address (not for `trusted`, the reverse
    proxies, whose connections carry every clerk's). A connection past a cap is closed
    as soon as it is accepted."""
    said = _Said()
    proxies = tuple(ipaddress.ip_network(value.strip(), strict=False) for value in trusted_proxies)

    def counted(address: str | None) -> bool:
        if address is None or not proxies:
            return address is not None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return not any(ip in network for network in proxies)

    class DeskProtocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if len(self.connections) > max_connections:
                said.event("web_connection_refused", reason="max_connections", limit=max_connections,
                           client=address)
                self.transport.close()
                return
            if per_address < max_connections and counted(address):
                mine = sum(1 for other in self.connections
                           if other.client and other.client[0] == address)
                if mine > per_address:
                    said.event("web_connection_refused", reason="max_connections_per_address",
                               limit=per_address, client=address)
                    self.transport.close()
                    return
            self._arm_head_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is in: the request is being served
                self._disarm_head_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm_head_deadline()  # the next request's head, however it trickles

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

        def _arm_head_deadline(self) -> None:
            self._disarm_head_deadline()
            self._head_deadline = self.loop.call_later(header_seconds, self._head_too_slow)

        def _disarm_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_too_slow(self) -> None:
            self._head_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a response is still being written: not a head that is late
            said.event("web_request_head_too_slow", seconds=header_seconds,
                       client=self.client[0] if self.client else None)
            self.transport.close()

    return DeskProtocol
