"""Start the real daemon as a subprocess on loopback, as a sysadmin would run it."""
from __future__ import annotations

import bisect
import datetime as dt
import json
import os
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

from tests.cli_fork import ForkedProcess, run_gateway, start_daemon
from tests.paths import REPO

BASE_CONFIG = """
[smtp]
host = "{host}"
port = {port}
{smtp_extra}
[storage]
data_dir = "{data_dir}"
{database}
[directory]
path = "{units}"
[pipeline]
workers = {workers}
poll_interval = 0.02
[delivery]
retry_base = 0.2
[logging]
level = "info"
format = "json"
{extra}
"""


_PARSER = None


def _register_parser():
    """gateway.cli.main.build_parser(), built once in this process."""
    global _PARSER
    if _PARSER is None:
        from gateway.cli.main import build_parser

        _PARSER = build_parser()
    return _PARSER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, port: int | None = None, workers: int = 1, database_url: str | None = None,
                 extra: str = "", smtp_extra: str = "", host: str = "127.0.0.1") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "gateway.toml"
    if "[signatures]" not in extra:
        # The receive stamp costs ~0.25 s of CPU per letter and a seal key at first
        # start; tests about other things leave it off (tests/signatures/ turn it on).
        extra += "\n[signatures]\nstamp = false\n"
    if "[dns]" not in extra and "[sender]" not in extra:
        # Sender checks need DNS; tests not about them have no DNS server of their own
        # (tests/servers/dns.py serves the zones of tests/sender/).
        extra += "\n[sender]\nenabled = false\n"
    config.write_text(
        BASE_CONFIG.format(
            host=host,
            # 0: the daemon binds a port the kernel chooses and says which in its
            # smtp_listening event (Daemon.start reads it). A port chosen here first was
            # free when chosen, not when the daemon bound it: another test's server took
            # one in between (smtp_bind_failed, "address already in use", session 47).
            port=0 if port is None else port,
            data_dir=tmp / "var",
            database=f'database_url = "{database_url}"' if database_url else "",
            units=REPO / "config" / "units.toml",
            workers=workers,
            extra=extra,
            smtp_extra=smtp_extra,
        ),
        encoding="utf-8",
    )
    return config


