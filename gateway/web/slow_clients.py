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
from collections.abc import Iterable

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.intake.client_block import ClientKeys
from gateway.intake.log_rate import LogRate

log = structlog.get_logger("gateway.web")


def bounded_protocol(header_seconds: float, max_connections: int, per_address: int,
                     trusted_proxies: Iterable[str] = ()) -> type[H11Protocol]:
    """An H11Protocol class for uvicorn.Config(http=...): a request's head (its line and
    headers) must arrive within `header_seconds` of the connection's opening or of the
    previous response, or the connection is closed; at most `max_connections` are open
    at once, and `per_address` from one client, counted as the SMTP listener counts one
    (gateway/intake/client_block.py: an IPv6 /64 is one client, an IPv4-mapped address
    its IPv4 one), not for `trusted_proxies`, whose connections carry every clerk's. A
    connection past a cap is closed as soon as it is accepted. Each refusal's log event
    is throttled (gateway/intake/log_rate.py): a flood of connections writes a line now
    and then, with how many were not logged."""
    keys = ClientKeys(exceptions=trusted_proxies)
    open_by_client: dict[str, int] = {}
    refused_log = {reason: LogRate(0.1, 1) for reason in ("max_connections", "max_connections_per_address")}
    slow_log = LogRate(0.1, 1)

    def refused(reason: str, limit: int, address: str | None) -> None:
        if (extra := refused_log[reason].allow()) is not None:
            log.warning("web_connection_refused", reason=reason, limit=limit, client=address, **extra)

    class DeskProtocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None
        _client: str | None = None  # its key in open_by_client, once admitted and counted

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if len(self.connections) > max_connections:
                refused("max_connections", max_connections, address)
                self.transport.close()
                return
            client = keys(address)
            if client is not None:
                if open_by_client.get(client, 0) >= per_address:
                    refused("max_connections_per_address", per_address, address)
                    self.transport.close()
                    return
                open_by_client[client] = open_by_client.get(client, 0) + 1
                self._client = client
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
            if self._client is not None:
                left = open_by_client.pop(self._client) - 1
                if left:
                    open_by_client[self._client] = left
                self._client = None
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
            if (extra := slow_log.allow()) is not None:
                log.warning("web_request_head_too_slow", seconds=header_seconds,
                            client=self.client[0] if self.client else None, **extra)
            self.transport.close()

    return DeskProtocol
