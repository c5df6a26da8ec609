"""A randomized kill campaign (session 20): letters keep arriving over SMTP while the
daemon, or one of its processes, is killed with SIGKILL at random moments (or stopped
with SIGSTOP for a while) and started again. Whatever the moment, every letter that
got a `250` ends registered exactly once per unit, numbered without a gap, filed
exactly once, acknowledged with one notice; nothing parked, held or left in the spool,
no process left after the stop.

tests/test_crash_safety.py kills at chosen points; this file kills at random ones,
seeded (the seed is printed: `SARABAN_CAMPAIGN_SEED=<seed>` replays a run). The suite
runs a cheap fixed subset (seed 20, 10 kills, SQLite and Maildir); by hand,
`SARABAN_CAMPAIGN_KILLS=60 pytest -s tests/test_kill_campaign_session20.py` runs a long
one on both backends (PostgreSQL and Dovecot, each stopped for a while mid-way:
`SARABAN_CAMPAIGN_OUTAGE` seconds). Then one test per defect the campaign found.
"""
from __future__ import annotations

import email
import email.policy
import os
import random
import signal
import smtplib
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.imap_helpers import delivery_config
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng.admin@bangkok.go.th"
UNIT_OF = {LATKRABANG: "saraban.latkrabang", DINDAENG: "saraban.dindaeng.admin"}


# -- the letters ---------------------------------------------------------------------


@dataclass
class Planned:
    mid: str
    raw: bytes
    to: list[str]
    kind: str
    acked: list[str] = field(default_factory=list)  # queue ids of each 250


def plan_letters(rng: random.Random, count: int) -> list[Planned]:
    """Ordinary, urgent, with a larger PDF, ลับ (sealed), to two units; resends of an
    earlier letter are added by the senders once it was acknowledged."""
    out = []
    for n in range(count):
        kind = rng.choices(["ordinary", "urgent", "big", "secret", "two_units"], [4, 2, 1, 2, 2])[0]
        mid = f"<campaign-{n}-{uuid.uuid4().hex[:8]}@dds.bangkok.go.th>"
        to = [LATKRABANG]
        if kind == "secret":
            body = ("ลับ\nที่ กท ๐๔๐๓/๑๒\nวันที่ ๑๓ มิถุนายน ๒๕๖๕\nเรื่อง แผนรักษาความปลอดภัย\n"
                    "เรียน ผู้อำนวยการเขตลาดกระบัง\n")
            raw = letter(subject=f"ลับ แผนรักษาความปลอดภัย {n}", body=body, message_id=mid,
                         files=[("2569_dds_0403_57.pdf", make_pdf(f"secret cover {n}"))])
        elif kind == "urgent":
            body = ("ด่วนที่สุด\nที่ กท ๐๔๐๓/๑๒\nวันที่ ๑๓ มิถุนายน ๒๕๖๕\nเรื่อง ขอเชิญประชุมด่วน\n"
                    "เรียน ผู้อำนวยการเขตลาดกระบัง\n")
            raw = letter(subject=f"ด่วนที่สุด ขอเชิญประชุม {n}", body=body, message_id=mid,
                         files=[("2569_dds_0403_57.pdf", make_pdf(f"urgent {n}"))])
        elif kind == "big":
            raw = letter(message_id=mid, subject=f"รายงานประจำปี {n}",
                         files=[("2569_dds_0403_57.pdf", make_pdf(f"report {n}", filler=400_000)),
                                ("2569_dds_0403_57_1.pdf", make_pdf(f"annex {n}", pages=3))])
        else:
            raw = letter(message_id=mid, subject=f"การสมัครขอใช้งานโปรแกรม {n}",
                         files=[("2569_dds_0403_57.pdf", make_pdf(f"letter {n}"))])
            if kind == "two_units":
                to = [LATKRABANG, DINDAENG]
        out.append(Planned(mid, raw, to, kind))
    return out


# -- the processes ---------------------------------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            out.append(int(name))
    return out