class TestClock:
    """The daemon's clock, set by the test (tests/clock/sitecustomize.py): `env` goes to
    the Daemon (and its CLI commands), `set` moves every one of its processes to a moment
    at once, the machine's clock untouched."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "clock-offset"
        self.path.write_text("0", encoding="ascii")
        paths = [str(REPO / "tests" / "clock"), str(REPO), os.environ.get("PYTHONPATH", "")]
        self.env = {"SARABAN_TEST_CLOCK": str(self.path), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}

    def set(self, moment: dt.datetime) -> None:
        offset = (moment - dt.datetime.now(dt.timezone.utc)).total_seconds()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(offset), encoding="ascii")
        os.replace(tmp, self.path)  # a reader sees the old offset or the new, never half


class Daemon:
    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.config = config
        self.env = env or {}
        self.proc: subprocess.Popen | ForkedProcess | None = None
        self.port: int | None = None
        self.web_port: int | None = None
        self.http_port: int | None = None
        self.log_path = config.parent / "daemon.log"
        self._status_settings: tuple | None = None  # status_here's: (what it was read from, Settings)
        self._status_db = None  # status_here's Database, kept between polls
        self.data_dir = config.parent / "var"

    def start(self, timeout: float = 30.0) -> "Daemon":
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._log = open(self.log_path, "ab")
        offset = self._log.tell()
        # `python -m gateway run` in a session of its own, its output to the log
        # (tests/cli_fork.py: the supervisor forked from an interpreter that has imported
        # what that command imports).
        self.proc = start_daemon(["--config", str(self.config), "run"], env=env, output=self._log.fileno())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(offset):
                if event.get("event") == "smtp_listening":
                    # Each as bound: a port 0 in the config is the kernel's choice.
                    self.port = event["port"]
                    self.web_port, self.http_port = event.get("web_port"), event.get("http_port")
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not start listening:\n{self.log_path.read_text()}")

    def events(self, offset: int = 0) -> list[dict]:
        """Each line of the log from byte `offset` on, parsed (a line that is not JSON as
        a "non_json_line" event).

        The log's whole lines are parsed once and kept (with where each starts): a wait
        for an event reads the log again on every poll, and parsing it from its start
        each time cost more the longer the log. Only what was added since is read; a
        log replaced, cut or rewritten (its last kept line no longer where it was) is
        read anew, and an offset
        that is not the start of a kept line is read from the file as it is. The last
        line, until its newline is written, is parsed on each call and not kept. Each
        call returns dicts of its own, as before."""
        cache = getattr(self, "_events_cache", None)
        with open(self.log_path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if cache is not None and cache["end"]:
                # The same file, grown only: its last kept line is still where it was.
                handle.seek(cache["end"] - len(cache["last"]))
                same = handle.read(len(cache["last"])) == cache["last"]
            if (cache is None or cache["ino"] != (stat.st_dev, stat.st_ino) or stat.st_size < cache["end"]
                    or (cache["end"] and not same)):
                cache = self._events_cache = {"ino": (stat.st_dev, stat.st_ino), "end": 0, "last": b"",
                                              "starts": [], "events": []}
            starts, events = cache["starts"], cache["events"]
            tail: list[dict] = []
            handle.seek(cache["end"])
            where = cache["end"]
            for line in handle:
                event = self._parse_line(line)
                if line.endswith(b"\n"):
                    starts.append(where)
                    events.append(event)
                    where += len(line)
                    cache["end"], cache["last"] = where, line
                else:
                    tail.append(event)
        if offset == 0:
            first = 0
        else:
            first = bisect.bisect_left(starts, offset)
            if offset < cache["end"] and (first == len(starts) or starts[first] != offset):
                return self._events_uncached(offset)
            if offset > cache["end"]:
                return self._events_uncached(offset)
        return [e.copy() if isinstance(e, dict) else e for e in events[first:]] + tail

    @staticmethod
    def _parse_line(line: bytes) -> dict:
        try:
            return json.loads(line)
        except ValueError:
            return {"event": "non_json_line", "line": line.decode("utf-8", "replace")}

    def _events_uncached(self, offset: int) -> list[dict]:
        with open(self.log_path, "rb") as handle:
            handle.seek(offset)
            return [self._parse_line(line) for line in handle]

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(self, raw: bytes, to: list[str] | str, sender: str = "saraban.dds@bangkok.go.th") -> str:
        """Send and return the queue id from the 250 reply."""
        code, text = self.data_reply(raw, to, sender)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[-1]

    def data_reply(self, raw: bytes, to: list[str] | str = "saraban.latkrabang@bangkok.go.th",
                   sender: str = "saraban.dds@bangkok.go.th") -> tuple[int, bytes]:
        """Send, every recipient accepted, and return the reply to the end of DATA,
        whatever it is (a 550 refusal, a 451)."""
        recipients = [to] if isinstance(to, str) else to
        with self.smtp() as client:
            client.ehlo("test.example")
            client.mail(sender)
            for rcpt in recipients:
                code, text = client.rcpt(rcpt)
                assert code == 250, (code, text)
            return client.data(raw)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = run_gateway(["--config", str(self.config), *args], env=dict(os.environ, **self.env))
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def register(self, *args: str) -> list[dict]:
        """What `register list --json` prints, read in this process by the function the
        command runs (gateway/cli/register.py `register_entries`), as `status_here`
        reads `status`: tests read the register after nearly every letter, often in a
        wait, and a command's start (~0.8 s of CPU) each time was a fifth of the suite's
        CPU (session 21). The command itself, printed and parsed: `register_cli`.

        The command's parser is built once per test process (it depends on nothing but
        the code) and the configuration read again only when its file or the
        environment changed, as in `status_here`: building the whole CLI's parser on
        each call was 60 % of a call's CPU, in waits that poll it."""
        from gateway.cli.register import register_entries

        asked = _register_parser().parse_args(["register", "list", "--json", *args])
        settings = self._settings(self.env, "_register_settings")
        entries, _ = register_entries(settings, asked.unit, asked.year)
        return json.loads(json.dumps(entries, ensure_ascii=False))  # as printed: lists, not tuples

    def _settings(self, extra_env: dict[str, str], slot: str):
        """load_settings(config, environ=os.environ + extra_env), read again only when the
        configuration file (mtime, size, inode) or that environment changed."""
        from gateway.config.settings import load_settings

        env = dict(os.environ, **extra_env)
        stat = self.config.stat()
        key = (str(self.config), stat.st_mtime_ns, stat.st_size, stat.st_ino, tuple(sorted(env.items())))
        kept = getattr(self, slot, None)
        if kept is None or kept[0] != key:
            kept = (key, load_settings(self.config, environ=env))
            setattr(self, slot, kept)
        return kept[1]

    def register_cli(self, *args: str) -> list[dict]:
        return json.loads(self.cli("register", "list", "--json", *args).stdout)

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def wait_for(self, predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
        """`predicate()` until it is true (returned) or `timeout`. Polled at once, then
        after 0.01 s, doubling up to `interval`: most waits are met within a few tenths
        of a second (a letter registered, an event logged), and a fixed 0.2 s between
        polls made each of them wait 0.1 s past its condition on average, about 0.1 s
        for each of the suite's thousands of waits; a wait that lasts longer polls every
        `interval`, as before."""
        deadline = time.monotonic() + timeout
        pause = min(0.01, interval)
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(pause)
            pause = min(pause * 2, interval)
        raise AssertionError(f"timed out waiting for {what}; log tail:\n{self.log_tail()}")

    def wait_for_event(self, event: str, timeout: float = 60.0, **fields) -> list[dict]:
        """Every event logged so far, once one named `event` with these `fields` is among
        them: for an event a runner logs just after an effect a test can see (a flag on
        the server, the spool entry gone), which a single read may come too early for."""
        def logged():
            events = self.events()
            found = any(e.get("event") == event and all(e.get(k) == v for k, v in fields.items()) for e in events)
            return events if found else None
        return self.wait_for(logged, timeout, what=f"{event} {fields or ''} logged")

    def status_here(self) -> dict:
        """What `status --json` prints, read in this process by the function the command
        runs (gateway/service/status.py): a wait polls it many times, and a command's
        start (~1 s of CPU) on each poll was a tenth of the suite's time.

        The configuration is read again when its file or the environment changed, and the
        register is read through one Database kept between polls: a new engine each poll
        compiled SQLAlchemy's ~18 statements again, 25 ms a poll and 43 % of the CPU of
        the tests' own processes (py-spy, session 48). Its connections are closed after
        each poll, as `status` closes its own (nothing of the test's stays open against
        the daemon's register between polls); a register file moved or replaced under it
        (a restore, a test of the watch) is opened anew, as `status` would."""
        from gateway.config.settings import load_settings
        from gateway.service.status import collect_status

        env = dict(os.environ, **self.env)
        stat = self.config.stat()
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino, tuple(sorted(env.items())))
        if self._status_settings is None or self._status_settings[0] != key:
            self._close_status_db()
            self._status_settings = key, load_settings(self.config, environ=env)
        settings = self._status_settings[1]
        db = self._status_db
        if db is not None and db.file_moved() is not None:
            self._close_status_db()
            db = None
        if db is None:
            db = self._status_db = settings.open_database()
        try:
            return collect_status(settings, db=db)
        finally:
            db.dispose()  # the connections; the engine, with its compiled statements, stays

    def _close_status_db(self) -> None:
        if self._status_db is not None:
            self._status_db.dispose()
            self._status_db = None

    def wait_idle(self, timeout: float = 60.0) -> dict:
        """Until the spool is empty and no outbox item is pending."""
        def idle():
            status = self.status_here()
            pending = status["spool"]["pending"] + sum(s.get("pending", 0) for s in status["outbox"].values())
            return status if pending == 0 else None
        return self.wait_for(idle, timeout, what="spool and outbox to drain")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def kill9(self) -> None:
        """kill -9 the supervisor and every runner (its whole process group)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        self._close_status_db()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._log.close()

    def maildir_files(self, folder: str) -> list[Path]:
        root = self.data_dir / "folders" / folder
        return sorted(list((root / "new").glob("*")) + list((root / "cur").glob("*"))) if root.exists() else []
