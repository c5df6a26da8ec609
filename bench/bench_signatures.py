"""Signature checks per second, CPU per one-signature 1 MB letter (target < 30 ms), and
the signatures' share of the pipeline's check step.

    .venv/bin/python bench/bench_signatures.py [--rounds N] [--stamp-only]

Builds the test PKI in a temp dir, signs a ~1 MB letter (incompressible scan) once, then
verifies it repeatedly: in-process (pure verification cost) and through the worker
pool (what the daemon pays, incl. pickling the file across the pipe). Last, the
pipeline's `_check` (vault, MIME parse, PDF text, rules, signatures) on the whole mail,
with and without the signature checker, and the receive stamp of the delivery runner:
CPU per stamp in-process for a few kinds of letter, the stamping child's own CPU per
letter (from /proc), then wall time through the stamping child. Figures go in docs/performance.md.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.signatures.trust import TrustSettings  # noqa: E402
from gateway.signatures.verify import quiet_library_logs, verify_pdf  # noqa: E402
from gateway.signatures.worker import VerifyPool  # noqa: E402
from tests.pki import build_pki, make_letter, sign_letter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--stamp-only", action="store_true", help="only the receive stamp's figures")
    args = parser.parse_args()
    quiet_library_logs()
    with tempfile.TemporaryDirectory() as tmp:
        pki = build_pki(Path(tmp) / "pki")
        if args.stamp_only:
            stamp_cpu(pki, args.rounds)
            return
        trust = TrustSettings.load([pki.roots_pem], revocation_dir=pki.revocation_dir, env={})
        letter = sign_letter(make_letter(pad_to=1_000_000), pki)
        assert verify_pdf(letter, trust).indication == "TOTAL_PASSED"
        print(f"letter: {len(letter) / 1e6:.2f} MB, 1 PAdES signature, offline CRLs")

        cpu_ms, wall_ms = [], []
        for _ in range(args.rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            verify_pdf(letter, trust)
            cpu_ms.append((time.process_time() - c0) * 1000)
            wall_ms.append((time.perf_counter() - w0) * 1000)
        print(f"in-process: CPU median {statistics.median(cpu_ms):.1f} ms, p90 "
              f"{sorted(cpu_ms)[int(len(cpu_ms) * 0.9) - 1]:.1f} ms per verification "
              f"(target < 30 ms); {1000 / statistics.median(wall_ms):.1f} verifications/s on one core")

        pool = VerifyPool(workers=1)
        try:
            pool.verify_blocking(letter, trust, 60)  # start the worker outside the measurement

            async def burst():
                t0 = time.perf_counter()
                for _ in range(args.rounds):
                    await pool.verify(letter, trust, 60)
                return time.perf_counter() - t0

            elapsed = asyncio.run(burst())
            print(f"worker pool (1 worker): {args.rounds / elapsed:.1f} verifications/s, "
                  f"{elapsed / args.rounds * 1000:.1f} ms wall each")
        finally:
            pool.close()

        pipeline_share(Path(tmp), pki, letter, args.rounds)


def stamp_cpu(pki, rounds: int) -> None:
    """CPU milliseconds per receive stamp, in-process (what the stamping child spends),
    for an unsigned letter of 10 KB and 200 KB, a LibreOffice letter in Thai, the test
    PKI's signed letter and a signed letter of the shared corpus."""
    import datetime as dt
    import logging

    import structlog

    from gateway.signatures.stamp import SealKey, StampInfo, stamp_pdf
    from tests.letters import make_pdf
    from tests.paths import shared_path
    from tests.signatures.producers import libreoffice_letter

    # The per-letter log line would be a share of the figure, and the child logs JSON anyway.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    seal = SealKey.load(pki.seal.key_path, pki.seal.cert_path, [pki.sub_ca.cert_path])
    info = StampInfo("สำนักงานเขตลาดกระบัง", "1/2569", dt.datetime.now(dt.timezone.utc))
    letters = {
        "unsigned 10 KB (make_pdf)": make_pdf(filler=10_000),
        "unsigned 200 KB (make_pdf)": make_pdf(filler=200_000),
        "LibreOffice letter in Thai": libreoffice_letter(),
        "signed (test PKI, form field)": sign_letter(make_letter(with_form_field=True), pki),
        "signed (corpus dss_pdf-signed-original)":
            (shared_path("corpus", "pdf", "signature-trial") / "dss_pdf-signed-original.pdf").read_bytes(),
    }
    stamp_pdf(letters["unsigned 10 KB (make_pdf)"], info, seal)  # imports, the seal's key, the font
    for name, data in letters.items():
        if data is None:
            print(f"stamp, {name}: skipped (soffice missing)")
            continue
        cpu = []
        for _ in range(max(5, rounds // 2)):
            c0 = time.process_time()
            result = stamp_pdf(data, info, seal)
            cpu.append((time.process_time() - c0) * 1000)
        print(f"stamp, {name}, {len(data) / 1000:.0f} KB: {result.mode}, CPU median "
              f"{statistics.median(cpu):.1f} ms, min {min(cpu):.1f} ms")
    stamp_child_cpu(seal, max(20, rounds * 5))


def stamp_child_cpu(seal, count: int) -> None:
    """CPU per letter of the stamping child itself (its /proc clock, over `count` letters
    of ~10 KB, each with its own number, after its first letter), and of the runner
    that sends them: what the delivery runner's child costs, pipe and pickling
    included, and a mean where the in-process figures above give the median and min."""
    import datetime as dt
    import os

    from gateway.signatures.receive_stamp import Stamper, StampJob
    from gateway.signatures.stamp import StampInfo
    from tests.letters import make_pdf

    def child_cpu(pid: int) -> float:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    received = dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc)
    jobs = [StampJob("a.pdf", make_pdf(f"cover letter {i}", filler=7000),
                     StampInfo("สำนักงานเขตลาดกระบัง", f"{i + 1}/2569", received), f"{i + 1}/2569")
            for i in range(count + 1)]
    stamper = Stamper(seal, 60, 1024, ("warning", "json"))
    try:
        stamper.stamp(jobs[0])  # the child's start, imports, seal and font
        pid = stamper._worker.process.pid  # noqa: SLF001
        c0, p0 = child_cpu(pid), time.process_time()
        modes = {stamper.stamp(job).mode for job in jobs[1:]}
        child_ms = (child_cpu(pid) - c0) * 1000 / count
        runner_ms = (time.process_time() - p0) * 1000 / count
    finally:
        stamper.close()
    print(f"stamping child, {count} letters of {len(jobs[1].data) / 1000:.0f} KB ({', '.join(sorted(modes))}): "
          f"child CPU mean {child_ms:.1f} ms, runner {runner_ms:.1f} ms per letter")


def _timed(fn, rounds: int) -> float:
    """Median wall milliseconds of fn() (the worker's CPU is off this process's clock)."""
    fn()  # warm: worker start, imports
    wall = []
    for _ in range(rounds):
        w0 = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - w0) * 1000)
    return statistics.median(wall)