def children_of(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            out += [int(p) for p in text]
    except OSError:
        pass
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def runners(d: Daemon) -> dict[str, int]:
    """The live runners by name (the last `runner_spawned` of each)."""
    out = {}
    for e in d.events():
        if e.get("event") == "runner_spawned":
            out[e["runner"]] = e["pid"]
    live = set(children_of(d.proc.pid))
    return {name: pid for name, pid in out.items() if pid in live}


KILLS = ("group", "supervisor", "pipeline", "delivery", "child", "datacheck", "stop_runner")


# -- the campaign ----------------------------------------------------------------------


class Campaign:
    def __init__(self, d: Daemon, rng: random.Random, letters: list[Planned], log=print):
        self.d, self.rng, self.letters, self.log = d, rng, letters, log
        self.lock = threading.Lock()
        self.todo: list[Planned] = list(letters)
        self.resends: list[Planned] = []
        self.done_sending = threading.Event()
        self.kills: Counter = Counter()
        self.refused: Counter = Counter()
        self.pace = 0.0  # seconds a sender waits between letters: the stream lasts the campaign

    def sender(self, worker: int) -> None:
        rng = random.Random(self.rng.random() + worker)
        while True:
            with self.lock:
                if not self.todo:
                    return
                p = self.todo.pop(0)
            try:
                code, text = self.d.data_reply(p.raw, p.to)
            except (OSError, smtplib.SMTPException, AssertionError) as exc:
                code, text = None, str(exc).encode()
            with self.lock:
                if code == 250:
                    p.acked.append(text.decode().rsplit(" ", 1)[-1])
                    if len(p.acked) == 1 and rng.random() < 0.15:
                        self.todo.append(p)  # the sender's MTA sends it again (a resend)
                else:
                    self.refused[str(code)] += 1
                    self.todo.append(p)  # no 250: the sender keeps it and retries
            time.sleep(rng.uniform(0, 2 * self.pace) if code == 250 else 0.2)

    def kill_once(self, what: str) -> str:
        d = self.d
        if what == "group":
            d.kill9()
            return "group"
        if what == "supervisor":
            os.kill(d.proc.pid, signal.SIGKILL)
            d.proc.wait(10)
            return "supervisor"
        live = runners(d)
        if what in ("pipeline", "delivery", "stop_runner"):
            names = [n for n in live if n.startswith(what)] if what != "stop_runner" else list(live)
            if not names:
                return "none"
            name = self.rng.choice(sorted(names))
            if what == "stop_runner":
                pause = self.rng.uniform(1.0, 4.0)
                os.kill(live[name], signal.SIGSTOP)
                time.sleep(pause)
                os.kill(live[name], signal.SIGCONT)
                return f"stop {name} {pause:.1f}s"
            os.kill(live[name], signal.SIGKILL)
            return f"kill {name}"
        if what == "child":
            kids = [(name, kid) for name, pid in live.items() for kid in children_of(pid)]
            if not kids:
                return "none"
            name, kid = self.rng.choice(sorted(kids))
            os.kill(kid, signal.SIGKILL)
            return f"kill child of {name}"
        if what == "datacheck":
            workers = [p for p in children_of(d.proc.pid) if "gateway.secrecy.markings" in cmdline(p)]
            if not workers:
                return "none"
            os.kill(self.rng.choice(sorted(workers)), signal.SIGKILL)
            return "kill data-check worker"
        raise ValueError(what)

    def restart_if_dead(self) -> None:
        d = self.d
        if d.proc.poll() is None:
            return
        pgid = d.proc.pid
        d.wait_for(lambda: not group_members(pgid), timeout=30, interval=0.05,
                   what=f"the killed daemon's processes to end: {group_members(pgid)}")
        d._log.close()
        d.start(timeout=60)

    def run(self, kills: int, senders: int = 3, between=(0.3, 2.5), weights=None, outage=None) -> None:
        self.pace = kills * sum(between) / 2 * senders / max(1, len(self.letters))
        threads = [threading.Thread(target=self.sender, args=(n,), daemon=True) for n in range(senders)]
        for t in threads:
            t.start()
        last = None
        for n in range(kills):
            time.sleep(self.rng.uniform(*between))
            what = self.rng.choices(KILLS, weights or [3, 2, 3, 3, 2, 1, 1])[0]
            if what in ("pipeline", "delivery") and what == last:
                # A runner that dies alone again and again while it works one letter or
                # copy alone is taken to die of it (the OOM killer: docs/central-unit.md,
                # "Parked letters"), by design: the whole daemon dies instead.
                what = "group"
            last = what
            if outage is not None and n == kills // 2:
                outage()
            done = self.kill_once(what)
            self.kills[done.rsplit(" ", 1)[0] if done.startswith("stop") else done] += 1
            self.log(f"kill {n + 1}/{kills}: {done}")
            self.restart_if_dead()
        deadline = time.monotonic() + 300
        for t in threads:
            t.join(max(1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "senders still busy"


# -- the invariants ----------------------------------------------------------------------


def folder_copies(d: Daemon) -> Counter:
    """(queue id, unit, secret?) of every copy in the Maildir folders."""
    found: Counter = Counter()
    root = d.data_dir / "folders"
    for path in root.glob("*/*/*"):
        if path.parent.name not in ("new", "cur"):
            continue
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        found[(msg["X-Saraban-Queue-Id"], path.parent.parent.name)] += 1
    return found


def check_invariants(d: Daemon, letters: list[Planned], sink: Sink, copies: Counter) -> list[str]:
    """Everything the campaign promises, as a list of broken promises (empty: kept).
    `copies`: (queue id, folder) -> copies found in the unit's folders."""
    import json

    problems: list[str] = []
    entries = d.register()
    by_mid: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in entries:
        by_mid[(e.get("message_id"), e["unit"])].append(e)
    for p in letters:
        if not p.acked:
            continue
        for rcpt in p.to:
            got = by_mid.get((p.mid, UNIT_OF[rcpt]), [])
            if len(got) != 1:
                problems.append(f"{p.kind} {p.mid} to {UNIT_OF[rcpt]}: registered {len(got)} times "
                                f"(250s: {p.acked}; entries {[(e['queue_id'], e['receive_no']) for e in got]})")
    books: dict[tuple, list[int]] = defaultdict(list)
    for e in entries:
        books[(e["unit"], e.get("book"), e.get("year", e["receive_no"].rsplit("/", 1)[-1]))].append(e["number"])
    for book, numbers in books.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            problems.append(f"numbers of {book} not gapless/unique: {sorted(numbers)}")
    # One copy per registered letter in its unit's folder (ordinary) or the registrar's.
    for e in entries:
        folder = e["unit"].removeprefix("saraban.").replace(".", "_")
        if e.get("book") == "secret":
            folder = folder + ".secret"
        n = copies.get((e["queue_id"], folder), 0)
        if n != 1:
            problems.append(f"{e['receive_no']} {e['unit']} ({e['queue_id']}): {n} copies in {folder}")
    registered_qids = {(e["queue_id"], e["unit"]) for e in entries}
    extra = [k for k in copies if not any(k[0] == q for q, _u in registered_qids)]
    if extra:
        problems.append(f"copies of letters not in the register: {extra[:5]}")
    # One acknowledgement per letter and unit (a notice sent again after a kill is the
    # same message, same Message-ID: docs/notices.md).
    acks: dict[str, set[str]] = defaultdict(set)
    for r in sink.messages():
        acks[r.message["In-Reply-To"]].add(r.message["Message-ID"])
    for p in letters:
        if p.acked and len(acks.get(p.mid, ())) != len(p.to):
            problems.append(f"{p.kind} {p.mid}: {len(acks.get(p.mid, ()))} distinct notices for {len(p.to)} units")
    if not entries or not copies or not acks:
        problems.append(f"nothing to check: {len(entries)} entries, {len(copies)} copies, {len(acks)} notices")
    held = json.loads(d.cli("quarantine", "list", "--json").stdout)
    if held:
        problems.append(f"in quarantine: {[(h['queue_id'], [r['rule'] for r in h['reasons']]) for h in held][:5]}")
    spool = d.data_dir / "spool"
    for part in ("new", "tmp", "failed", "readings"):
        left = list((spool / part).glob("*")) if (spool / part).exists() else []
        if left:
            problems.append(f"spool/{part} not empty: {[p.name for p in left][:5]}")
    half_written = [str(p.relative_to(d.data_dir)) for p in d.data_dir.rglob("*")
                    if p.is_file() and (p.suffix == ".tmp" or p.parent.name == "tmp")]
    if half_written:
        problems.append(f"half-written files left: {half_written[:5]}")
    status = d.status_here()
    if set(status["messages"]) - {"done"}:
        problems.append(f"messages not done: {status['messages']}")
    for kind, states in status["outbox"].items():
        if set(states) - {"done"}:
            problems.append(f"outbox {kind}: {states}")
    return problems


# -- the test ----------------------------------------------------------------------------


def campaign_config(tmp: Path, sink: Sink, workers: int = 2, database_url: str | None = None, extra: str = "") -> Path:
    notices = notices_config(sink, max_per_sender_per_hour=0, max_per_domain_per_hour=0)
    return write_config(tmp, workers=workers, database_url=database_url,
                        extra="[signatures]\nstamp = true\n" + notices + extra)


@pytest.fixture(scope="module")
def sink():
    s = Sink(free_port()).start()
    yield s
    s.stop()


def prepare_keys(d: Daemon) -> None:
    from tests.classified.helpers import add_registrar, make_gateway_key

    make_gateway_key(d)
    add_registrar(d)


def run_campaign(tmp: Path, sink: Sink, seed: int, kills: int, letters: int, database_url: str | None = None,
                 extra: str = "", outage=None, copies=folder_copies, log=print) -> tuple[list[str], Campaign]:
    rng = random.Random(seed)
    log(f"kill campaign seed {seed}: {kills} kills, {letters} letters")
    d = Daemon(campaign_config(tmp, sink, database_url=database_url, extra=extra))
    prepare_keys(d)
    d.start(timeout=60)
    c = Campaign(d, rng, plan_letters(rng, letters), log=log)
    # By hand: how often each kind of kill (KILLS' order) and the pause between kills.
    weights = [float(w) for w in os.environ["SARABAN_CAMPAIGN_WEIGHTS"].split(",")] \
        if os.environ.get("SARABAN_CAMPAIGN_WEIGHTS") else None
    between = tuple(float(x) for x in os.environ.get("SARABAN_CAMPAIGN_BETWEEN", "0.3,2.5").split(","))
    try:
        c.run(kills, outage=outage, weights=weights, between=between)
        c.restart_if_dead()
        d.wait_idle(timeout=300)
        pgid = d.proc.pid
        assert d.stop() == 0
        # Children the supervisor's exit has just killed take a moment to be gone (an
        # empty cmdline: exiting): a process still there after 10 s is left behind.
        deadline = time.monotonic() + 10
        while (left := group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        problems = [f"processes left after the stop: {[cmdline(p) for p in left]}"] if left else []
        problems += check_invariants(d, c.letters, sink, copies(d))
        return problems, c
    finally:
        if d.proc.poll() is None:
            d.stop()
        left = group_members(d.proc.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)


def test_random_kills_sqlite_maildir(tmp_path, sink):
    seed = int(os.environ.get("SARABAN_CAMPAIGN_SEED", "20"))
    kills = int(os.environ.get("SARABAN_CAMPAIGN_KILLS", "10"))
    letters = int(os.environ.get("SARABAN_CAMPAIGN_LETTERS", str(max(24, 3 * kills))))
    problems, c = run_campaign(tmp_path, sink, seed, kills, letters)
    print(f"seed {seed}: kills {dict(c.kills)}; refused {dict(c.refused)}")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)


def imap_copies(dovecot, user: str):
    """(queue id, folder) of every copy on the IMAP server, as the checker counts them:
    Saraban/<folder> the unit's folder, Saraban/<folder>/Secret its registrar's."""
    import re

    def count(_d: Daemon) -> Counter:
        found: Counter = Counter()
        conn = dovecot.imap(user)
        try:
            _typ, listing = conn.list()
            names = [re.search(rb'"([^"]*)"$|(\S+)$', line).group(0).strip(b'"').decode() for line in listing or []]
            for name in names:
                typ, _ = conn.select(f'"{name}"', readonly=True)
                if typ != "OK":
                    continue
                typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (X-Saraban-Queue-Id)])")
                parts = name.split("/")
                folder = parts[1] + (".secret" if parts[-1] == "Secret" else "") if len(parts) > 1 else name
                for item in data or []:
                    if isinstance(item, tuple):
                        header = email.message_from_bytes(item[1])
                        found[(header["X-Saraban-Queue-Id"], folder)] += 1
        finally:
            conn.logout()
        return found
    return count


@pytest.mark.skipif(not os.environ.get("SARABAN_CAMPAIGN_KILLS"),
                    reason="a long run, by hand: SARABAN_CAMPAIGN_KILLS=30 (the suite's time is spent)")
def test_random_kills_postgres_imap_with_outages(tmp_path, sink, postgres_cluster, postgres_database_url, dovecot):
    """The same on PostgreSQL and Dovecot, each stopped for a while in the middle
    (SARABAN_CAMPAIGN_OUTAGE seconds, 4 by default): letters wait and are retried,
    never parked."""
    seed = int(os.environ.get("SARABAN_CAMPAIGN_SEED", "21"))
    kills = int(os.environ.get("SARABAN_CAMPAIGN_KILLS", "6"))
    letters = int(os.environ.get("SARABAN_CAMPAIGN_LETTERS", str(max(18, 3 * kills))))
    user = f"campaign{os.getpid()}"
    dovecot.ensure_running()
    dovecot.add_user(user, f"pw-{user}")
    extra = delivery_config(dovecot, user, f"pw-{user}") + '[delivery.units."saraban.dindaeng.admin"]\nbackend = "imap"\n'

    def outage() -> None:
        seconds = float(os.environ.get("SARABAN_CAMPAIGN_OUTAGE", "4"))
        print(f"outage: PostgreSQL and Dovecot stopped for {seconds} s")
        postgres_cluster._halt()
        dovecot.halt()
        time.sleep(seconds)
        postgres_cluster.start()
        dovecot.resume()

    problems, c = run_campaign(tmp_path, sink, seed, kills, letters, database_url=postgres_database_url,
                               extra=extra, outage=outage, copies=imap_copies(dovecot, user))
    print(f"seed {seed}: kills {dict(c.kills)}; refused {dict(c.refused)}")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)


