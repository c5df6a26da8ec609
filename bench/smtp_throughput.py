#!/usr/bin/env python3
"""End-to-end benchmark: the real daemon on loopback, driven over SMTP.

Phase 1 (burst): --count letters from --clients concurrent SMTP connections, as fast
as they go: accepted messages/s and registered letters/s end to end.
Phase 2 (steady): --rate letters/s offered for --seconds: p50/p99 latency from the end
of DATA (spool time) to registration (commit time), from the register itself.
Throughout: the daemon's peak RSS (supervisor + runners, summed), sampled every 100 ms.

Each letter is realistic: a ~200 KB PDF cover letter plus two enclosures, Thai subject
and Thai file names. Figures are printed; record them in docs/performance.md.

--accept-only: durable accept alone (SMTP 250 after the spool fsync), driven by Postfix's
`smtp-source` (Debian package postfix) when it is installed, else by this script's own
client: one letter of --size bytes carrying a PDF, --count times from --clients sessions,
a connection per letter as smtp-source does by default. --pause-pipeline stops the
pipeline runners (SIGSTOP) while it runs, to see intake without them. Prints messages/s,
the CPU per letter of the supervisor and of the DATA-check workers, and the load average.
"""
from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.daemon import Daemon, write_config  # noqa: E402
from tests.letters import letter, make_pdf  # noqa: E402

UNIT = "saraban.latkrabang@bangkok.go.th"


def realistic_letter(i: int) -> bytes:
    return letter(
        to=UNIT,
        subject=f"ขอความอนุเคราะห์ข้อมูลประกอบการพิจารณา ครั้งที่ {i}",
        files=[
            (f"2569_dds_0403_{i}.pdf", make_pdf("cover letter", filler=200_000)),
            (f"2569_dds_0403_{i}_1_สิ่งที่ส่งมาด้วย.pdf", make_pdf("enclosure 1", filler=40_000)),
            (f"2569_dds_0403_{i}_2_ตาราง.pdf", make_pdf("enclosure 2", filler=40_000)),
        ],
        message_id=f"<bench-{i}-{time.time_ns()}@dds.bangkok.go.th>",
    )


