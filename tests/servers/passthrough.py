"""A TCP pass-through on loopback that plays the network between a client and a server.

Each connection to `port` (the pass-through's own) is carried to the server's port,
chunk by chunk, by `carry` (a subclass's: slow it, hold it, drop the rest). The
pass-through's receive window is the kernel's minimum, so what it does not read the
client's kernel holds, unacknowledged, as over a slow or stalled line."""
from __future__ import annotations

import socket
import threading


class PassThrough:
    def __init__(self, server_port: int):
        self.server_port = server_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def carry(self, chunk: bytes, sink: socket.socket, up: bool, state: dict) -> bool:
        """Pass `chunk` on (`up`: from the client); False ends the connection."""
        sink.sendall(chunk)
        return True

    def ended(self, up: bool, state: dict) -> None:
        """One direction of a connection is over (`state`: what `carry` kept for it)."""

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.create_connection(("127.0.0.1", self.server_port))
            threading.Thread(target=self._pipe, args=(near, far, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(far, near, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        state: dict = {}
        try:
            while chunk := source.recv(4096):
                if not self.carry(chunk, sink, up, state):
                    break
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.ended(up, state)
