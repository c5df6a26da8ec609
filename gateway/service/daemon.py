"""`saraban-gateway run`: the supervisor.

It owns the SMTP listener (asyncio, aiosmtpd) and the runner processes. Parsing and
registration never run in this process, so a heavy letter cannot stall the SMTP
sessions of others."""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from gateway.service import metrics
from gateway.config.settings import Settings, _mask_url, as_view
from gateway.units.directory import Directory, DirectoryError, load_directory
from gateway.units import in_force as units_in_force
from gateway.service import db_file
from gateway.service.health import HTTP_DEADLINE, Bounded, health, stalled
from gateway.service.readiness import notice_warnings, ocr_warnings, waiting_warnings
from gateway.service.http_server import HttpServer, json_response
from gateway.sender.check import intake_checker
from gateway.intake.clock_guard import clock_guard, receipt_clock
from gateway.intake.disk_space import StorageGuard, storage_guard
from gateway.intake.smtp_handler import IntakeHandler, make_smtp_factory
from gateway.service.log import setup_logging
from gateway.service.metrics_live import LiveCollector
from gateway.service.reload import ReloadError, load_new
from gateway.service.numbering import NumberingGate, state as numbering_state
from gateway.secrecy.markings import warm_up as markings_warm_up
from gateway.service import fork_server
from gateway.service.schema_upgrade import upgrade_schema
from gateway.service.start_checks import StartChecks, StartChecksFailed
from gateway.service.sd_notify import Notifier
from gateway.intake.smtp_drain import SessionTracker
from gateway.intake.smtp_protocol import ConnectionLimits
from gateway.intake.tls import TlsContexts, TlsError
from gateway.secrecy.shred import temporary_files_in
from gateway.service.process_util import (ChildProcess, exit_now, limit_malloc_arenas, name_process,
                                          raise_open_files_limit, run_child, start_child)
from gateway.intake.refusals import RefusalRecorder
from gateway.spool import Spool, follow_queue_ids, open_spool
from gateway.delivery.inflight import forgive as forgive_delivery
from gateway.pipeline.register_order import RegisterOrder
from gateway.service.instance_lock import AlreadyRunning, InstanceLock, lock_paths
from storage.db import Database, sqlite_file
from storage.errors import DAMAGED_ADVICE, is_damaged_database
from storage.messages import forgive_daemon_death as forgive_messages, newest_queue_id

log = structlog.get_logger("gateway.service.daemon")

STOP_GRACE = 15.0  # seconds a runner gets to finish the letter in hand on SIGTERM


@dataclass
class Child:
    name: str
    # "module:function", imported in the child only: the supervisor never loads the
    # runners' heavy libraries (pyHanko, pypdf, PDFium, PyThaiNLP, Jinja2, mail-parser;
    # numbering.py's read of the folders at start reaches delivery/targets.py and
    # delivery/wire.py, not the copy's builder).
    target: str
    args: tuple
    process: ChildProcess | None = None  # `python -m gateway.service.child <name>`
    restarts: int = 0
    respawn_at: float | None = None  # monotonic time its restart is due (a dead one waits a little)


