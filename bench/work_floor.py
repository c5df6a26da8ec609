"""The CPU a letter cannot do without, step by step, against what the peer's rate leaves.

    .venv/bin/python bench/work_floor.py [--rounds 200] [--peer-rate 124,94] [--cores N]

Issue 16 asks the gateway to file as many letters a second as Postfix -> Dovecot files
plain mail on the same machine. On a machine where every core is busy (the gateway's
rate is its CPU: docs/performance.md), that leaves at most `cores / peer rate` of CPU a
letter, all processes together: 16 ms at 124 letters/s on two cores. (`--peer-rate`:
the peer's filed rates at 22 and 202 KiB in the same order, from the side by side's
last run on this machine; session 10's run gave 124 and 94.) This bench times,
in this one process and on the letters of `bench/side_by_side.py --typed` (22 and 202
KiB, a typed Thai page in the PDF), only the steps the gateway must take for every
letter, each with the library that takes it, and none of the gateway's own glue
(processes, pipes, the register, the spool, logs):

* the MIME parse (the stdlib's, which mail-parser wraps), every part decoded;
* the PDF's text layer as pypdf reads it and as PDFium reads it (both: the markings are
  looked for in both, docs/secrecy.md, and each finds markings the other misses);
* PyThaiNLP's normalisation of that text (the markings' and the facts' reading);
* the receive stamp's seal: one RSA signature with the daemon's key size
  (gateway/secrecy/keys.py NEW_RSA_BITS), nothing else of the stamp;
* the receive stamp as built (gateway/signatures/stamp.py `stamp_pdf`: the page read for
  the stamp's place, the appearance, pyHanko's incremental write, the seal and the
  check that no earlier signature's verdict changed), for comparison.

It prints each step's median CPU, their sum with the stamp counted as its seal alone
(the floor: a stamp cannot cost less than its signature) and with the stamp as built,
and what each sum allows on `--cores` cores against `--peer-rate`. Tests do not run
this; the figures go in docs/performance.md.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def median_ms(fn, rounds: int) -> float:
    fn()  # imports, caches a first call fills
    cpu = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        cpu.append((time.process_time() - start) * 1000)
    return statistics.median(cpu)


def mime_parse(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in message.walk():
        if not part.is_multipart():
            part.get_payload(decode=True)


def pypdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf), strict=False)
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdfium_text(pdf: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--peer-rate", default="124,94",
                    help="Postfix -> Dovecot's filed letters/s at 22 and 202 KiB on this machine "
                         "(bench/side_by_side.py), comma-separated")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    import datetime as dt

    import structlog
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pythainlp.util import normalize

    import side_by_side as bench
    from gateway.secrecy.keys import NEW_RSA_BITS
    from gateway.signatures.stamp import SealKey, StampInfo, stamp_pdf
    from gateway.signatures.verify import quiet_library_logs
    from tests.pki import build_pki

    quiet_library_logs()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    bench.TYPED = True
    key = rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
    digest = os.urandom(32)
    import tempfile

    rates = [float(r) for r in args.peer_rate.split(",")]
    rates = (rates + rates)[:2]
    print(f"{args.cores} cores, the peer at {rates[0]:g} and {rates[1]:g} letters/s ({args.rounds} rounds a "
          f"step, median CPU of this process)\n")
    with tempfile.TemporaryDirectory() as tmp:
        pki = build_pki(Path(tmp) / "pki")
        seal = SealKey.load(pki.seal.key_path, pki.seal.cert_path, [pki.sub_ca.cert_path])
        info = StampInfo("สำนักงานเขตลาดกระบัง", "1/2569", dt.datetime.now(dt.timezone.utc))
        rows = []
        for size in (10 * 1024, 200 * 1024):
            filler = bench.filler_for(size)  # the whole letter `size` bytes, as the side by side sends
            raw = bench.bench_letter(1, filler)
            pdf = bench.typed_pdf(1, filler)
            text = pypdf_text(pdf)
            steps = {
                "MIME parse, every part decoded (stdlib)": median_ms(lambda: mime_parse(raw), args.rounds),
                "PDF text layer, pypdf": median_ms(lambda: pypdf_text(pdf), args.rounds),
                "PDF text layer, PDFium": median_ms(lambda: pdfium_text(pdf), args.rounds),
                "Thai normalisation (PyThaiNLP)": median_ms(lambda: normalize(text), args.rounds),
                f"the seal's RSA-{NEW_RSA_BITS} signature": median_ms(
                    lambda: key.sign(digest, padding.PKCS1v15(), hashes.SHA256()), args.rounds),
            }
            stamp = median_ms(lambda: stamp_pdf(pdf, info, seal), max(20, args.rounds // 4))
            floor = sum(steps.values())
            built = floor - steps[f"the seal's RSA-{NEW_RSA_BITS} signature"] + stamp
            rows.append((len(raw), len(pdf), steps, stamp, floor, built))

    sizes = [f"{r[0] / 1024:.0f} KiB letter ({r[1] / 1024:.0f} KiB PDF)" for r in rows]
    print("| step | " + " | ".join(sizes) + " |")
    print("|---|" + "---|" * len(rows))
    for name in rows[0][2]:
        print(f"| {name} | " + " | ".join(f"{r[2][name]:.2f} ms" for r in rows) + " |")
    print("| the receive stamp as built (for comparison) | " + " | ".join(f"{r[3]:.2f} ms" for r in rows) + " |")
    print("| **floor** (the steps above, the stamp as its seal alone) | "
          + " | ".join(f"**{r[4]:.1f} ms**" for r in rows) + " |")
    print("| the steps with the stamp as built | " + " | ".join(f"{r[5]:.1f} ms" for r in rows) + " |")
    print(f"| what the peer's rate leaves ({args.cores} cores / its letters a second) | "
          + " | ".join(f"{1000 * args.cores / rate:.1f} ms ({rate:g}/s)" for rate in rates) + " |")
    print(f"| at most, on {args.cores} cores, if the floor were all (letters/s; ratio) | "
          + " | ".join(f"{1000 * args.cores / r[4]:.0f}; {1000 * args.cores / r[4] / rate:.2f}x"
                       for r, rate in zip(rows, rates)) + " |")
    print("| at most, with the stamp as built | "
          + " | ".join(f"{1000 * args.cores / r[5]:.0f}; {1000 * args.cores / r[5] / rate:.2f}x"
                       for r, rate in zip(rows, rates)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
