"""A raw SMTP client for hostile sessions: exact bytes out, replies as they come."""
from __future__ import annotations

import socket
import time


class Raw:
    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 30.0):
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.pending = b""

    def reply(self) -> bytes:
        """One complete (possibly multi-line) reply; b"" if the server closed first."""
        while True:
            lines = self.pending.split(b"\r\n")
            for index, line in enumerate(lines[:-1]):
                if len(line) < 4 or line[3:4] != b"-":
                    self.pending = b"\r\n".join(lines[index + 1:])
                    return b"\r\n".join(lines[:index + 1])
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.pending = self.pending, b""
                return rest
            self.pending += chunk

    def cmd(self, line: bytes | str) -> bytes:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed_by_server(self, within: float) -> bool:
        deadline = time.monotonic() + within
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                if self.sock.recv(65536) == b"":
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Raw":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def greet(port: int, source: str = "127.0.0.1") -> tuple[Raw, bytes]:
    client = Raw(port, source)
    return client, client.reply()


def ready(port: int, sender: str = "saraban.dds@bangkok.go.th",
          rcpt: str = "saraban.latkrabang@bangkok.go.th") -> Raw:
    """A session at the point where DATA may be sent."""
    client, banner = greet(port)
    assert banner.startswith(b"220"), banner
    assert client.cmd("EHLO hostile.example").startswith(b"250")
    assert client.cmd(f"MAIL FROM:<{sender}>").startswith(b"250")
    assert client.cmd(f"RCPT TO:<{rcpt}>").startswith(b"250")
    return client