def _through_crashes(d: Daemon, point: str, crashes: int, between=None) -> str:
    """Send a letter to a daemon started with the crash point set, and start it again
    until it has been killed `crashes` times (each run killed, its whole process group,
    as kill -9 would, when a runner reaches the point); `between()` before the last
    start, without the point. Returns the letter's queue id."""
    d.env = {"SARABAN_CRASHPOINT": point}
    d.start(timeout=60)
    try:
        queue_id = d.send(letter(), LATKRABANG)
    except smtplib.SMTPServerDisconnected:
        # A runner reached the point, and killed the whole group, between the spool's
        # rename and the 250 going out (a loaded machine): the letter was taken, as
        # its `accepted` event (written before the 250) says.
        [queue_id] = [e["queue_id"] for e in d.events() if e.get("event") == "accepted"]
    for crash in range(crashes):
        if crash:
            d.start(timeout=60)
        d.proc.wait(60)
        assert d.proc.returncode != 0, d.log_tail()
        d._log.close()
    if between is not None:
        between()
    d.env = {}
    d.start(timeout=60)
    return queue_id


def test_a_letter_open_when_the_daemon_is_killed_again_and_again_is_registered_not_parked(tmp_path):
    """The whole daemon killed (kill -9 of its group, a power cut) twice while a letter
    was being checked, `[pipeline] max_attempts = 2`: each death counted as the letter's
    own, as if it took the runner down, and the letter was parked (quarantine "parked",
    RunnerKilled) and never registered. A death of the whole daemon is not the letter's:
    it is registered once at the next start, no one's quarantine holds it."""
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[pipeline]\n", "[pipeline]\nmax_attempts = 2\n", 1))
    d = Daemon(config)
    # What a kill between writing numbering.json's temporary file and its rename leaves
    # (the campaign found them, one more at each such kill): removed at start-up.
    half_written = d.data_dir / ".numbering.json.4242.0a1b2c3d.tmp"
    try:
        queue_id = _through_crashes(d, "after_vault", 2, between=lambda: half_written.write_text("{"))
        assert not half_written.exists()
        status = d.wait_idle()
        assert status["messages"] == {"done": 1}, status["messages"]  # not parked, not held
        [entry] = d.register()
        assert (entry["queue_id"], entry["number"]) == (queue_id, 1)
        assert len(d.maildir_files("latkrabang")) == 1
    finally:
        d.stop()