def pipeline_share(tmp: Path, pki, letter_pdf: bytes, rounds: int) -> None:
    import datetime as dt

    from gateway.config.settings import load_settings
    import dataclasses

    from gateway.pipeline.check import check_entry
    from gateway.service.services import open_services
    from gateway.signatures.receive_stamp import StampJob, stamper_for
    from gateway.signatures.stamp import StampInfo
    from gateway.spool import SpoolEntry
    from tests.daemon import write_config
    from tests.letters import letter

    from gateway.service.log import setup_logging

    setup_logging("warning", "console")  # the pipeline's per-letter events would drown the figures
    extra = "[signatures]\n" + pki.trust_config
    settings = load_settings(write_config(tmp / "gw", extra=extra), environ={})
    stack = open_services(settings, "pipeline", upgrade_schema=True)  # as the runner
    services = stack.__enter__()
    raw = letter(files=[("2569_dds_0403_57.pdf", letter_pdf)])
    entry = SpoolEntry("bench", "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"],
                       dt.datetime.now(dt.timezone.utc), None, None, raw, tmp / "x")
    try:
        unsigned = dataclasses.replace(services, signatures=None)
        without = _timed(lambda: check_entry(unsigned, entry), rounds)
        with_sigs = _timed(lambda: check_entry(services, entry), rounds)
        assert check_entry(services, entry).signatures[0][0]["indication"] == "TOTAL_PASSED"
    finally:
        stack.__exit__(None, None, None)
    share = (with_sigs - without) / with_sigs * 100
    print(f"pipeline _check of the {len(raw) / 1e6:.2f} MB mail: {without:.1f} ms without signatures, "
          f"{with_sigs:.1f} ms with ({share:.0f}% of the check step is signature verification)")

    from gateway.signatures.settings import load_seal

    load_seal(settings, create=True)
    stamper = stamper_for(settings)
    info = StampInfo("สำนักงานเขตลาดกระบัง", "1/2569", dt.datetime.now(dt.timezone.utc))
    job = StampJob("2569_dds_0403_57.pdf", letter_pdf, info, "1/2569")
    try:
        stamp_ms = _timed(lambda: stamper.stamp(job), max(3, rounds // 5))
    finally:
        stamper.close()
    print(f"receive stamp (delivery runner, seal RSA-3072): {stamp_ms:.1f} ms wall per letter")


if __name__ == "__main__":
    main()
