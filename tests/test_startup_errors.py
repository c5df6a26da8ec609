"""A gateway that cannot start says why in one log event and exits 1 (systemd restarts it)."""
from __future__ import annotations

import socket
import subprocess
import sys

from tests.daemon import write_config
from tests.paths import REPO


def run_daemon(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_unreachable_database(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nobody listens once this closes
    url = f"postgresql+psycopg://saraban:secret-pw@127.0.0.1:{closed_port}/saraban"
    result = run_daemon(write_config(tmp_path, database_url=url))
    assert result.returncode == 1
    assert '"event": "database_unavailable"' in result.stdout
    assert "Connection refused" in result.stdout or "connection failed" in result.stdout
    assert "secret-pw" not in result.stdout + result.stderr  # the password is masked
    assert "Traceback" not in result.stdout + result.stderr


def test_smtp_port_taken(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        result = run_daemon(write_config(tmp_path, port=sock.getsockname()[1]))
    assert result.returncode == 1
    assert '"event": "smtp_bind_failed"' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
