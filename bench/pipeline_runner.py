#!/usr/bin/env python3
"""One pipeline runner alone, in-process: letters/s and the runner's CPU per letter.

Spools --count letters (one PDF of --size bytes, Thai subject, distinct Message-IDs)
into a fresh data directory (SQLite), warms up with one letter (the PDF worker's
start), then times `run_once` over all of them: parse, rules, the PDF trip to the
worker, vault, the register transaction(s), spool removal. The receive stamp is not
part of it (the delivery runner's work). --readings: each letter comes with the DATA
check's reading of its PDF, as through SMTP, so the PDF is not read in the run. --profile prints a cProfile of the run. The
log (JSON events, as the daemon's) goes to pipeline.log in the temporary directory.

To compare two trees, run it from each with that tree first on the path, e.g.
`PYTHONPATH=/path/to/old .venv/bin/python /path/to/old/bench/pipeline_runner.py` (an
older tree without this file: copy it there).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="letter size in bytes (default 10000)")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--thai", metavar="TEXT_FILE", type=Path,
                    help="the cover letter a PDF with a Thai text layer of this file's lines (e.g. "
                         "../shared/seeds/001_58f3b8410d24badf.txt; fpdf2, Garuda) instead of --size "
                         "bytes of an ASCII one: the rules read Thai as in real letters")
    ap.add_argument("--readings", action="store_true",
                    help="each letter spooled with the DATA check's reading of its PDF, as SMTP intake "
                         "leaves it (gateway/pipeline/pdf_readings.py): the pipeline reads no PDF itself")
    args = ap.parse_args()

    from gateway.config.settings import load_settings
    from gateway.pipeline.runner import run_once
    from gateway.secrecy.markings import keep_reading
    from gateway.service.log import setup_logging
    from gateway.service.services import open_services
    from storage import migrate
    from tests.daemon import write_config
    from tests.letters import letter, make_pdf
    from tests.thai_pdfs import thai_pdf

    root = Path(tempfile.mkdtemp(prefix="saraban-runner-"))
    settings = load_settings(write_config(root))
    # JSON events as the daemon's runner writes them (their cost is part of its work),
    # into a file: structlog's default console renderer costs something else.
    log_file = open(root / "pipeline.log", "w", encoding="utf-8")  # noqa: SIM115 - open until exit
    setup_logging(settings.logging.level, settings.logging.format, process="pipeline-0", stream=log_file)
    with open_services(settings, "pipeline") as services:
        migrate.upgrade(services.db.engine)

        cover = thai_pdf(args.thai.read_text(encoding="utf-8").splitlines(), "plain") if args.thai else None

        def spool(i: int) -> bytes:
            pdf = cover or make_pdf("cover", filler=max(0, args.size - 3000))
            raw = letter(subject=f"ขอความอนุเคราะห์ ครั้งที่ {i}",
                         files=[(f"2569_dds_0403_{i}.pdf", pdf)],
                         message_id=f"<bench-{i}-{time.time_ns()}@dds.bangkok.go.th>")
            queue_id = services.spool.accept(raw, "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])
            if args.readings:  # what the DATA-check worker does before the 250
                keep_reading(raw, services.spool.reading_path(queue_id))
            return raw

        spool(-1)
        run_once(services)  # the PDF worker starts here, not in the timed run
        raw = b""
        for i in range(args.count):
            raw = spool(i)
        profile = cProfile.Profile(time.process_time) if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        done = run_once(services)
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{done} letters of {len(raw) / 1024:.0f} KiB in {wall:.2f} s: {done / wall:.1f} letters/s, "
          f"runner CPU {1000 * cpu / done:.1f} ms/letter")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