@dataclass
class Supervisor:
    settings: Settings
    children: list[Child] = field(default_factory=list)

    restarting: bool = False  # a reload is replacing the runners
    # Called before a reload kills a pipeline runner past `runner_grace`: the letters it
    # had open are forgiven that attempt (`_forgive_open_letters`).
    forgive_open_letters: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._plan()

    def _plan(self) -> None:
        count = self.settings.pipeline.runners
        # The runners get the validated configuration as plain views: none of them
        # imports pydantic (gateway/config/views.py).
        settings = as_view(self.settings)
        for index in range(count):
            self.children.append(Child(f"pipeline-{index}", "gateway.pipeline.runner:main",
                                       (settings, index, count)))
        self.children.append(Child("delivery", "gateway.delivery.runner:main", (settings,)))
        if self.settings.imap_intake:  # central mailboxes pulled from the mail server
            self.children.append(Child("imap-intake", "gateway.intake.imap_runner:main", (settings,)))

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child, after_pids: tuple[int, ...] = ()) -> None:
        child.process = start_child(child.name, run_child, (child.target, child.args, after_pids,
                                                            self.settings.service.background_nice))
        log.info("runner_spawned", runner=child.name, pid=child.process.pid)

    def check(self) -> None:
        """Restart a runner that died; its work is idempotent and resumes. One that keeps
        dying is restarted less often (up to every 5 s), at a later tick: the wait was a
        sleep in the tick, and the supervisor's loop, SIGTERM and SIGHUP waited with it,
        5 s a tick for each runner in such a loop (session 53)."""
        now = time.monotonic()
        for child in self.children:
            if child.process is not None and not child.process.is_alive():
                if child.respawn_at is None:
                    child.restarts += 1
                    log.error("runner_died", runner=child.name, exitcode=child.process.exitcode,
                              restarts=child.restarts)
                    child.respawn_at = now + min(5.0, 0.2 * child.restarts)
                if now >= child.respawn_at:
                    child.respawn_at = None
                    self._spawn(child)

    def alive(self) -> dict[str, bool]:
        return {c.name: bool(c.process and c.process.is_alive()) for c in self.children}

    def restarts(self) -> dict[str, int]:
        return {c.name: c.restarts for c in self.children}

    def replace(self, settings: Settings, grace: float = STOP_GRACE) -> None:
        """Reload: the new runners are started (each waiting for the old ones to exit) while the old ones
        finish the letter in hand; they begin the moment the old ones are gone. Filing
        pauses only for the letter in hand, not for starting Python and its imports;
        no two runners of one partition ever work at the same time."""
        self.restarting = True
        try:
            old = self.children
            self.settings = settings
            self.children = []
            self._plan()
            old_pids = tuple(c.process.pid for c in old if c.process is not None and c.process.pid)
            for child in self.children:
                self._spawn(child, old_pids)
            _stop_children(old, grace, settings.data_dir, self.forgive_open_letters)
        finally:
            self.restarting = False

    def stop(self, grace: float = STOP_GRACE) -> None:
        _stop_children(self.children, grace, self.settings.data_dir)


def _stop_children(children: list[Child], grace: float, data_dir: Path,
                   forgive_open_letters: Callable[[], None] | None = None) -> None:
    """SIGTERM, `grace` to finish the item in hand, then SIGKILL. `forgive_open_letters`
    (a reload's, not a stop's: the next start forgives what a stop leaves open,
    `_after_last_run`, and must not forgive it twice) is called once, before the first
    pipeline runner is killed."""
    forgiven = forgive_open_letters is None
    for child in children:
        if child.process is not None and child.process.is_alive():
            child.process.terminate()  # SIGTERM: finish the item in hand
    deadline = time.monotonic() + grace
    for child in children:
        if child.process is None:
            continue
        child.process.join(max(0.0, deadline - time.monotonic()))
        if child.process.is_alive():
            log.warning("runner_killed", runner=child.name)
            if child.name == "delivery":
                # Killed by us, not by the copy in hand (a mail server stalled past the
                # grace): its death must not count towards making the copy dead
                # (gateway/delivery/inflight.py). Two reloads during one stalled APPEND
                # made it dead until session 52. Marked before the kill: the runner
                # replacing it reads the file the moment this one is gone.
                forgive_delivery(data_dir)
            elif child.name.startswith("pipeline-") and not forgiven:
                # The same for a letter in a pipeline runner's hands (an OCR of a large
                # scan outlasting the grace): each kill counted an attempt, and
                # `max_attempts` reloads during one letter parked it, acknowledged and
                # never registered (left open in session 53). Before the kill: the runner
                # replacing it opens the letter the moment this one is gone, and counts.
                forgiven = True
                forgive_open_letters()
            child.process.kill()
            child.process.join(2)


