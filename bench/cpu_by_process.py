"""CPU per letter, process by process, for a burst of letters through the whole daemon.

    .venv/bin/python bench/cpu_by_process.py [--count 500] [--size 10000] [--sessions 20] [--workers 0]
                                             [--typed] [--signed] [--no-notices] [--units N]
                                             [--no-sender-checks] [--ec-seal | --gateway-key-seal]

Starts the daemon (receive stamp on, `[pipeline] workers` as given, 0 = one per two cores),
warms it up with 20 letters, then sends --count letters of --size bytes with a PDF
through Postfix's smtp-source (bench/peer/setup.sh installs it; the letters are those
of bench/side_by_side.py) and waits until the last one is in its folder and its
acknowledgement at the smarthost (bench/notice_sink.py: every letter's notice is
rendered and sent, no rate limit; --no-notices: held, as before). The CPU time
(user + system, from /proc/<pid>/stat) each process of the daemon's tree spent between
the two moments, divided by the letters, is printed by process, with its role (the runners
named by the supervisor's `runner_spawned` events, their children by their parent), and
beside it the process's memory at the end: its peak RSS (VmHWM), its RSS and its PSS
(its share of pages it shares with others: the figure that adds up across processes). Where a
letter's CPU goes decides what the gateway can file a second on a given machine (see
docs/performance.md, "Why the goal is not reached"). Tests do not run this.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import side_by_side as bench  # noqa: E402
from notice_sink import NoticeSink  # noqa: E402

from tests.daemon import Daemon, write_config  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pids: list[int]) -> dict[int, tuple[float, float, int]]:
    """pid -> (user seconds, system seconds, minor page faults)."""
    out = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:  # fields[7] minflt, [11] utime, [12] stime
            out[pid] = (int(fields[11]) / TICKS, int(fields[12]) / TICKS, int(fields[7]))
    return out


def memory_mib(pid: int) -> tuple[float, float, float]:
    """(peak RSS, RSS, PSS) of a process in MiB; zeros once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0, 0.0, 0.0

    def kib(text: str, key: str) -> float:
        for line in text.splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0
    return kib(status, "VmHWM"), kib(status, "VmRSS"), kib(rollup, "Pss")


def runner_names(events: list[dict]) -> dict[int, str]:
    """pid -> runner name ("pipeline-0", "delivery", ...), from the supervisor's
    `runner_spawned` events: the runners look the same from outside."""
    return {e["pid"]: e["runner"] for e in events if e.get("event") == "runner_spawned" and "pid" in e}