def children(pid: int) -> list[int]:
    """A process's children, made by any of its threads: /proc/<pid>/task/<pid>/children
    lists only the main thread's (the delivery runner's threads each start a stamping
    child of their own)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            out += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    """The process and every process below it."""
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack += children(p)
    return out


def rss_of_tree(pid: int) -> int:
    """Resident set of a process and all its descendants, in bytes (from /proc)."""
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_of_tree(self.pid))
            time.sleep(0.1)


def send_all(port: int, letters: "queue.Queue[bytes]", clients: int, reconnect: bool = False) -> tuple[int, int]:
    sent, failed = [0], [0]
    lock = threading.Lock()

    def client() -> None:
        conn = None
        while True:
            try:
                raw = letters.get_nowait()
            except queue.Empty:
                break
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
                    conn.ehlo("bench.localdomain")
                conn.sendmail("saraban.dds@bangkok.go.th", [UNIT], raw)
                with lock:
                    sent[0] += 1
                if reconnect:  # a connection per letter, as smtp-source by default
                    conn.quit()
                    conn = None
            except (OSError, smtplib.SMTPException):
                conn = None
                with lock:
                    failed[0] += 1
        if conn is not None:
            conn.quit()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent[0], failed[0]


def database_url(d: Daemon) -> str:
    """The daemon's database: its config's [storage] database_url, else its SQLite file."""
    import tomllib

    storage = tomllib.loads(d.config.read_text(encoding="utf-8")).get("storage", {})
    return storage.get("database_url") or f"sqlite:///{d.data_dir / 'saraban.db'}"


def registered_count(d: Daemon) -> int:
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import Letter

    db = Database(database_url(d))
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(Letter))
    db.dispose()
    return n or 0


def latencies(d: Daemon, since_id: int) -> list[float]:
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import Letter

    db = Database(database_url(d))
    with db.session() as s:
        rows = s.execute(select(Letter.received_at, Letter.registered_at).where(Letter.id > since_id)).all()
    db.dispose()
    return [(reg - rec).total_seconds() for rec, reg in rows]


def pdf_letter(size: int) -> bytes:
    """A letter of about `size` bytes on the wire, most of it one PDF (base64)."""
    return letter(
        to=UNIT,
        subject="ขอความอนุเคราะห์ข้อมูลประกอบการพิจารณา",
        files=[("2569_dds_0403.pdf", make_pdf("cover letter", filler=max(0, int((size - 2200) * 0.75))))],
        message_id=f"<bench-{time.time_ns()}@dds.bangkok.go.th>",
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _is_data_check(pid: int) -> bool:
    try:
        return b"gateway.secrecy.markings" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def accept_only(args) -> int:
    raw = pdf_letter(args.size)
    tmp = Path(tempfile.mkdtemp(prefix="saraban-accept-"))
    d = Daemon(write_config(tmp, workers=args.workers)).start()
    d._log.close()
    paused: list[int] = []
    try:
        workers = [c for c in _children(d.proc.pid) if _is_data_check(c)]
        if args.pause_pipeline:
            paused = [c for c in _children(d.proc.pid) if not _is_data_check(c)]
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)
        before = _cpu_seconds(d.proc.pid), sum(_cpu_seconds(w) for w in workers)
        source = shutil.which("smtp-source") or ("/usr/sbin/smtp-source" if Path("/usr/sbin/smtp-source").exists() else None)
        start = time.monotonic()
        if source:
            eml = tmp / "letter.eml"
            eml.write_bytes(raw.replace(b"\r\n", b"\n"))  # smtp-source adds the CR back
            subprocess.run([source, "-s", str(args.clients), "-m", str(args.count), "-F", str(eml),
                            "-f", "saraban.dds@bangkok.go.th", "-t", UNIT, f"127.0.0.1:{d.port}"],
                           check=True, timeout=600)
            client = "smtp-source"
        else:
            letters: "queue.Queue[bytes]" = queue.Queue()
            for _ in range(args.count):
                letters.put(raw)
            send_all(d.port, letters, args.clients, reconnect=True)
            client = "smtplib"
        elapsed = time.monotonic() - start
        after = _cpu_seconds(d.proc.pid), sum(_cpu_seconds(w) for w in workers)
        accepted = sum(1 for e in d.events() if e.get("event") == "accepted")
        load = os.getloadavg()
    finally:
        for pid in paused:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"accept only            : {accepted}/{args.count} letters of {len(raw) / 1024:.0f} KiB with a PDF, "
          f"{args.clients} sessions ({client}), pipeline {'paused' if args.pause_pipeline else 'running'}")
    print(f"accepted               : {accepted / elapsed:.1f} messages/s")
    print(f"CPU per letter         : supervisor {(after[0] - before[0]) / max(accepted, 1) * 1000:.2f} ms, "
          f"DATA-check workers {(after[1] - before[1]) / max(accepted, 1) * 1000:.2f} ms")
    print(f"load average           : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (cpu count {os.cpu_count()})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--accept-only", action="store_true", help="durable accept alone (see above)")
    ap.add_argument("--size", type=int, default=10 * 1024, help="--accept-only: bytes per letter")
    ap.add_argument("--pause-pipeline", action="store_true", help="--accept-only: SIGSTOP the runners")
    args = ap.parse_args()
    if args.accept_only:
        return accept_only(args)

    tmp = Path(tempfile.mkdtemp(prefix="saraban-bench-"))
    d = Daemon(write_config(tmp, workers=args.workers)).start()
    d._log.close()
    sampler = RssSampler(d.proc.pid)
    sampler.start()
    try:
        print(f"preparing {args.count} letters ...", file=sys.stderr)
        letters: "queue.Queue[bytes]" = queue.Queue()
        sample = realistic_letter(0)
        for i in range(args.count):
            letters.put(realistic_letter(i))
        print(f"letter size on the wire: {len(sample) / 1024:.0f} KiB", file=sys.stderr)

        start = time.monotonic()
        sent, failed = send_all(d.port, letters, args.clients)
        accept_elapsed = time.monotonic() - start
        while registered_count(d) < sent:
            time.sleep(0.05)
        e2e_elapsed = time.monotonic() - start
        burst_rss = sampler.peak

        base = registered_count(d)
        steady: "queue.Queue[bytes]" = queue.Queue()
        total = int(args.rate * args.seconds)
        prepared = [realistic_letter(10_000 + i) for i in range(total)]
        gaps = 1.0 / args.rate
        t0 = time.monotonic()
        senders = []
        for i, raw in enumerate(prepared):
            target = t0 + i * gaps
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            steady.put(raw)
            if len(senders) < 10:
                th = threading.Thread(target=send_all, args=(d.port, steady, 1))
                th.start()
                senders.append(th)
            senders = [s for s in senders if s.is_alive()]
        for th in senders:
            th.join()
        # drain whatever is left in the queue
        send_all(d.port, steady, 2)
        while registered_count(d) < base + total:
            time.sleep(0.05)
        lat = sorted(latencies(d, base))
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    finally:
        sampler.running = False
        d.stop()

    print(f"letters                : {sent} sent, {failed} failed, {len(sample) / 1024:.0f} KiB each, "
          f"{args.clients} concurrent clients, {args.workers} pipeline runner(s)")
    print(f"accepted               : {sent / accept_elapsed:.1f} messages/s")
    print(f"registered end to end  : {sent / e2e_elapsed:.1f} letters/s")
    print(f"steady {args.rate:.0f}/s offered     : p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"(end of DATA -> registered, {len(lat)} letters)")
    print(f"peak RSS (all procs)   : {max(burst_rss, sampler.peak) / 1024 / 1024:.0f} MiB "
          f"(burst phase {burst_rss / 1024 / 1024:.0f} MiB)")
    print(f"cpu count              : {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
