"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, own port.

The cluster is built for speed, not durability (fsync off), listens on a free loopback
port with its unix socket inside the temporary directory, and is deleted on stop. As
root it runs under the `postgres` account (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import re
import secrets
import signal
from pathlib import Path

import psycopg
import structlog

from tests.servers.common import (
    Account,
    ServerUnavailable,
    chown_tree,
    forget_at_exit,
    free_port,
    log_tail,
    make_workdir,
    remove_tree,
    run_as,
    service_account,
    spawn_as,
    stop_at_exit,
    stop_group,
    wait_until,
)

log = structlog.get_logger(__name__)

DEBIAN_PACKAGE = "postgresql"
SUPERUSER = "saraban"
DEFAULT_DATABASE = "saraban_test"

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_bindir() -> Path:
    """The bin directory of the newest PostgreSQL installed (or $SARABAN_PG_BINDIR)."""
    env = os.environ.get("SARABAN_PG_BINDIR")
    if env:
        candidates = [Path(env)]
    else:
        def version(path: str) -> tuple[int, ...]:
            name = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
            return tuple(int(p) for p in re.findall(r"\d+", name)) or (0,)

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
        candidates = [Path(p).parent for p in found]
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return bindir
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found under "
        f"{env or '/usr/lib/postgresql/*/bin'}: install the Debian package {DEBIAN_PACKAGE} "
        f"(`make test` installs it; or `sudo apt-get install {DEBIAN_PACKAGE}`)"
    )


class PostgresCluster:
    """One PostgreSQL cluster for a test session. `start()`, `url()`, `create_database()`, `stop()`."""

    def __init__(self, host: str = "127.0.0.1", startup_timeout: float = 30.0, port: int = 0) -> None:
        """`port` 0 picks a free one."""
        self.bindir = find_bindir()
        self.host = host
        self.startup_timeout = startup_timeout
        self.account: Account = service_account(("postgres",))
        self.user = SUPERUSER
        self.password = secrets.token_urlsafe(12)
        self.root: Path | None = None
        self.port = port
        self._proc = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "PostgresCluster":
        if self.is_running:
            return self
        if self.root is None:
            self._initdb()
        stop_at_exit(self)
        self.port = self.port or free_port(self.host)
        self._proc = spawn_as(
            self.account,
            [
                str(self.bindir / "postgres"),
                "-D", str(self.data_dir),
                "-p", str(self.port),
                "-k", str(self.socket_dir),
                "-c", f"listen_addresses={self.host}",
                # Throwaway data: durability costs time and buys nothing here.
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=100",
                "-c", "shared_buffers=32MB",
                "-c", "logging_collector=off",
                "-c", "log_min_messages=warning",
            ],
            self._root() / "postgres.log",
            env=self._env(),
            orphan_signal=signal.SIGQUIT,  # immediate shutdown: nobody is left to wait for
        )
        if not wait_until(self._accepts, self.startup_timeout, interval=0.05):
            self._fail_start(f"no connection accepted within {self.startup_timeout:.0f}s")
        self.create_database(DEFAULT_DATABASE, exist_ok=True)
        log.info("postgres_started", port=self.port, root=str(self.root), bindir=str(self.bindir))
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster."""
        self._halt()
        remove_tree(self.root)
        self.root = None
        forget_at_exit(self)

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the tests use ------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root() / "run"

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """SQLAlchemy URL of a database in this cluster (TCP on loopback, password auth)."""
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = DEFAULT_DATABASE) -> str:
        """libpq connection string for psycopg.connect()."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={database} connect_timeout=5"
        )

    def create_database(self, name: str, exist_ok: bool = False) -> str:
        """Create an empty UTF-8 database; return its SQLAlchemy URL."""
        _check_name(name)
        with self._admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and not exist_ok:
                raise ValueError(f"database {name} already exists")
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, cutting off any connection a test left open."""
        _check_name(name)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_text(self) -> str:
        path = self._root() / "postgres.log"
        return f"--- {path}\n{log_tail(path)}"

    # -- internals ---------------------------------------------------------------------

    def _initdb(self) -> None:
        root = make_workdir("saraban-postgres-", self.account)
        self.root = root
        (root / "run").mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        chown_tree(root, self.account)
        try:
            run_as(
                self.account,
                [
                    str(self.bindir / "initdb"),
                    "-D", str(root / "data"),
                    "-U", self.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                env=self._env(),
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _accepts(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            self._fail_start(f"exited with code {self._proc.returncode}")
        # The unix socket appears only once the postmaster owns its TCP port too; before
        # that, a TCP connect might reach whatever else holds the port and hang.
        if not (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            return False
        try:
            with psycopg.connect(self.conninfo("postgres")) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo("postgres"), autocommit=True)

    def _fail_start(self, why: str) -> None:
        text = self.log_text()
        self._halt()
        raise ServerUnavailable(f"PostgreSQL on port {self.port} did not start: {why}\n{text}")

    def _halt(self) -> None:

        proc, self._proc = self._proc, None
        stop_group(proc, sig=signal.SIGINT)  # SIGINT = fast shutdown: disconnects clients

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self._root()), "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8"}

    def _root(self) -> Path:
        if self.root is None:
            raise ServerUnavailable("the PostgreSQL cluster has not been started")
        return self.root


def _check_name(name: str) -> None:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_SAFE_NAME.pattern}")
