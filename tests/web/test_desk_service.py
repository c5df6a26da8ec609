"""How the desk is served: by the daemon with `[web] enabled = true` (a taken port is a
clear start-up error), or alone with `saraban-gateway web`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.daemon import Daemon, free_port, write_config
from tests.paths import REPO


def test_a_taken_web_port_stops_the_daemon_with_a_reason(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(write_config(tmp_path, extra=f"[web]\nenabled = true\nport = {port}\n"))
        try:
            daemon.start(timeout=60)
            raise AssertionError("the daemon started on a taken web port")
        except RuntimeError as exc:
            assert "exited with 1" in str(exc)
        [event] = [e for e in daemon.events() if e.get("event") == "web_bind_failed"]
        assert event["port"] == port and event["error"]


def test_the_desk_alone_answers_and_stops_on_sigterm(tmp_path):
    port = free_port()
    config = write_config(tmp_path)
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "web", "--port", str(port)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
                    page = response.read().decode()
                    headers = response.headers
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.2)
        assert "เข้าสู่ระบบ" in page and "script-src 'self'" in headers["content-security-policy"]
        assert "Secure" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
