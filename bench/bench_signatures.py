"""Signature checks per second, and CPU per one-signature 1 MB letter (target < 30 ms).

    .venv/bin/python bench/bench_signatures.py [--rounds N]

Builds the test PKI in a temp dir, signs a ~1 MB letter (incompressible scan) once, then
verifies it repeatedly: in-process (pure verification cost) and through the worker
pool (what the daemon pays, incl. pickling the file across the pipe).
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
    args = parser.parse_args()
    quiet_library_logs()
    with tempfile.TemporaryDirectory() as tmp:
        pki = build_pki(Path(tmp) / "pki")
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


if __name__ == "__main__":
    main()