def test_a_copy_being_filed_when_the_daemon_is_killed_again_and_again_is_filed_not_dead(tmp_path):
    """The whole daemon killed twice while a letter's folder copy was being filed:
    the delivery runner took those deaths for the copy's own (a copy that takes the
    runner down, gateway/delivery/inflight.py) and made it dead: the letter was
    registered and acknowledged, and never reached the unit's folder. Now the copy is
    filed, once, at the next start; nothing is dead in `outbox list`."""
    # No notices: the copy is alone in its batch, so two deaths were enough.
    config = write_config(tmp_path, extra="[notices]\nenabled = false\n")
    d = Daemon(config)
    try:
        queue_id = _through_crashes(d, "after_folder_write", 2)
        status = d.wait_idle()
        assert status["outbox"] == {"folder": {"done": 1}}, status["outbox"]
        assert [p.name.startswith(queue_id) for p in d.maildir_files("latkrabang")] == [True]
    finally:
        d.stop()


def test_a_claim_left_by_a_killed_runner_whose_pid_is_taken_again_holds_nothing(tmp_path):
    """Two pipeline runners; the daemon killed (kill -9, a power cut) while a runner held
    its claim on letter A (spool/claims/<queue id>: "<seq> <pid>"). After a reboot pids
    start again (a container's pid_max is 32768 and wraps within the hour): the claim's
    pid was another live process's, so the claim looked held by a live runner. Letter
    A was never registered, and every later letter waited two minutes for A's turn
    (`register_order_timeout`). Here a `sleep` stands for that process. Now the claims of
    the last run are dropped at start-up: A and then B are registered at once, in order."""
    import subprocess

    d = Daemon(write_config(tmp_path, workers=2))
    other = subprocess.Popen(["sleep", "600"])

    def pid_taken_again() -> None:
        [claim] = (d.data_dir / "spool" / "claims").glob("[!.]*")
        seq = claim.read_text(encoding="ascii").split()[0]
        claim.write_text(f"{seq} {other.pid}", encoding="ascii")

    try:
        first = _through_crashes(d, "after_spool_read", 1, between=pid_taken_again)
        second = d.send(letter(), LATKRABANG)
        d.wait_idle(timeout=60)
        assert [(e["queue_id"], e["number"]) for e in sorted(d.register(), key=lambda e: e["number"])] == [
            (first, 1), (second, 2)]
    finally:
        other.kill()
        other.wait()
        d.stop()