class DirectoryHolder:
    """The unit directory in force; SIGHUP swaps it, a bad file keeps the old one."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.current: Directory = load_directory(settings.directory_path, settings.gateway.domain)

    def __call__(self) -> Directory:
        return self.current

    def reload(self) -> bool:
        try:
            self.current = load_directory(self.settings.directory_path, self.settings.gateway.domain)
        except DirectoryError as exc:
            log.error("reload_failed", error=str(exc), kept="previous directory")
            return False
        log.info("reloaded", units=len(self.current.units))
        return True


def _session_cap(settings: Settings) -> int:
    """max_connections, lowered so that sessions (a socket, and a spool file during DATA)
    can never take the descriptors the spool, the database and the runners need."""
    soft = raise_open_files_limit()
    by_files = max(1, (soft - settings.smtp.fd_reserve) // 2)
    if by_files < settings.smtp.max_connections:
        log.warning("smtp_max_connections_lowered", configured=settings.smtp.max_connections,
                    used=by_files, open_files_limit=soft, fd_reserve=settings.smtp.fd_reserve)
    return min(settings.smtp.max_connections, by_files)


async def serve(settings: Settings) -> int:
    setup_logging(settings.logging.level, settings.logging.format, process="supervisor")
    try:
        instance = InstanceLock(lock_paths(settings.data_dir, sqlite_file(settings.database_url))).acquire()
    except AlreadyRunning as exc:
        log.error("already_running", error=str(exc))
        return 1
    try:
        return await _serve(settings)
    finally:
        instance.release()


def _remove_half_written(data_dir: Path) -> None:
    """The state files beside the database (numbering.json, restored.json ...) are
    written to a temporary file and renamed: one killed between left
    `.numbering.json.<pid>.<random>.tmp` behind, one more at each such kill (session
    20's campaign found them). No one writes them while the daemon starts."""
    for path in [*data_dir.glob(".*.json.*.tmp"), *data_dir.glob("delivery-*.tmp")]:
        try:
            path.unlink()
        except OSError:
            continue
    from gateway.secrecy.shred import shred

    # An object of the vault (or of the sealed store) is written to its tmp directory as
    # `.<name>.<pid>.<random>.tmp` and renamed: a runner killed between left it there for
    # good, one more at each such kill (session 40's run of the kill campaign). Only a
    # writer that is gone: a command run beside the daemon (`quarantine release`) may be
    # writing one now. A sealed one holds ciphertext only, and is shredded all the same.
    for path in [*(data_dir / "vault" / "tmp").glob(".*.tmp"), *(data_dir / "secret" / "tmp").glob(".*.tmp")]:
        writer = path.name.rsplit(".", 3)[-3] if path.name.count(".") >= 4 else ""
        if writer.isdigit() and Path(f"/proc/{writer}").exists():
            continue
        try:
            shred(path, logged_as="a half-written vault object of the last run")
        except OSError:
            continue


def _folders_unwritable(settings: Settings) -> dict | None:
    """Whether the units' Maildirs can be written: made if missing, one file created and
    removed. The shipped unit's ProtectSystem=strict makes every path outside the data
    directory read-only; a `folders_dir` elsewhere (a Dovecot's mail store) started
    fine, registered and acknowledged every letter, and filed none ("Read-only file
    system", retried for ever; session 56). Said at start, as an unwritable metrics_dir is."""
    import errno
    import os

    if settings.delivery.backend != "maildir":
        return None
    folders = Path(os.path.abspath(settings.folders_dir))
    probe = folders / f".saraban-write-check.{os.getpid()}"
    try:
        folders.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        said: dict = {"path": str(folders), "key": "[delivery] folders_dir",
                      "error": exc.strerror or type(exc).__name__}
        data_dir = Path(os.path.abspath(settings.data_dir))
        if exc.errno == errno.EROFS and data_dir not in folders.parents:
            said["hint"] = (f"under the systemd unit everything outside {data_dir} is read-only "
                            f"(ProtectSystem=strict): add ReadWritePaths={folders} in a drop-in "
                            "(systemctl edit saraban-gateway), then start again (docs/install.md)")
        elif exc.errno in (errno.EACCES, errno.EPERM):
            said["hint"] = f"give the gateway's user ({_user_name()}) the folder, then start again"
        return said
    return None


def _user_name() -> str:
    import os
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def read_only_advice(settings: Settings) -> str:
    """What to do about a register this process may not write, in a sysadmin's words."""
    import os
    import pwd

    def name(uid: int) -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid {uid}"

    path = sqlite_file(settings.database_url)
    if path is None:
        return ("PostgreSQL let this role read but not write: point database_url at the primary "
                "server, not a standby, and grant the role the register's tables (docs/database.md)")
    me = name(os.geteuid())
    try:
        owner = name(Path(path).stat().st_uid)
    except OSError:
        owner = "another user"
    return (f"{path} belongs to {owner} and the gateway runs as {me} (a command run as {owner}, "
            f"such as db upgrade, made it): chown -R {me} {Path(path).parent}, then start again")


def _after_last_run(settings: Settings, db: Database, spool: Spool) -> None:
    """Before any runner starts, what the last run left when it died (kill -9, a power
    cut, the supervisor's crash). The letters and copies it had in hand died with the
    daemon, not because of them: such deaths counted towards parking a letter
    (`[pipeline] max_attempts`) and made a folder copy dead after two
    (gateway/delivery/inflight.py), so a daemon restarted a few times while a letter was
    in hand left it parked or unfiled (session 20's kill campaign). Its runners' claims
    and half-written state files are dropped."""
    forgive_delivery(settings.data_dir)
    _remove_half_written(settings.data_dir)
    stale_claims = RegisterOrder.forget_all(spool.root)
    if stale_claims:
        log.info("stale_claims_removed", claims=stale_claims)
    try:
        with db.session() as session:
            # Before SMTP opens: its queue ids after every one given before this start.
            follow_queue_ids([newest_queue_id(session)])
            forgiven = forgive_messages(session, spool.pending())
    except Exception as exc:  # noqa: BLE001 - the database busy: the runners wait for it anyway
        log.warning("daemon_death_not_forgiven", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        return
    if forgiven:
        log.info("letters_open_at_last_stop", letters=forgiven)


def _forgive_open_letters(db: Database, spool: Spool) -> None:
    """The letters of this gateway's spool open in the database, their attempt not
    counted towards parking: a runner the supervisor is about to kill dies by its hand,
    not the letter's (storage/messages.py `forgive_daemon_death`, as at start)."""
    try:
        with db.session() as session:
            forgiven = forgive_messages(session, spool.pending())
    except Exception as exc:  # noqa: BLE001 - the database away: the attempt counts, as before
        log.warning("runner_kill_not_forgiven", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        return
    if forgiven:
        log.info("letters_open_at_runner_kill", letters=forgiven)


async def _serve(settings: Settings) -> int:
    notifier = Notifier()
    notifier.status("starting: database schema")
    # Seal, trust roots, SMTP certificate: read in a child while this process gets on
    # with its own start (gateway/service/start_checks.py); its answer is awaited below.
    checks = StartChecks.begin(settings)
    try:
        return await _serve_checked(settings, notifier, checks)
    finally:
        checks.abandon()


async def _serve_checked(settings: Settings, notifier: Notifier, checks: StartChecks) -> int:
    spool = open_spool(settings)
    removed = spool.clean_tmp()
    spool.clean_readings()  # SMTP is not open yet: no draft has a reading in flight
    temporary_files_in(spool.root / "uploads")  # docs/secrecy.md: not TMPDIR's disk
    missing = db_file.missing_at_start(settings)
    if missing is not None:
        log.error("database_file_missing", detail=missing)
        return 1
    db_file.set_aside_old_log(settings)  # before anything opens the file now at the path
    db = settings.open_database()
    try:
        upgrade_schema(settings, db)  # alembic upgrade head, in a child when there is any to do
        read_only = db.write_refusal()
    except Exception as exc:  # unreachable, wrong password, a failing migration
        log.error("database_unavailable", url=_mask_url(settings.database_url),
                  error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}",
                  **({"hint": DAMAGED_ADVICE} if is_damaged_database(exc) or getattr(exc, "damaged", False) else {}))
        db.dispose()
        return 1
    if read_only is not None:
        # Letters taken now would wait in the spool for good, /healthz saying "ok".
        log.error("database_read_only", url=_mask_url(settings.database_url), error=read_only,
                  hint=read_only_advice(settings))
        db.dispose()
        return 1
    # After the two children forked from this process while it has one thread (the
    # start checks, the schema upgrade): starting it starts this process's second thread.
    fork_server.begin(fork_server.PRELOAD + (fork_server.IMAP_PRELOAD if settings.imap_intake else ()),
                      (markings_warm_up,))
    # Before the numbering check and the runners: the file they must all find at the path.
    db_file.record_at_start(settings, db)
    _after_last_run(settings, db, spool)
    if settings.http.enabled:
        metrics.enable(settings.metrics_dir)  # before any runner is spawned: they inherit it
    unwritable = _folders_unwritable(settings)
    if unwritable is not None:
        log.error("folders_unwritable", **unwritable)
        db.dispose()
        return 1
    directory = DirectoryHolder(settings)
    taken = units_in_force.refusals(settings.data_dir, directory.current)
    if taken:  # a unit's address changed while the daemon was stopped: as a reload would, refused
        log.error("directory_refused", path=str(settings.directory_path), problems=taken,
                  kept=f"the directory last in force ({units_in_force.FILE} in the data directory)")
        db.dispose()
        return 1
    units_in_force.remember(settings.data_dir, directory.current)
    refusals = RefusalRecorder(settings.open_database, settings.data_dir)  # ลับที่สุด refusals are recorded and counted

    def on_refused(reason: str, info: dict) -> None:
        metrics.rejected("smtp", reason)
        refusals(reason, info)

    handler = IntakeHandler(spool, directory, settings.gateway.domain, settings.smtp.max_recipients,
                            on_refused=on_refused,
                            data_check_queue_timeout=settings.smtp.data_check_queue_timeout,
                            data_checks_per_ip=settings.smtp.data_checks_per_ip,
                            client_ipv6_prefix=settings.smtp.client_ipv6_prefix_length,
                            client_limit_exceptions=settings.smtp.client_limit_exceptions,
                            max_header_size=settings.smtp.max_header_size)
    handler.on_accepted = lambda queue_id, size: metrics.accepted(size)
    # aiosmtpd's warnings for unknown commands, one line each, unthrottled: a client in a
    # loop wrote 33 GB a day of them (session 43); throttled and counted instead.
    logging.getLogger("mail.log").addFilter(handler.client_noise)
    handler.storage_guard = storage_guard(settings)  # 452 4.3.1 at MAIL FROM on a low disk
    receipt = receipt_clock(db, "smtp", settings.data_dir)  # never a time of receipt before the last one given
    spool.clock = receipt.now
    handler.clock_guard = clock_guard(settings, db, "smtp", receipt)  # 451 4.3.0 while the clock is in a past year
    handler.sender_check = intake_checker(settings)  # gateway/sender/: SPF, DKIM, DMARC at DATA
    await handler.markings.start()  # the classification workers, started before the first DATA
    sessions = SessionTracker(handler)
    limits = ConnectionLimits(_session_cap(settings), settings.smtp.max_connections_per_ip,
                              on_refused=lambda reason: metrics.rejected("smtp", f"connections_{reason}"),
                              ipv6_prefix=settings.smtp.client_ipv6_prefix_length,
                              exceptions=settings.smtp.client_limit_exceptions,
                              rate_per_ip=settings.smtp.max_connection_rate_per_ip)
    loop = asyncio.get_running_loop()
    try:
        tls = TlsContexts(*_tls_files(settings))
    except TlsError as exc:
        log.error("smtp_tls_unusable", error=str(exc), keys="[smtp] tls_certificate, tls_key")
        db.dispose()
        return 1
    try:
        # Before SMTP opens and before the runners start: they load the seal the checks
        # may have just created.
        for warning in await asyncio.to_thread(checks.outcome):
            log.warning("smtp_tls_certificate_expiring", warning=warning)
    except BaseException as exc:  # ConfigError too: `saraban-gateway run` prints it and exits 2
        await handler.markings.aclose()
        db.dispose()
        if not isinstance(exc, StartChecksFailed):
            raise
        log.error("start_checks_failed", error=str(exc))
        return 1
    try:
        server = await loop.create_server(
            sessions.wrap(make_smtp_factory(handler, settings.smtp.hostname, settings.smtp.max_message_size,
                                            settings.smtp.data_timeout, limits=limits,
                                            command_timeout=settings.smtp.command_timeout,
                                            session_timeout=settings.smtp.session_timeout,
                                            tls=tls, require_tls=settings.smtp.require_tls)),
            host=settings.smtp.host,
            port=settings.smtp.port,
        )
    except OSError as exc:
        log.error("smtp_bind_failed", host=settings.smtp.host, port=settings.smtp.port, error=exc.strerror or str(exc))
        db.dispose()
        return 1
    port = server.sockets[0].getsockname()[1]
    # Before any runner numbers a letter: the numbers the folders show were given
    # (a register put back from a backup is behind them; gateway/service/numbering.py).
    numbering = NumberingGate(settings)
    numbering.start()
    supervisor = Supervisor(settings, forgive_open_letters=lambda: _forgive_open_letters(db, spool))
    supervisor.start()
    http: HttpServer | None = None
    http_port = None
    web = None
    try:
        if settings.http.enabled:
            bind = "http_bind_failed", settings.http
            http = HttpServer(operator_routes(spool, db, supervisor, handler.storage_guard,
                                              overdue_after=settings.delivery.dead_after,
                                              clock=lambda: handler.clock_guard.refusing()
                                              if handler.clock_guard is not None else None,
                                              desk_warnings=lambda: web.desk.auth.directory_warnings()
                                              if web is not None and web.desk is not None else []))
            http_port = await http.start(settings.http.host, settings.http.port)
        if settings.web.enabled:  # the central unit's desk (gateway/web/, docs/console.md)
            from gateway.web.server import WebServer

            bind = "web_bind_failed", settings.web
            web = WebServer(settings)
            await web.start(settings.web.host, settings.web.port)
    except OSError as exc:
        event, section = bind
        log.error(event, host=section.host, port=section.port, error=exc.strerror or str(exc))
        if http is not None:
            await http.close()
        server.close()
        await loop.run_in_executor(None, supervisor.stop)
        db.dispose()
        return 1
    stop = asyncio.Event()
    reload_requested = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    log.info("smtp_listening", host=settings.smtp.host, port=port, spool_tmp_removed=removed,
             max_connections=limits.total, max_connections_per_ip=limits.per_ip,
             pending=spool.depth(), units=len(directory.current.units), http_port=http_port,
             web_port=web.port if web else None)
    for warning in notice_warnings(settings):  # said once, where the sysadmin looks at start-up
        log.warning("notices_held", detail=warning)
    notifier.ready(_status_line(settings, port, directory, supervisor, spool))
    # After ready, off the loop: asking Tesseract for its models takes a process start.
    ocr_said = asyncio.create_task(_say_ocr_warnings())
    watchdog = asyncio.create_task(_watchdog(notifier)) if notifier.watchdog_interval else None
    last_status = time.monotonic()
    database_watch = db_file.Watch(settings, db)
    try:
        while not stop.is_set():
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(reload_requested.wait())]
            await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if stop.is_set():
                break
            if reload_requested.is_set():
                reload_requested.clear()
                settings = await _reload(settings, directory, supervisor, notifier)
                tls.reload(*_tls_files(settings))  # a renewed certificate behind the same paths
                numbering.settings = settings  # a held check reads the folders as now configured
                if web is not None and web.desk is not None:
                    web.desk.use_directory(directory.current)  # the desk's scopes too
                if handler.sender_check is not None:  # [dns]/[sender] as reloaded
                    handler.sender_check.close()
                handler.sender_check = intake_checker(settings)
                handler.clock_guard = clock_guard(settings, db, "smtp", receipt)  # [register] clock_check as reloaded
                notifier.ready(_status_line(settings, port, directory, supervisor, spool))
                continue
            try:
                await loop.run_in_executor(None, supervisor.check)
                await loop.run_in_executor(None, database_watch.check)
                refusals.write_owed()
                if time.monotonic() - last_status >= 10:
                    notifier.status(_status_line(settings, port, directory, supervisor, spool))
                    last_status = time.monotonic()
            except OSError as exc:
                # EMFILE/ENFILE or a full disk must not end the loop that keeps the
                # listener, the runners and SIGTERM working; the next tick tries again.
                log.error("supervisor_tick_failed", error=str(exc), errno=exc.errno)
    finally:
        log.info("stopping", pending=spool.depth())
        notifier.stopping("stopping: finishing open SMTP sessions")
        server.close()  # no new connections; accepted messages are already on disk
        cut = await sessions.drain(settings.service.drain_timeout)
        await server.wait_closed()
        logging.getLogger("mail.log").removeFilter(handler.client_noise)
        notifier.status("stopping: runners finish the letter in hand")
        numbering.stop()
        await loop.run_in_executor(None, supervisor.stop, settings.service.runner_grace)
        if http is not None:
            await http.close()
        if web is not None:
            await web.close()
        ocr_said.cancel()
        if watchdog is not None:
            watchdog.cancel()
        db.dispose()
        # What is still in spool/new is taken up in arrival order at the next start.
        log.info("stopped", pending=spool.depth(), smtp_sessions_cut=cut)
    return 0


async def _say_ocr_warnings() -> None:
    for warning in await asyncio.to_thread(ocr_warnings):
        log.warning("ocr_unavailable", detail=warning)


def _status_line(settings: Settings, port: int, directory: DirectoryHolder, supervisor: Supervisor,
                 spool: Spool) -> str:
    alive = supervisor.alive()
    return (f"SMTP on {settings.smtp.host}:{port}, {len(directory.current.units)} units, "
            f"{sum(alive.values())}/{len(alive)} runners, {spool.depth()} pending")


async def _watchdog(notifier: Notifier) -> None:
    """WATCHDOG=1 at half of WatchdogSec while the event loop (the SMTP listener) turns."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(notifier.watchdog_interval)


def _tls_files(settings: Settings) -> tuple[Path | None, Path | None]:
    """[smtp] tls_certificate and tls_key, relative to the configuration file. [smtp] is
    read once: a reload reads the same files again (certbot renews behind the same path);
    other paths are a restart, as `reload_needs_restart` says."""
    smtp = settings.smtp
    if smtp.tls_certificate is None or smtp.tls_key is None:
        return None, None
    return settings.config_relative(smtp.tls_certificate), settings.config_relative(smtp.tls_key)


async def _reload(settings: Settings, directory: DirectoryHolder, supervisor: Supervisor,
                  notifier: Notifier) -> Settings:
    """SIGHUP: validate everything first; on any error keep the old configuration."""
    loop = asyncio.get_running_loop()
    notifier.reloading()
    log.info("reload_requested", source=str(settings.source))
    try:
        new = await loop.run_in_executor(None, load_new, settings, directory.current)
    except ReloadError as exc:
        log.error("reload_failed", error=str(exc), kept="previous configuration")
        metrics.reload("failed")
        return settings
    if new.needs_restart:
        log.warning("reload_needs_restart", keys=new.needs_restart,
                    note="these keys keep their old values until the service is restarted")
    setup_logging(new.settings.logging.level, new.settings.logging.format, process="supervisor")
    directory.settings = new.settings
    directory.current = new.directory  # the next RCPT sees it; open sessions go on
    await loop.run_in_executor(None, units_in_force.remember, new.settings.data_dir, new.directory)
    await loop.run_in_executor(None, supervisor.replace, new.settings, new.settings.service.runner_grace)
    metrics.reload("ok")
    log.info("reloaded", units=len(new.directory.units), runners=len(supervisor.children))
    return new.settings


def operator_routes(spool: Spool, db: Database, supervisor: Supervisor, disk: StorageGuard | None = None,
                    overdue_after: float | None = None, desk_warnings: Callable[[], list[str]] = list,
                    clock: Callable[[], str | None] = lambda: None):
    """GET /healthz and GET /metrics (gateway/service/health.py, gateway/service/metrics.py)."""
    live = LiveCollector(spool, db, supervisor.alive, supervisor.restarts, overdue_after=overdue_after)
    checks, scrapes = Bounded(HTTP_DEADLINE, "healthz"), Bounded(HTTP_DEADLINE, "metrics")

    async def healthz():
        answer = await checks(health, spool, db, supervisor.alive, lambda: supervisor.restarting,
                              notice_warnings(supervisor.settings) + desk_warnings(), disk, waiting_warnings,
                              lambda: numbering_state(supervisor.settings), clock)
        if answer is None:
            return json_response(503, stalled(HTTP_DEADLINE))
        healthy, body = answer
        return json_response(200 if healthy else 503, body)

    async def metrics_page():
        answer = await scrapes(metrics.render, [live])
        if answer is None:
            return 503, "text/plain; charset=utf-8", (f"metrics not read within {HTTP_DEADLINE:.0f} s: "
                                                      "the database does not answer\n").encode()
        body, content_type = answer
        return 200, content_type, body

    return {"/healthz": healthz, "/metrics": metrics_page}


def run(settings: Settings) -> int:
    name_process("gateway")
    limit_malloc_arenas()
    code = asyncio.run(serve(settings))
    if code == 0:
        exit_now(0)  # stopped cleanly: runners joined, database closed, logs flushed
    return code
