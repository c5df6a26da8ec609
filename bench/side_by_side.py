#!/usr/bin/env python3
"""Side by side, in one run on one machine: Postfix -> Dovecot LMTP against the gateway.

The peer is the plain pipeline the gateway replaces: a private Postfix (its own
config_directory and queue in a temporary directory, on a free loopback port, only the
units of config/units.toml accepted) handing every letter over LMTP to a private
Dovecot that files it in the unit's Maildir (mail_fsync = optimized). The gateway is
the real daemon on its embedded defaults (SQLite, Maildir folders, the demo unit
directory) with the receive stamp on, since stamping is part of its work.
bench/peer/setup.sh installs the Debian packages (`make bench-peer` runs both).

Both get the same letters from the same load generator, Postfix's smtp-source, at
--sessions concurrent sessions. Every letter is distinct: its own Message-ID and its
own PDF bytes. smtp-source -F sends one file's bytes verbatim for every message, and
identical letters would not be a fair load for the gateway: the same Message-ID is a
resend (not registered again), and without one its content-addressed vault would store
the raw message and the PDF only once, which no real day of mail allows. So each
letter is a file of its own and each is sent by one `smtp-source -m 1 -F file` (one
SMTP session per message, smtp-source's own default), --sessions of them at a time.
The spawn costs the same CPU for both sides; it is printed (load generator CPU).

Measured, for each letter size (a PDF, 10 KB and 200 KB in all by default):
- accepted: letters / time from the load generator's start to its end (durable
  accept: both fsync before the 250);
- filed: letters / time from that start until all are in the Maildirs (Postfix: the
  files in Dovecot's new/ dirs; gateway: the folder copies in its folders' Maildirs);
  registered: the same until all are in the register (the gateway's `letters`);
- ratio gateway/peer of each;
- p99 from end of DATA to registered, with letters offered at half the gateway's
  sustained rate, its filed rate (read from the register, as bench/smtp_throughput.py does);
- CPU per letter of each side's whole process tree (from /proc, ended processes
  included), from the first letter sent to the last one filed: the work each side
  does for a letter, which its rate on two cores follows;
- peak RSS summed over all processes of each side, with --rss-sessions connections.

The gateway also acknowledges every letter to its sender, as in service: its notices go
to a smarthost on loopback (bench/notice_sink.py, in this process), without the
per-sender rate limit that would otherwise suppress a burst from one sender
(--no-notices: no smarthost, notices held, as this bench ran until 2026-11-29 evening).
With --signed each letter's PDF carries a PAdES signature of the test PKI's signer
(tests/pki.py), whose root the gateway is told to trust: it verifies one signature a
letter, as for a signed หนังสือ (letter), which an unsigned bench letter never reaches.

Figures are noisy on a shared machine: the load average is printed before and after.
Every process started here (Postfix master and its daemons, Dovecot, the gateway) is
stopped at the end, on error and on Ctrl-C too.
"""
from __future__ import annotations

import argparse
import os
import pwd
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from smtp_throughput import descendants, latencies, registered_count, rss_of_tree  # noqa: E402

from notice_sink import NoticeSink  # noqa: E402
from tests.daemon import Daemon, free_port, write_config  # noqa: E402
from tests.letters import letter, make_pdf  # noqa: E402

PEER = REPO / "bench" / "peer"
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"
UNIT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"
DOMAIN = "bangkok.go.th"


# ---------------------------------------------------------------- letters

def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


# cpu_by_process.py --units N: the letters spread over N units of the demo directory, in
# turn, as a day's mail is, rather than all to UNIT: what the gateway keeps per unit (the
# stamp's font subset and shapes of its name) is then used as it is in service.
SPREAD: list[str] = []


def spread_over(count: int) -> None:
    units = tomllib.loads((REPO / "config" / "units.toml").read_text(encoding="utf-8"))["unit"]
    SPREAD[:] = [f"{u['address']}@{DOMAIN}" for u in units if f"{u['address']}@{DOMAIN}" != SENDER][:count]


def recipient(i: int) -> str:
    return SPREAD[i % len(SPREAD)] if SPREAD else UNIT


