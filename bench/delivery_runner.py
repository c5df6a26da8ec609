#!/usr/bin/env python3
"""One delivery thread alone, in-process: the runner's CPU per letter.

Spools --count letters (one PDF of --size bytes), registers them with the pipeline
runner in-process, warms the delivery runner up with one letter (its stamping child's
start), then times `work_outbox` over all of their outbox items: the folder copy (the
receive stamp is made in the stamping child, whose CPU is not counted here), the
Maildir write, the acknowledgement's decision, rendering and sending (to a local
SMTP sink; every letter is answered, as in service and in bench/side_by_side.py;
--rate-limited keeps the default limit, which lets the first 20 to the bench's one sender
go and suppresses the rest). --profile prints a cProfile of the delivery part. The log
(JSON events, as the daemon's) goes to delivery.log in the temporary directory, removed at the end. --read N: the unit's folder holds N read letters (its cur/) before the run.

To compare two trees, run it from each with that tree first on the path, as
bench/pipeline_runner.py.
"""
from __future__ import annotations

import argparse
import os
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class _Sink:
    """Accepts every notice (the senders' side), counting them."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.count += 1
        return "250 OK"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="letter size in bytes (default 10000)")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--rate-limited", action="store_true",
                    help="keep the default notice rate limit (20 an hour to one sender)")
    ap.add_argument("--read", type=int, default=0, metavar="N",
                    help="N letters already read in the unit's folder (files in its cur/, as a "
                         "clerk's client leaves them) before the run")
    args = ap.parse_args()

    from aiosmtpd.controller import Controller

    from gateway.config.settings import load_settings
    from gateway.delivery.runner import work_outbox
    from gateway.pipeline.runner import run_once
    from gateway.service.services import open_services
    from gateway.signatures.receive_stamp import close_stampers
    from gateway.signatures.settings import prepare_signatures
    from storage import migrate
    from tests.daemon import write_config
    from tests.letters import letter, make_pdf

    from gateway.service.log import setup_logging
    from tests.daemon import free_port

    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    port = controller.port
    root = Path(tempfile.mkdtemp(prefix="saraban-delivery-"))
    limits = "" if args.rate_limited else "max_per_sender_per_hour = 0\nmax_per_domain_per_hour = 0\n"
    settings = load_settings(write_config(root, extra=f"[notices]\nsmarthost = \"127.0.0.1:{port}\"\n{limits}"
                                                "[signatures]\nstamp = true\n"))

    # JSON events as the runner writes them (their cost is part of its work), into a file.
    # The stamping child writes its own events to the stdout it inherits: that goes
    # to the log file too, and the figures to the original stdout.
    log_file = open(root / "delivery.log", "w", encoding="utf-8")  # noqa: SIM115 - open until exit
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(log_file.fileno(), 1)
    setup_logging(settings.logging.level, settings.logging.format, process="delivery", stream=log_file)
    prepare_signatures(settings)  # the seal key, as at the daemon's first start

    def spool(services, i: int) -> None:
        raw = letter(subject=f"ขอความอนุเคราะห์ ครั้งที่ {i}",
                     files=[(f"2569_dds_0403_{i}.pdf", make_pdf("cover", filler=max(0, args.size - 3000)))],
                     message_id=f"<bench-{i}-{time.time_ns()}@dds.bangkok.go.th>")
        services.spool.accept(raw, "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])

    with open_services(settings, "pipeline") as services:
        migrate.upgrade(services.db.engine)
        spool(services, -1)
        run_once(services)
    with open_services(settings, "delivery") as services:
        while work_outbox(services):  # the warm-up letter: the stamping child starts here
            pass
    if args.read:
        cur = next(settings.folders_dir.rglob("cur"))
        for i in range(args.read):
            (cur / f"{i:08d}.read-{i}.saraban.latkrabang.saraban:2,S").write_bytes(b"Subject: read\r\n\r\nx\r\n")
    with open_services(settings, "pipeline") as services:
        for i in range(args.count):
            spool(services, i)
        while run_once(services):
            pass
    with open_services(settings, "delivery") as services:
        # This thread's clock, not the process's: the smarthost (the aiosmtpd sink above)
        # answers in another thread of this process, and its CPU is not the runner's.
        profile = cProfile.Profile(time.thread_time) if args.profile else None
        wall, cpu = time.perf_counter(), time.thread_time()
        if profile:
            profile.enable()
        items = 0
        while True:
            worked = work_outbox(services, limit=1000)
            if not worked:
                break
            items += worked
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        close_stampers()
    controller.stop()
    filed = sum(1 for _ in (settings.folders_dir).rglob("cur/*")) + sum(1 for _ in settings.folders_dir.rglob("new/*"))
    print(f"{args.count} letters, {items} outbox items in {wall:.2f} s, {filed} files in folders, "
          f"{sink.count} notices sent; delivery CPU {1000 * cpu / args.count:.1f} ms/letter", file=out)
    if profile:
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
    out.flush()
    log_file.close()
    shutil.rmtree(root, ignore_errors=True)  # its data directory (kept until now: the log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