def role(pid: int, root: int, runners: dict[int, str]) -> str:
    """What the process is, from its command line, its parent's and the runners' names."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    fields = _stat(pid)
    parent = int(fields[1]) if fields else 0
    if pid == root:
        return "supervisor (SMTP intake, spool)"
    if "gateway.secrecy.markings" in cmd:
        return "DATA-check worker"
    if cmd.rstrip().endswith("gateway.service.child fork-server"):
        return "fork server (forks the runners and DATA-check workers)"
    if "resource_tracker" in cmd:
        return "multiprocessing resource tracker"
    if pid in runners:
        what = {"delivery": "folder copies, notices"}.get(runners[pid], "parse, rules, register")
        return f"runner {runners[pid]} ({what})"
    if parent == root:
        return "runner (not named in the log)"
    if runners.get(parent) == "delivery":
        return "stamping child of the delivery runner"
    if parent in runners:  # gateway/signatures/worker.py, gateway/pipeline/pdf_pool.py
        return f"PDF/signature worker of {runners[parent]}"
    return f"child of {parent}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=10_000, help="letter size in bytes (default 10000)")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--workers", type=int, default=0, help="[pipeline] workers (0: the default, one per two cores)")
    ap.add_argument("--typed", action="store_true",
                    help="each letter's PDF a typed Thai page (about 22 KB at least), not a one-line page")
    ap.add_argument("--signed", action="store_true",
                    help="each letter's PDF signed by the test PKI's signer, whose root the gateway trusts "
                         "(bench/side_by_side.py --signed)")
    ap.add_argument("--no-sender-checks", action="store_true",
                    help="no SPF, DKIM and DMARC at DATA, the letters unsigned (bench/side_by_side.py's "
                         "--no-sender-checks; how both ran until session 29)")
    ap.add_argument("--units", type=int, default=0,
                    help="spread the letters over this many units of the demo directory, in turn "
                         "(default: all to saraban.latkrabang, as bench/side_by_side.py sends)")
    seal = ap.add_mutually_exclusive_group()
    seal.add_argument("--ec-seal", action="store_true",
                      help="the receive stamp sealed by an operator's EC P-256 key ([signatures] seal_key and "
                           "seal_cert) instead of the key store's own seal (docs/signatures.md)")
    seal.add_argument("--gateway-key-seal", action="store_true",
                      help="a key store made before session 51: a gateway key and no seal of its own, so the "
                           "stamp is signed with the RSA-3072 gateway key (the default until then)")
    ap.add_argument("--no-notices", action="store_true",
                    help="no smarthost: the acknowledgements are decided and held, not rendered or sent "
                         "(how this bench ran until 2026-11-29 evening)")
    args = ap.parse_args()
    bench.TYPED = args.typed
    bench.SENDER_CHECKS = not args.no_sender_checks
    if args.units:
        bench.spread_over(args.units)
    if not Path(bench.SMTP_SOURCE).exists():
        print(f"{bench.SMTP_SOURCE} is missing: run `sh bench/peer/setup.sh` (as root) first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="saraban-cpu-") as tmp, NoticeSink() as sink:
        tmp = Path(tmp)
        notices = "" if args.no_notices else sink.config()
        trust = ""
        if args.signed:
            from tests.pki import build_pki

            bench.SIGNED = build_pki(tmp / "pki")
            trust = bench.SIGNED.trust_config
        if args.ec_seal:
            import datetime as dt

            from cryptography.hazmat.primitives.asymmetric import ec

            from tests.pki import self_signed_identity

            now = dt.datetime.now(dt.timezone.utc)
            ec_seal = self_signed_identity(tmp / "seal", "ec-seal", not_before=now - dt.timedelta(days=1),
                                           not_after=now + dt.timedelta(days=300),
                                           key=ec.generate_private_key(ec.SECP256R1()))
            trust += f'seal_key = "{ec_seal.key_path}"\nseal_cert = "{ec_seal.cert_path}"\n'
        dns_server, dns = bench.start_sender_dns(tmp / "dns")
        gw = Daemon(write_config(tmp / "gateway", workers=args.workers,
                                 extra="\n[signatures]\nstamp = true\n" + trust + notices + dns))
        if args.gateway_key_seal:
            from gateway.secrecy.keys import KeyStore

            KeyStore(gw.data_dir / "keys").create_gateway_key(
                "Saraban Gateway Seal (bangkok.go.th)", email="saraban-gateway@bangkok.go.th")
        try:
            gw.start(timeout=120)
            warm = bench.write_letters(tmp / "warm", 0, 20, args.size)
            warmed = bench.drive(gw.port, warm, args.sessions)
            # Until every warm-up letter is filed: right after the burst none may be
            # registered yet (filed == registered == 0), and the stamping children and PDF
            # workers, which start with the first letters (~1.5 s of CPU each, imports,
            # seal and font), then started inside the measurement and their start-up was
            # counted as work per letter (~6 ms of the stamping children's 15.8).
            if bench.wait_until(lambda: bench.gateway_filed(gw), warmed.ok, time.monotonic(), 300) is None:
                print("the warm-up letters were not filed within 300 s", file=sys.stderr)
                return 1
            time.sleep(2)  # the warm-up's notices decided, the runners idle
            letters = bench.write_letters(tmp / "letters", 100, args.count, args.size)
            root = gw.proc.pid
            before = cpu_seconds(bench.descendants(root))
            start = time.monotonic()
            sent = bench.drive(gw.port, letters, args.sessions)
            bench.wait_until(lambda: bench.gateway_filed(gw), warmed.ok + sent.ok, start, 1800)
            elapsed = time.monotonic() - start
            if not args.no_notices:  # and the last acknowledgements sent
                bench.wait_until(lambda: sink.count, warmed.ok + sent.ok, start, 60)
            pids = bench.descendants(root)
            after = cpu_seconds(pids)
            events = gw.events()
            runners = runner_names(events)
            added = [e for e in events if e.get("event") == "stamp_child_added"]
            rows = sorted(((*(a - b for a, b in zip(after[p], before.get(p, (0.0, 0.0, 0)))), p, role(p, root, runners))
                           for p in after), key=lambda row: row[0] + row[1], reverse=True)
            memory = {p: memory_mib(p) for p in pids}
        finally:
            gw.stop()
            if dns_server is not None:
                dns_server.stop()
    total = sum(user + system for user, system, _, _, _ in rows)
    system_total = sum(system for _, system, _, _, _ in rows)
    print(f"{sent.ok} letters of {args.size} bytes ({'a typed Thai page' if args.typed else 'a one-line page'} "
          f"in each PDF{', signed' if args.signed else ''}{f', over {len(bench.SPREAD)} units' if bench.SPREAD else ''}{'' if bench.SENDER_CHECKS else ', no sender checks'}{', EC seal' if args.ec_seal else ''}{', the gateway key seals' if args.gateway_key_seal else ''}) filed in {elapsed:.1f} s ({sent.ok / elapsed:.1f}/s), "
          f"{sink.count} acknowledgements sent; "
          f"CPU of the daemon's processes: {total:.1f} s, {1000 * total / max(1, sent.ok):.1f} ms a letter "
          f"({1000 * system_total / max(1, sent.ok):.1f} of it in the kernel)")
    if added:  # a second stamping child is ~90 MiB and ~1 s of CPU to start
        print(f"stamping children added: {len(added)} ("
              + ", ".join(f"{e.get('reason')} at load {e.get('load')} busy {e.get('busy')}" for e in added) + ")")
    # kernel: the system time in it; faults: minor page faults a letter (each a trip into the
    # kernel to map a page, the usual cause of system time in a Python process that frees
    # and maps its memory again)
    print("  CPU a letter   kernel  faults  pid      peak RSS    RSS    PSS  process")
    per = 1000 / max(1, sent.ok)
    for user, system, faults, pid, what in rows:
        hwm, rss, pss = memory.get(pid, (0.0, 0.0, 0.0))
        print(f"  {per * (user + system):9.1f} ms {per * system:6.1f} {faults / max(1, sent.ok):7.0f}  "
              f"{pid:<7} {hwm:6.0f} MiB {rss:6.0f} {pss:6.0f}  {what}")
    print(f"  {'':28}  {'all':<7} {sum(m[0] for m in memory.values()):6.0f} MiB "
          f"{sum(m[1] for m in memory.values()):6.0f} {sum(m[2] for m in memory.values()):6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
