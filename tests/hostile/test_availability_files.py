"""Few open files (RLIMIT_NOFILE 160): the session cap is lowered to keep a reserve for
the spool and the database, so clients holding every slot cannot starve the daemon."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

from tests.daemon import Daemon, write_config
from tests.hostile.smtp_raw import greet, ready
from tests.letters import letter
from tests.paths import REPO

LIMIT, RESERVE = 160, 64


class LimitedDaemon(Daemon):
    def start(self, timeout: float = 60.0) -> "LimitedDaemon":
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(self.config), "run"], cwd=REPO,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=limit)
        self.wait_for(lambda: any(e.get("event") == "smtp_listening" for e in self.events()), timeout,
                      what="listening")
        self.port = next(e["port"] for e in self.events() if e.get("event") == "smtp_listening")
        return self


def test_clients_cannot_take_the_descriptors_the_daemon_needs(tmp_path):
    daemon = LimitedDaemon(write_config(tmp_path, smtp_extra=f"fd_reserve = {RESERVE}\n"
                                                        "max_connections_per_ip = 1000\n")).start()
    held = []
    try:
        lowered = [e for e in daemon.events() if e.get("event") == "smtp_max_connections_lowered"]
        assert lowered and lowered[0]["used"] == (LIMIT - RESERVE) // 2
        cap = lowered[0]["used"]
        banners = []
        for _ in range(cap + 20):
            client, banner = greet(daemon.port)
            held.append(client)
            banners.append(banner[:9])
        assert banners.count(b"220 sarab") == cap
        assert banners[cap:] == [b"421 4.7.0"] * 20
        # Every slot is taken by an idle client; the daemon still files what it has,
        # answers its status tick and, once one client leaves, takes a letter.
        for client in held[:3]:
            client.close()
        time.sleep(0.5)
        with ready(daemon.port) as client:
            assert client.cmd("DATA").startswith(b"354")
            client.send(letter() + b".\r\n")
            assert client.reply().startswith(b"250 2.0.0")
        assert not any(e.get("event") == "supervisor_tick_failed" for e in daemon.events())
    finally:
        for client in held:
            client.close()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        daemon._log.close()