# The sender checks (SPF, DKIM, DMARC at DATA, gateway/sender/), on unless
# --no-sender-checks: the letters DKIM-signed for bangkok.go.th, whose SPF lets loopback
# send and whose DMARC is quarantine, served by a DNS server on loopback
# (tests/servers/dns.py) the gateway asks as it asks the BMA's resolver. Until session 29
# the bench ran without them (tests/daemon.py `write_config` turns them off where there
# is no DNS server).
SENDER_CHECKS = True


def sender_zone() -> dict:
    from tests.sender.zones import SELECTOR, key

    return {DOMAIN: {"TXT": ["v=spf1 ip4:127.0.0.0/8 -all"]},
            f"{SELECTOR}._domainkey.{DOMAIN}": {"TXT": [key(DOMAIN).dns_txt]},
            f"_dmarc.{DOMAIN}": {"TXT": ["v=DMARC1; p=quarantine"]}}


def start_sender_dns(workdir: Path):
    """The DNS server the gateway's sender checks ask, and the [dns] section that points
    the gateway at it; (None, "") with --no-sender-checks."""
    if not SENDER_CHECKS:
        return None, ""
    from tests.servers.dns import DnsServer

    server = DnsServer(sender_zone(), workdir).start()
    return server, f'\n[dns]\nnameservers = ["{server.address}"]\ntimeout = 1.0\n'


TYPED = False  # --typed: each letter's PDF a typed Thai page (typed_pdf), not make_pdf's one line
SIGNED = None  # --signed: the test PKI (tests/pki.py) whose signer signs each letter's PDF


def bench_letter(i: int, filler: int) -> bytes:
    pdf = typed_pdf(i, filler) if TYPED else make_pdf(f"cover letter {i}", filler=filler)
    if SIGNED is not None:
        from tests.pki import sign_letter

        pdf = sign_letter(pdf, SIGNED)
    raw = letter(
        to=recipient(i),
        sender=SENDER,
        subject=f"ขอความอนุเคราะห์ข้อมูลประกอบการพิจารณา ครั้งที่ {i}",
        files=[(f"2569_dds_0403_{i}.pdf", pdf)],
        message_id=f"<side-{i}-{time.time_ns()}@dds.bangkok.go.th>",
    )
    if SENDER_CHECKS:
        from tests.sender.zones import dkim_sign

        raw = dkim_sign(raw, DOMAIN)  # as the BMA's outgoing server signs it
    return raw


_TYPED: dict[int, bytes] = {}
_TYPED_MARK = b"bench-letter-000000000"


def typed_pdf(i: int, filler: int) -> bytes:
    """A page typed as a real letter is: the sender's block top left and its urgency top
    right on one line, some 30 lines of Thai in the embedded TLWG Garuda font (fpdf2,
    HarfBuzz shaping), and `filler` bytes as a noise image (a logo or a scan's share)
    at the bottom left. make_pdf's page has one ASCII line, so reading the page for the
    stamp's place (~5 ms on a typed page with PDFium, ~73 ms with pdfminer) and its
    text cost next to nothing there. Built once a size; each letter's copy differs in
    its /Title only (same length, so the cross-reference offsets hold), so every file
    is its own in the vault. About 30 KB at least, whatever size is asked."""
    base = _TYPED.get(filler)
    if base is None:
        import io

        from fpdf import FPDF
        from PIL import Image

        from tests.signatures.producers import GARUDA, LETTER_LINES

        pdf = FPDF(unit="pt", format="A4")
        pdf.set_title(_TYPED_MARK.decode())
        pdf.set_compression(True)
        pdf.add_font("Garuda", fname=str(GARUDA))
        pdf.set_text_shaping(True)
        pdf.add_page()
        pdf.set_font("Garuda", size=14)
        pdf.set_xy(60, 50)
        pdf.cell(475, 20, "สำนักงานเขตบางรัก")
        pdf.set_xy(60, 50)
        pdf.cell(475, 20, "ด่วนที่สุด", align="R")
        pdf.set_xy(60, 90)
        for line in LETTER_LINES * 3:
            pdf.cell(0, 21, line, new_x="LMARGIN", new_y="NEXT")
            pdf.set_x(60)
        if filler:
            side = max(1, int((filler / 3) ** 0.5))
            noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
            buffer = io.BytesIO()
            noise.save(buffer, format="PNG")
            pdf.image(buffer, x=60, y=760, w=40, h=40)
        base = _TYPED[filler] = bytes(pdf.output())
        assert base.count(_TYPED_MARK) == 1, "the /Title mark is not in the file as written"
    return base.replace(_TYPED_MARK, b"bench-letter-%09d" % i)


