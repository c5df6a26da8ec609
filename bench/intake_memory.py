#!/usr/bin/env python3
"""The supervisor's memory under hostile load: the real daemon on loopback.

1. at rest; 2. holding N idle SMTP connections (default 500); 3. eight 25 MB messages
in DATA at the same time (sent concurrently, each in 64 KiB writes). After each step
the supervisor's (the SMTP process's) VmRSS and its peak VmHWM are read from /proc.
Also: how many connections the daemon holds at its cap, and what the next one hears.

    python bench/intake_memory.py [--repo DIR] [--idle 500] [--size-mb 25] [--parallel 8]

--repo runs the daemon of another checkout (e.g. `git archive main`) for a comparison.
Record the figures in docs/performance.md."""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tests.daemon as daemon_module  # noqa: E402
from tests.daemon import Daemon, write_config  # noqa: E402

UNIT = "saraban.latkrabang@bangkok.go.th"


def vm(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) // 1024  # MiB
    return out


def session(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.recv(1024)
    return sock


def send_big(port: int, size: int, results: list, barrier: threading.Barrier) -> None:
    sock = session(port)
    def cmd(line: bytes) -> bytes:
        sock.sendall(line + b"\r\n")
        return sock.recv(65536)
    cmd(b"EHLO bench.example")
    cmd(b"MAIL FROM:<saraban.dds@bangkok.go.th>")
    cmd(f"RCPT TO:<{UNIT}>".encode())
    cmd(b"DATA")
    barrier.wait()
    line = b"A" * 998 + b"\r\n"
    block = b"Subject: big\r\n\r\n" + line * 65
    sent = 0
    while sent < size:
        sock.sendall(block)
        sent += len(block)
    sock.sendall(b".\r\n")
    results.append(sock.recv(65536)[:3])
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=None)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--size-mb", type=int, default=25)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--no-caps", action="store_true", help="a checkout without connection caps")
    args = parser.parse_args()
    if args.repo:
        daemon_module.REPO = args.repo.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="intake-memory-"))
    caps = (f"max_connections = {args.idle + 50}\nmax_connections_per_ip = {args.idle + 50}\n"
            if not args.no_caps else "")
    config = write_config(tmp, smtp_extra=caps)
    daemon = Daemon(config, env={"PYTHONDONTWRITEBYTECODE": "1"}).start()
    pid = daemon.proc.pid
    try:
        time.sleep(2)
        print("at rest:", vm(pid))
        held = [session(daemon.port) for _ in range(args.idle)]
        time.sleep(1)
        print(f"{len(held)} idle connections:", vm(pid))
        extra = []
        for _ in range(60):  # beyond the cap (only meaningful with caps)
            try:
                sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
                extra.append((sock, sock.recv(1024)[:9]))
            except OSError as exc:
                extra.append((None, str(exc).encode()[:30]))
        print("connections 1..60 beyond the first", len(held), ":",
              sorted({banner for _, banner in extra}))
        for sock, _ in extra:
            if sock:
                sock.close()
        for sock in held:
            sock.close()
        time.sleep(1)
        results: list = []
        barrier = threading.Barrier(args.parallel)
        threads = [threading.Thread(target=send_big, args=(daemon.port, args.size_mb << 20, results, barrier))
                   for _ in range(args.parallel)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        peak_now = 0
        while any(t.is_alive() for t in threads):
            peak_now = max(peak_now, vm(pid)["VmRSS"])
            time.sleep(0.05)
        print(f"{args.parallel} x {args.size_mb} MB in flight ({time.monotonic() - started:.1f} s), "
              f"replies {sorted(results)}: sampled max VmRSS {peak_now} MiB,", vm(pid))
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
