"""IMAP figures: letters/s filed by APPEND, and seconds from arrival in a pulled mailbox
to registration. Starts its own Dovecot (tests/servers/dovecot.py) and, for the second
figure, the real daemon (tests/daemon.py), so it needs `dovecot-imapd` installed.

    .venv/bin/python bench/bench_imap.py [--letters 300] [--arrivals 20] [--arrivals-only]

The arrival figure is measured from the moment `doveadm save` has put the letter into
the pulled mailbox (arrival at Dovecot) to the moment its row is in the register
(SQLite polled every 5 ms); the 1-, 5- and 15-minute load averages are printed with it,
since on a shared machine they decide the figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.delivery.imap import ImapFiler, ImapTarget  # noqa: E402
from gateway.delivery.folder_copy import build_folder_copy  # noqa: E402
from tests.daemon import Daemon, write_config  # noqa: E402
from tests.imap_helpers import intake_config  # noqa: E402
from tests.letters import letter, make_pdf  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402


def bench_append(dovecot: DovecotServer, count: int) -> dict:
    """The delivery runner's filing step alone: one cached IMAPS session, APPEND per letter."""
    dovecot.add_user("bench.append", "bench-append-pw")
    raw = letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover", filler=100_000))])
    target = ImapTarget(host=dovecot.host, port=dovecot.ssl_port, tls=True, ca_file=str(dovecot.cert_path),
                        verify=True, timeout=30, username="bench.append", password="bench-append-pw",
                        folder="Saraban/bench", keyword="$SarabanRegistered")
    copies = [build_folder_copy(raw, receive_no=f"{n}/2569", unit="saraban.latkrabang", book="general",
                                subject="bench", queue_id=f"{n:024x}") for n in range(1, count + 1)]
    filer = ImapFiler()
    try:
        filer.file(target, copies[0], f"{1:024x}", "saraban.latkrabang", in_doubt=False)  # login, create
        started = time.perf_counter()
        for n, copy in enumerate(copies[1:], start=2):
            filer.file(target, copy, f"{n:024x}", "saraban.latkrabang", in_doubt=False)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        for n, copy in enumerate(copies[1:], start=2):  # a retry after a crash: search, then skip
            filer.file(target, copy, f"{n:024x}", "saraban.latkrabang", in_doubt=True)
        searched = time.perf_counter() - started
    finally:
        filer.close()
    return {"letters": count - 1, "size": len(copies[0]), "append_per_s": (count - 1) / plain,
            "in_doubt_search_per_s": (count - 1) / searched}


def bench_claims(count: int) -> float:
    """The delivery handler's other per-item cost: its claim row (SQLite, synchronous=FULL)."""
    from storage import lease
    from storage.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.create_schema()
        started = time.perf_counter()
        for n in range(count):
            lease.acquire(db, f"outbox:{n}", "bench", 60)
        elapsed = time.perf_counter() - started
        db.dispose()
    return count / elapsed


def bench_arrival(dovecot: DovecotServer, count: int) -> dict:
    """Seconds from `doveadm save` into the pulled mailbox to the letter's register entry."""
    dovecot.add_user("bench.intake", "bench-intake-pw")
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(write_config(Path(tmp), extra=intake_config(dovecot, "bench.intake", "bench-intake-pw",
                                                               poll_interval=600)))
        d.start()
        try:
            d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), 60, 0.05)
            import sqlite3

            db = sqlite3.connect(d.data_dir / "saraban.db")
            delays = []
            for n in range(count):
                message_id = f"<bench-{n}-{time.time_ns()}@dds.bangkok.go.th>"
                raw = letter(message_id=message_id)
                started = time.perf_counter()
                dovecot.deliver("bench.intake", raw)
                while not db.execute("SELECT 1 FROM letters WHERE message_id = ?", (message_id,)).fetchone():
                    time.sleep(0.005)
                delays.append(time.perf_counter() - started)
            db.close()
        finally:
            d.stop()
    delays.sort()
    return {"letters": count, "median_s": statistics.median(delays),
            "p90_s": delays[int(len(delays) * 0.9) - 1], "max_s": delays[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--arrivals", type=int, default=20)
    parser.add_argument("--arrivals-only", action="store_true", help="only the IDLE arrival figure")
    args = parser.parse_args()
    with DovecotServer() as dovecot:
        if args.arrivals_only:
            before = os.getloadavg()
            arrival = bench_arrival(dovecot, args.arrivals)
            after = os.getloadavg()
            print(f"arrival at Dovecot -> registered (IDLE, {arrival['letters']} letters one by one): "
                  f"median {arrival['median_s']:.2f} s, p90 {arrival['p90_s']:.2f} s, max {arrival['max_s']:.2f} s; "
                  f"load average before {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, "
                  f"after {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} on {os.cpu_count()} CPUs")
            return 0
        append = bench_append(dovecot, args.letters)
        print(f"APPEND (IMAPS, one session, {append['size'] // 1024} KiB letters): "
              f"{append['append_per_s']:.0f} letters/s over {append['letters']}; "
              f"retry with search first: {append['in_doubt_search_per_s']:.0f} letters/s")
        print(f"outbox claim rows (SQLite): {bench_claims(args.letters):.0f} claims/s")
        arrival = bench_arrival(dovecot, args.arrivals)
        print(f"arrival in pulled mailbox -> registered (IDLE, {arrival['letters']} letters one by one): "
              f"median {arrival['median_s']:.2f} s, p90 {arrival['p90_s']:.2f} s, max {arrival['max_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