def filler_for(total: int) -> int:
    """PDF filler bytes that make the whole letter `total` bytes (base64 is 4/3)."""
    bare = len(bench_letter(0, 0))
    return max(0, (total - bare) * 3 // 4)


def write_letters(directory: Path, first: int, count: int, total: int) -> list[Path]:
    """Letters as files for smtp-source -F, which appends CRLF to every line it reads:
    the files have bare LF line ends."""
    directory.mkdir(parents=True, exist_ok=True)
    filler = filler_for(total)
    paths = []
    for i in range(first, first + count):
        path = directory / f"{i}.eml"
        path.write_bytes(bench_letter(i, filler).replace(b"\r\n", b"\n"))
        paths.append(path)
    return paths


# ---------------------------------------------------------------- load generator

@dataclass
class Sent:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of the smtp-source processes
    errors: list[str] = field(default_factory=list)


STOP = threading.Event()


def smtp_source(port: int, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SMTP_SOURCE, "-4", "-m", "1", "-s", "1", "-M", "bench.localdomain", "-f", SENDER, "-t", recipient(int(path.stem)),
         "-F", str(path), f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300,
    )


def drive(port: int, paths: list[Path], sessions: int, pace: float | None = None) -> Sent:
    """Send every file once, `sessions` at a time; with `pace` (letters/s) each letter
    is started no earlier than its turn."""
    sent, lock, nxt = Sent(), threading.Lock(), iter(enumerate(paths))
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()

    def session() -> None:
        while not STOP.is_set():
            with lock:
                try:
                    i, path = next(nxt)
                except StopIteration:
                    return
            if pace:
                delay = start + i / pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            result = smtp_source(port, path)
            with lock:
                if result.returncode == 0:
                    sent.ok += 1
                else:
                    sent.failed += 1
                    if len(sent.errors) < 3:
                        sent.errors.append(result.stderr.decode(errors="replace").strip())

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    sent.seconds = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent.cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if STOP.is_set():
        raise KeyboardInterrupt
    return sent


def wait_until(count, target: int, start: float, timeout: float) -> float | None:
    """Seconds from `start` until count() >= target (None on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not STOP.is_set():
        if count() >= target:
            return time.monotonic() - start
        time.sleep(0.1)
    if STOP.is_set():
        raise KeyboardInterrupt
    return None


def maildir_count(root: Path) -> int:
    """Messages in every Maildir under root (new/ and cur/ of each folder)."""
    total = 0
    try:
        folders = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for folder in folders:
        for sub in ("new", "cur"):
            try:
                total += sum(1 for _ in os.scandir(os.path.join(folder.path, sub)))
            except (FileNotFoundError, NotADirectoryError):
                pass
    return total


def _proc_bytes(pid: int, name: str, key: str) -> int:
    """A size in /proc/<pid>/<name> (e.g. "status", "VmRSS"), in bytes; 0 once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss(pid: int) -> int:
    """Proportional set size: shared pages (libraries, forked memory) divided among
    the processes that share them, so a sum over processes counts them once."""
    return _proc_bytes(pid, "smaps_rollup", "Pss")


def rss_of_tree_one(pid: int) -> int:
    """VmRSS of one process in bytes (0 once it has ended)."""
    return _proc_bytes(pid, "status", "VmRSS")


def _what(pid: int, root: int) -> str:
    """A short name for a process of the gateway's tree (its role, from its command line
    and parent), or of the peer's (its program's name)."""
    try:
        shown = Path(f"/proc/{pid}/comm").read_text().strip()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return "?"
    if shown.startswith("saraban-"):  # its own name (docs/operations.md, "Processes")
        return shown
    if pid == root:
        return "supervisor"
    if "gateway.secrecy.markings" in cmd or "gateway/secrecy/markings.py" in cmd:
        return "DATA-check"
    if "resource_tracker" in cmd:
        return "tracker"
    ours = "gateway.service.child" in cmd or "multiprocessing" in cmd  # the latter: a build before 2026-12
    if parent == root:
        return "runner" if ours else Path(cmd.split(" ", 1)[0]).name
    return "worker" if ours else Path(cmd.split(" ", 1)[0]).name


class RssPeak(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.peak_pss, self.running = pids, 0, 0, True
        self.at_peak: list[tuple[int, str]] = []  # (RSS, what) of each process at the peak
        self.at_pss_peak: list[tuple[int, str]] = []  # (PSS, what) at the PSS peak

    def run(self) -> None:
        while self.running:
            roots = self.pids()
            each = [(rss_of_tree_one(p), p, r) for r in roots for p in descendants(r)]
            total = sum(rss for rss, _, _ in each)
            if total > self.peak:
                self.peak = total
                self.at_peak = sorted(((rss, _what(p, r)) for rss, p, r in each), reverse=True)
            # PSS: each page shared by several processes (the fork server's with its
            # children, a library's) divided among them: what adds up across processes.
            shares = [(pss(p), p, r) for r in roots for p in descendants(r)]
            total_pss = sum(share for share, _, _ in shares)
            if total_pss > self.peak_pss:
                self.peak_pss = total_pss
                self.at_pss_peak = sorted(((share, _what(p, r)) for share, p, r in shares), reverse=True)
            time.sleep(0.1)

    def breakdown(self) -> str:
        return ", ".join(f"{what} {rss / 1024 / 1024:.0f}" for rss, what in self.at_peak if rss)

    def pss_breakdown(self) -> str:
        return ", ".join(f"{what} {share / 1024 / 1024:.0f}" for share, what in self.at_pss_peak if share)

    def __enter__(self) -> "RssPeak":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.join()


# ---------------------------------------------------------------- the peer

def unit_addresses() -> list[str]:
    units = tomllib.loads((REPO / "config" / "units.toml").read_text(encoding="utf-8"))
    return [f"{u['address']}@{DOMAIN}" for u in units["unit"]]


class Peer:
    """Private Postfix -> Dovecot LMTP in a temporary directory."""

    def __init__(self, root: Path):
        self.root = root
        self.postfix_dir = root / "postfix"
        self.dovecot_dir = root / "dovecot"
        self.mail_dir = self.dovecot_dir / "mail"
        self.smtp_port, self.lmtp_port = free_port(), free_port()
        self.dovecot: subprocess.Popen | None = None
        self.postfix_started = False

    def start(self) -> "Peer":
        mail = pwd.getpwnam("mail")
        # Postfix's daemons run as `postfix` and Dovecot's deliveries as `mail`: they
        # must reach their directories under the (root-only) temporary directory.
        self.root.mkdir(parents=True, exist_ok=True)
        for d in (self.root.parent, self.root):
            os.chmod(d, 0o755)
        for d in (self.postfix_dir, self.dovecot_dir / "run", self.dovecot_dir / "state", self.mail_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dovecot_dir, 0o755)
        os.chown(self.mail_dir, mail.pw_uid, mail.pw_gid)
        values = dict(root=self.dovecot_dir, lmtp_port=self.lmtp_port, mail_uid=mail.pw_uid, mail_gid=mail.pw_gid)
        conf = self.dovecot_dir / "dovecot.conf"
        conf.write_text((PEER / "dovecot.conf.in").read_text().format(**values))
        self.dovecot = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
            stdout=open(self.dovecot_dir / "stdout.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )

        values = dict(root=self.postfix_dir, smtp_port=self.smtp_port, lmtp_port=self.lmtp_port)
        for name in ("main.cf", "master.cf"):
            (self.postfix_dir / name).write_text((PEER / f"{name}.in").read_text().format(**values))
        (self.postfix_dir / "units").write_text("".join(f"{a} ok\n" for a in unit_addresses()))
        postfix_user = pwd.getpwnam("postfix")
        (self.postfix_dir / "queue").mkdir(mode=0o755)
        (self.postfix_dir / "data").mkdir(mode=0o700)
        os.chown(self.postfix_dir / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        self.postfix("check")  # creates the queue's subdirectories with their owners
        self.postfix_started = True
        self.postfix("start")
        wait_for_port(self.lmtp_port, self.log_tail)
        wait_for_port(self.smtp_port, self.log_tail)
        return self

    def postfix(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([POSTFIX, "-c", str(self.postfix_dir), command], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"postfix {command} failed:\n{result.stdout}{result.stderr}\n{self.log_tail()}")
        return result

    def master_pid(self) -> int | None:
        try:
            return int((self.postfix_dir / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        return [p for p in (self.master_pid(), self.dovecot and self.dovecot.pid) if p]

    def filed(self) -> int:
        return maildir_count(self.mail_dir)

    def log_tail(self) -> str:
        out = []
        for log in (self.postfix_dir / "maillog", self.dovecot_dir / "dovecot.log", self.dovecot_dir / "stdout.log"):
            try:
                out.append(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self) -> None:
        if self.postfix_started:
            master = self.master_pid()
            self.postfix("stop", check=False)
            if master:
                deadline = time.monotonic() + 20
                while alive(master) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if alive(master):  # the master is a session leader: its daemons are its group
                    kill_group(master)
            self.postfix_started = False
        if self.dovecot and self.dovecot.poll() is None:
            self.dovecot.terminate()
            try:
                self.dovecot.wait(20)
            except subprocess.TimeoutExpired:
                kill_group(self.dovecot.pid)
                self.dovecot.wait(5)


def alive(pid: int) -> bool:
    from gateway.service.process_util import pid_alive

    return pid_alive(pid)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for_port(port: int, why, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}\n{why()}")


# ---------------------------------------------------------------- the gateway

def default_workers() -> int:
    from gateway.config.settings import PipelineSection

    return PipelineSection().runners  # workers = 0: one per two cores


def gateway_filed(d: Daemon) -> int:
    return maildir_count(d.data_dir / "folders")


def _wait_filed(d: Daemon, timeout: float) -> None:
    """Until every registered letter is in its folder."""
    deadline = time.monotonic() + timeout
    while gateway_filed(d) < registered_count(d) and time.monotonic() < deadline:
        time.sleep(0.2)


# ---------------------------------------------------------------- the run

@dataclass
class Row:
    side: str
    size: str
    letters: int = 0
    failed: int = 0
    accepted: float = 0.0
    registered: float | None = None
    filed: float | None = None
    gen_cpu: float = 0.0
    p99: float | None = None
    p50: float | None = None
    steady_rate: float | None = None
    cpu_ms: float | None = None  # CPU of the side's whole process tree per letter, accepted to filed
    errors: list[str] = field(default_factory=list)


def rate(n: int, seconds: float | None) -> float | None:
    return n / seconds if seconds else None


def burst(side: str, size: str, port: int, paths: list[Path], sessions: int, counts: dict, timeout: float,
          roots=None) -> Row:
    base = {name: count() for name, count in counts.items()}
    cpu0 = tree_cpu(roots()) if roots else None
    start = time.monotonic()
    sent = drive(port, paths, sessions)
    row = Row(side, size, sent.ok, sent.failed, sent.ok / sent.seconds, gen_cpu=sent.cpu, errors=sent.errors)
    for name, count in counts.items():
        elapsed = wait_until(count, base[name] + sent.ok, start, timeout)
        setattr(row, name, rate(sent.ok, elapsed))
    if cpu0 is not None and sent.ok:
        # From the first letter to the last filed: all the work done for these letters.
        row.cpu_ms = (tree_cpu(roots()) - cpu0) * 1000 / sent.ok
    return row


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and every process below them: each
    live one's own user+system time plus what its children that have ended and been
    waited for used (cutime+cstime), so Postfix's smtpd per session and Dovecot's
    lmtp processes count after they exit, as do the gateway's replaced workers."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    seen = set()
    for root in roots:
        for pid in descendants(root):
            if pid in seen:
                continue
            seen.add(pid)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile: its parent's cutime has it once it is waited for
            total += sum(int(f) for f in fields[11:15])
    return total / tick


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="letters per size and side (default 1000)")
    ap.add_argument("--sizes", default="10k,200k", help="total letter sizes (default 10k,200k)")
    ap.add_argument("--sessions", type=int, default=20, help="concurrent smtp-source sessions (default 20)")
    ap.add_argument("--workers", type=int, default=None,
                    help="the gateway's [pipeline] workers (default: the daemon's own default)")
    ap.add_argument("--rss-sessions", type=int, default=50, help="connections while peak RSS is sampled (50)")
    ap.add_argument("--rss-count", type=int, default=200, help="letters of the largest size sent for RSS (200)")
    ap.add_argument("--steady-seconds", type=float, default=15.0,
                    help="seconds of letters at half the sustained (filed) rate, for p99 (default 15)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="letters sent to each side before measuring, not counted (default 20)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for a burst to be filed")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--per-ip-share", action="store_true",
                    help="hold smtp-source (one client IP) to the per-IP shares, as a relay not "
                         "listed in [smtp] client_limit_exceptions is")
    ap.add_argument("--gateway-config", default="",
                    help='TOML appended to the gateway\'s configuration, e.g. "[service]\\nbackground_nice = 0"')
    ap.add_argument("--typed", action="store_true",
                    help="each letter's PDF a typed Thai page (about 22 KB at least), not a one-line page")
    ap.add_argument("--signed", action="store_true",
                    help="each letter's PDF signed (PAdES, by a signer of the test PKI the gateway is told "
                         "to trust, tests/pki.py): the gateway verifies every signature")
    ap.add_argument("--no-notices", action="store_true",
                    help="the gateway without a smarthost: acknowledgements decided and held, not rendered or "
                         "sent (how this bench ran until 2026-11-29 evening)")
    ap.add_argument("--no-sender-checks", action="store_true",
                    help="the gateway without SPF, DKIM and DMARC at DATA, and the letters unsigned (how this "
                         "bench ran until session 29)")
    ap.add_argument("--postgres", action="store_true",
                    help="the gateway on a PostgreSQL cluster started for the run (tests/servers/postgres.py) "
                         "instead of its embedded SQLite")
    args = ap.parse_args()
    global TYPED, SIGNED, SENDER_CHECKS
    TYPED = args.typed
    SENDER_CHECKS = not args.no_sender_checks
    workers = args.workers or default_workers()
    sizes = [(s.strip(), parse_size(s)) for s in args.sizes.split(",") if s.strip()]
    for tool in (SMTP_SOURCE, POSTFIX, DOVECOT):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: run bench/peer/setup.sh first (or `make bench-peer`)")
    if os.geteuid() != 0:
        sys.exit("the peer's Postfix and Dovecot run as their own users: run this as root")

    # Ctrl-C and SIGTERM end the run through the finally below, which stops everything.
    def interrupted(signum, frame):
        STOP.set()
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    tmp = Path(tempfile.mkdtemp(prefix="saraban-side-"))
    trust = ""
    if args.signed:
        from tests.pki import build_pki

        SIGNED = build_pki(tmp / "pki")
        trust = SIGNED.trust_config
    peer: Peer | None = None
    gw: Daemon | None = None
    cluster = None  # --postgres
    dns_server = None  # the sender checks' DNS
    sink = NoticeSink()
    rows: list[Row] = []
    rss: dict[str, int] = {}
    at_peak: dict[str, str] = {}
    at_pss_peak: dict[str, str] = {}
    load_before = uptime()
    print(load_before, file=sys.stderr)
    try:
        print(f"preparing letters in {tmp} ...", file=sys.stderr)
        letters: dict[str, dict[str, list[Path]]] = {}
        n = 0
        for label, total in sizes:
            letters[label] = {}
            for side in ("peer", "gateway"):
                letters[label][side] = write_letters(tmp / "letters" / f"{side}-{label}", n, args.count, total)
                n += args.count
        big_label, big = max(sizes, key=lambda s: s[1])
        rss_letters = {side: write_letters(tmp / "letters" / f"{side}-rss", n + k * args.rss_count,
                                           args.rss_count, big) for k, side in enumerate(("peer", "gateway"))}
        n += 2 * args.rss_count
        # Both sides start cold (Postfix spawns its daemons on first use; the gateway
        # makes its seal key and starts its PDF workers): a few letters first, unmeasured.
        small = min(sizes, key=lambda s: s[1])[1]
        warm = {side: write_letters(tmp / "letters" / f"{side}-warm", n + k * args.warmup, args.warmup, small)
                for k, side in enumerate(("peer", "gateway"))}
        n += 2 * args.warmup
        sample = {label: letters[label]["peer"][0].stat().st_size for label, _ in sizes}

        # The peer first, alone on the machine; then the gateway, alone (an idle gateway
        # still polls its spool, which would cost the peer).
        print("peer: starting Postfix -> Dovecot LMTP ...", file=sys.stderr)
        peer = Peer(tmp / "peer")
        peer.start()
        burst("warm-up", "", peer.smtp_port, warm["peer"], args.sessions, {"filed": peer.filed}, args.timeout)
        for label, _ in sizes:
            print(f"peer: {args.count} letters of {label} ...", file=sys.stderr)
            row = burst("postfix->dovecot", label, peer.smtp_port, letters[label]["peer"], args.sessions,
                        {"filed": peer.filed}, args.timeout, roots=peer.pids)
            rows.append(row)
        with RssPeak(peer.pids) as sampler:
            base = peer.filed()
            sent = drive(peer.smtp_port, rss_letters["peer"], args.rss_sessions)
            wait_until(peer.filed, base + sent.ok, time.monotonic(), args.timeout)
        rss["postfix->dovecot"] = (sampler.peak, sampler.peak_pss)
        peer.stop()
        peer = None

        print(f"gateway: starting the daemon ({workers} pipeline runner(s), receive stamp on) ...", file=sys.stderr)
        database = None
        if args.postgres:
            from tests.servers.postgres import PostgresCluster

            cluster = PostgresCluster().start()
            database = cluster.create_database("bench")
        notices = "" if args.no_notices else sink.start().config()
        dns_server, dns = start_sender_dns(tmp / "dns")
        # smtp-source stands for the central relay every letter comes through: listed
        # in client_limit_exceptions, as Postfix's $mynetworks (127.0.0.0/8) exempts it
        # from the peer's per-client limits.
        relay = "" if args.per_ip_share else 'client_limit_exceptions = ["127.0.0.0/8"]\n'
        gw = Daemon(write_config(tmp / "gateway", workers=workers, database_url=database, smtp_extra=relay,
                                 extra="\n[signatures]\nstamp = true\n" + trust + notices + dns
                                 + args.gateway_config.replace("\\n", "\n") + "\n"))
        gw.start(timeout=120)
        gw._log.close()  # the daemon writes its log itself; Daemon.stop closes it again harmlessly
        counts = {"registered": lambda: registered_count(gw), "filed": lambda: gateway_filed(gw)}
        burst("warm-up", "", gw.port, warm["gateway"], args.sessions, counts, args.timeout)
        n_steady = 0
        for label, total in sizes:
            print(f"gateway: {args.count} letters of {label} ...", file=sys.stderr)
            row = burst("gateway", label, gw.port, letters[label]["gateway"], args.sessions, counts, args.timeout,
                        roots=lambda: [gw.proc.pid])
            rows.append(row)
            if row.registered:
                # Half the sustained rate: what the gateway keeps up with end to end is
                # its filed rate (the receive stamp follows registration); offering half
                # the registered rate would grow a filing backlog that competes for the
                # cores with the very letters being timed.
                pace = min(row.registered, row.filed or row.registered) / 2
                steady = write_letters(tmp / "letters" / f"steady-{label}", n + n_steady,
                                       max(20, int(pace * args.steady_seconds)), total)
                n_steady += len(steady)
                print(f"gateway: {len(steady)} letters of {label} at {pace:.1f}/s for p99 ...", file=sys.stderr)
                since = registered_count(gw)
                sent = drive(gw.port, steady, args.sessions, pace=pace)
                wait_until(counts["registered"], since + sent.ok, time.monotonic(), args.timeout)
                lat = sorted(latencies(gw, since))
                _wait_filed(gw, args.timeout)  # the next phase starts with nothing left to file
                if lat:
                    row.steady_rate = pace
                    row.p50 = statistics.median(lat)
                    row.p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        with RssPeak(lambda: [gw.proc.pid]) as sampler:
            since = registered_count(gw)
            sent = drive(gw.port, rss_letters["gateway"], args.rss_sessions)
            wait_until(counts["registered"], since + sent.ok, time.monotonic(), args.timeout)
        rss["gateway"] = (sampler.peak, sampler.peak_pss)
        at_peak["gateway"] = sampler.breakdown()
        at_pss_peak["gateway"] = sampler.pss_breakdown()
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        if peer is not None:
            peer.stop()
        if gw is not None:
            gw.stop()
        sink.stop()
        if dns_server is not None:
            dns_server.stop()
        if cluster is not None:
            cluster.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    report(args, workers, sizes, sample, rows, rss, big_label, load_before, uptime(), at_peak, at_pss_peak)
    return 0


def report(args, workers, sizes, sample, rows, rss, big_label, load_before, load_after,
           at_peak: dict[str, str] | None = None, at_pss_peak: dict[str, str] | None = None) -> None:
    by = {(r.side, r.size): r for r in rows}
    print()
    print(f"Side by side, {args.count} letters per size, smtp-source -s {args.sessions} (one letter per "
          f"session), gateway: {workers} pipeline runner(s), receive stamp on, {'no sender checks' if args.no_sender_checks else 'SPF, DKIM and DMARC checked'}, {'notices held' if args.no_notices else 'every acknowledgement sent'}, {'PostgreSQL' if args.postgres else 'SQLite'}; "
          f"{'a typed Thai page' if args.typed else 'a one-line page'} in each letter's PDF{', signed' if args.signed else ''}; {os.cpu_count()} CPUs")
    print(f"before: {load_before}")
    print(f"after:  {load_after}")
    print()
    print("| size | side | accepted/s | registered/s | filed/s | CPU per letter, accepted to filed | load generator CPU s | failed |")
    print("|---|---|---|---|---|---|---|---|")
    for label, _ in sizes:
        for side in ("postfix->dovecot", "gateway"):
            r = by.get((side, label))
            if r is None:
                continue
            print(f"| {label} ({sample[label] / 1024:.0f} KiB) | {side} | {fmt(r.accepted)} | "
                  f"{fmt(r.registered) if side == 'gateway' else '-'} | {fmt(r.filed)} | {fmt(r.cpu_ms, ' ms')} | "
                  f"{r.gen_cpu:.1f} | {r.failed} |")
    print()
    print("| size | accepted gateway/peer | registered (gateway) / filed (peer) | filed gateway/peer | "
          "p99 end of DATA -> registered (at half the sustained, i.e. filed, rate) |")
    print("|---|---|---|---|---|")
    for label, _ in sizes:
        p, g = by.get(("postfix->dovecot", label)), by.get(("gateway", label))
        if p is None or g is None:
            continue
        p99 = "-" if g.p99 is None else (f"{g.p99 * 1000:.0f} ms (p50 {g.p50 * 1000:.0f} ms, "
                                         f"{g.steady_rate:.1f}/s offered)")
        print(f"| {label} | {ratio(g.accepted, p.accepted)} | {ratio(g.registered, p.filed)} | "
              f"{ratio(g.filed, p.filed)} | {p99} |")
    print()
    print(f"peak memory, all processes, {args.rss_sessions} connections ({args.rss_count} letters of {big_label}): "
          + ", ".join(f"{side} RSS {r / 1024 / 1024:.0f} MiB (PSS {p / 1024 / 1024:.0f} MiB)"
                      for side, (r, p) in rss.items()))
    for side, breakdown in (at_peak or {}).items():
        print(f"  {side} at its peak, RSS MiB by process: {breakdown}")
    for side, breakdown in (at_pss_peak or {}).items():
        print(f"  {side} at its PSS peak, PSS MiB by process: {breakdown}")
    for r in rows:
        for e in r.errors:
            print(f"{r.side} {r.size} smtp-source error: {e}")


if __name__ == "__main__":
    sys.exit(main())
