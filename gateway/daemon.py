"""`saraban-gateway run`: the supervisor.

It owns the SMTP listener (asyncio, aiosmtpd) and the runner processes. Parsing and
registration never run in this process, so a heavy letter cannot stall the SMTP
sessions of others."""
from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from dataclasses import dataclass, field

import structlog

from gateway import runner_delivery, runner_pipeline
from gateway.config import Settings
from gateway.directory import Directory, DirectoryError, load_directory
from gateway.intake_smtp import IntakeHandler, make_smtp_factory
from gateway.log import setup_logging
from gateway.signatures.settings import prepare_signatures
from gateway.spool import Spool
from storage.db import Database

log = structlog.get_logger("gateway.daemon")

STOP_GRACE = 15.0  # seconds a runner gets to finish the letter in hand on SIGTERM


@dataclass
class Child:
    name: str
    target: object
    args: tuple
    process: multiprocessing.process.BaseProcess | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    settings: Settings
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        count = self.settings.pipeline.workers
        for index in range(count):
            self.children.append(Child(f"pipeline-{index}", runner_pipeline.main, (self.settings, index, count)))
        self.children.append(Child("delivery", runner_delivery.main, (self.settings,)))

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = self._ctx.Process(target=child.target, args=child.args, name=child.name, daemon=False)
        child.process.start()
        log.info("runner_spawned", runner=child.name, pid=child.process.pid)

    def check(self) -> None:
        """Restart a runner that died; its work is idempotent and resumes."""
        for child in self.children:
            if child.process is not None and not child.process.is_alive():
                child.restarts += 1
                log.error("runner_died", runner=child.name, exitcode=child.process.exitcode,
                          restarts=child.restarts)
                time.sleep(min(5.0, 0.2 * child.restarts))
                self._spawn(child)

    def alive(self) -> dict[str, bool]:
        return {c.name: bool(c.process and c.process.is_alive()) for c in self.children}

    def stop(self, grace: float = STOP_GRACE) -> None:
        for child in self.children:
            if child.process is not None and child.process.is_alive():
                child.process.terminate()  # SIGTERM: finish the item in hand
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.process is None:
                continue
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                log.warning("runner_killed", runner=child.name)
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


async def serve(settings: Settings) -> None:
    setup_logging(settings.logging.level, settings.logging.format, process="supervisor")
    prepare_signatures(settings)  # trust bundle readable, seal key present (docs/signatures.md)
    spool = Spool(settings.spool_dir)
    removed = spool.clean_tmp()
    db = Database(settings.database_url)
    db.create_schema()
    db.dispose()
    directory = DirectoryHolder(settings)
    handler = IntakeHandler(spool, directory, settings.gateway.domain, settings.smtp.max_recipients)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        make_smtp_factory(handler, settings.smtp.hostname, settings.smtp.max_message_size,
                          settings.smtp.data_timeout),
        host=settings.smtp.host,
        port=settings.smtp.port,
    )
    port = server.sockets[0].getsockname()[1]
    supervisor = Supervisor(settings)
    supervisor.start()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, directory.reload)
    log.info("smtp_listening", host=settings.smtp.host, port=port, spool_tmp_removed=removed,
             pending=spool.depth(), units=len(directory.current.units))
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                await loop.run_in_executor(None, supervisor.check)
    finally:
        log.info("stopping")
        server.close()  # no new connections; accepted messages are already on disk
        await server.wait_closed()
        await loop.run_in_executor(None, supervisor.stop)
        log.info("stopped")


def run(settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0
