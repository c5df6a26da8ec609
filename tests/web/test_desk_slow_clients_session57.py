"""The desk's connections are bounded (session 57): it runs in the daemon's own process,
beside the SMTP listener, and uvicorn closed a connection only after 5 s of silence,
started again by every byte. A client sending a request's head a byte at a time held its
connection for ever, and as many of them as it liked: each a file descriptor of the
process that takes the letters. Now a head must arrive within `request_head_seconds`,
and at most `max_connections` are open, `max_connections_per_address` from one address."""
from __future__ import annotations

import http.client
import socket
import time

from tests.daemon import Daemon, write_config
from tests.letters import letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _desk(tmp_path, **web) -> Daemon:
    lines = "".join(f"{key} = {value}\n" for key, value in web.items())
    return Daemon(write_config(tmp_path, extra=f"[web]\nenabled = true\nport = 0\n{lines}")).start()


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    return sock


def _closed_by_the_desk(sock: socket.socket, within: float) -> bool:
    """True once the desk has closed the connection (EOF or reset) within `within`
    seconds; False if it is still open then."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _sign_in_page(port: int, source: str = "127.0.0.1") -> int:
    with _connect(port, source) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        sock.settimeout(30)
        head = sock.recv(64)
    return int(head.split()[1])


def test_a_head_sent_a_byte_at_a_time_is_cut_off_and_the_desk_keeps_answering(tmp_path):
    d = _desk(tmp_path, request_head_seconds=1.5)
    try:
        port = d.web_port
        slow = _connect(port)
        slow.sendall(b"GET /login HTTP/1.1\r\n")
        cut = False
        for n in range(60):  # a header byte every 0.25 s: 15 s of trickle at most
            try:
                slow.sendall(b"X-Slow-%d: a\r\n" % n if n % 8 == 7 else b"X")
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            if _closed_by_the_desk(slow, 0.25):
                cut = True
                break
        slow.close()
        assert cut, "a head trickled over 15 s was still being read"
        assert d.wait_for_event("web_request_head_too_slow", timeout=30)
        assert _sign_in_page(port) == 200  # an honest request meanwhile and after
        # An honest keep-alive client that sends its requests whole is not cut.
        browser = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(3):
                browser.request("GET", "/login")
                response = browser.getresponse()
                response.read()
                assert response.status == 200
            assert browser.sock is not None  # one connection for the three
        finally:
            browser.close()
    finally:
        d.stop()


def test_connections_from_one_address_are_capped_and_the_others_still_reach_the_desk(tmp_path):
    d = _desk(tmp_path, max_connections=6, max_connections_per_address=3, request_head_seconds=60)
    try:
        port = d.web_port
        held = [_connect(port) for _ in range(3)]  # open, silent: within the head's minute
        extra = _connect(port)
        assert _closed_by_the_desk(extra, 10), "a fourth connection from one address was kept"
        extra.close()
        assert not any(_closed_by_the_desk(sock, 0.2) for sock in held)
        # Another address is served, up to the desk's whole cap.
        assert _sign_in_page(port, source="127.0.0.2") == 200
        others = [_connect(port, "127.0.0.3") for _ in range(3)]  # 6 open now
        over = _connect(port, "127.0.0.4")
        assert _closed_by_the_desk(over, 10), "a connection past max_connections was kept"
        over.close()
        assert d.wait_for_event("web_connection_refused", timeout=30)
        # The letters still come in while the desk is full.
        d.send(letter(subject="ขอเชิญประชุม"), LATKRABANG)
        d.wait_idle()
        assert "1/" in d.cli("register", "list").stdout
        for sock in held + others:
            sock.close()
        # Closed, they are counted no more.
        deadline = time.monotonic() + 30
        while _status_or_none(port) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _sign_in_page(port) == 200
    finally:
        d.stop()


def _status_or_none(port: int) -> int | None:
    try:
        return _sign_in_page(port)
    except (OSError, ValueError, IndexError):
        return None


def test_a_trusted_proxys_connections_are_not_capped_by_address(tmp_path):
    """Behind nginx every clerk's connection comes from the proxy: its address is not
    capped as one client's (the desk's total cap still holds)."""
    d = _desk(tmp_path, max_connections=8, max_connections_per_address=2, request_head_seconds=60,
              trusted_proxies='["127.0.0.5"]')
    try:
        port = d.web_port
        through_proxy = [_connect(port, "127.0.0.5") for _ in range(4)]
        assert not any(_closed_by_the_desk(sock, 0.2) for sock in through_proxy)
        assert _sign_in_page(port, source="127.0.0.5") == 200
        direct = [_connect(port) for _ in range(2)]
        third = _connect(port)
        assert _closed_by_the_desk(third, 10), "a third direct connection from one address was kept"
        for sock in through_proxy + direct + [third]:
            sock.close()
    finally:
        d.stop()
