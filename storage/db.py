"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import structlog
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import manager_of_class

from storage.errors import DatabaseFileMoved
from storage.schema_version import READ_ONLY as _READ_ONLY, UNBOUNDED, newest_revision, schema_revision
from storage.text import safe_parameters


log = structlog.get_logger("storage.db")

# What a caller outside storage/ catches when the database refuses (unreachable, locked,
# a constraint): SQLAlchemy's base error, named here so no other package imports it.
DatabaseError = SQLAlchemyError


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for PostgreSQL or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def server_database(url: str) -> str | None:
    """Which PostgreSQL database a URL names, without its password and however its driver
    is spelt (`postgresql://` or `postgresql+psycopg://`, the default port written or not):
    `postgresql://user@host:5432/name`. None for SQLite, whose file names it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "postgresql":
        return None
    socket_dir = parsed.query.get("host")  # postgresql:///name?host=/run/postgresql
    host = parsed.host or (socket_dir if isinstance(socket_dir, str) else "localhost")
    return f"postgresql://{parsed.username or ''}@{host}:{parsed.port or 5432}/{parsed.database or ''}"


PG_CONNECT_TIMEOUT = 10  # seconds (docs/operations.md, "When a server does not answer")
# [storage] lock_timeout and statement_timeout (docs/database.md, "When the database is
# stuck"): how long a transaction waits for a lock another program holds (SQLite's
# busy_timeout, PostgreSQL's lock_timeout), and how long one PostgreSQL statement may run.
LOCK_TIMEOUT = 60.0
STATEMENT_TIMEOUT = 300.0
# Keepalives: a connection whose peer vanished (a dropped network, a host gone) is
# noticed within about idle + interval * count seconds instead of the kernel's two hours;
# tcp_user_timeout: a request the server never acknowledged fails after that long.
_PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
                  "tcp_user_timeout": 60000}


def _pg_connect_args(url: str, lock_timeout: float, statement_timeout: float) -> dict:
    """connect_timeout, keepalives and the two server-side bounds, each left to the URL
    when it names its own (`?connect_timeout=N`, `?options=-c statement_timeout=...`)."""
    args = {} if "connect_timeout=" in url else {"connect_timeout": PG_CONNECT_TIMEOUT}
    args.update({key: value for key, value in _PG_KEEPALIVES.items() if f"{key}=" not in url})
    options = [f"-c {name}={int(seconds * 1000)}" for name, seconds in
               (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)) if name not in url]
    if options and "options=" not in url:
        args["options"] = " ".join(options)
    return args


def _json_text(value: Any) -> str:
    """JSON columns (reasons, findings, payloads) as UTF-8 text: json.dumps's default wrote
    Thai as \\u escapes, 6 bytes a letter, unreadable to an operator using sqlite3 or psql.
    Rows written before read the same. A lone surrogate (a file name's undecodable byte,
    kept by surrogateescape) cannot be UTF-8: such a value is written escaped, as before."""
    out = json.dumps(value, ensure_ascii=False)
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return out


def make_engine(url: str, lock_timeout: float = LOCK_TIMEOUT, statement_timeout: float = STATEMENT_TIMEOUT) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a connection to a local file does not go stale, and the ping is
        # one more statement for every transaction.
        engine = create_engine(url, connect_args={"timeout": lock_timeout}, hide_parameters=True,
                               json_serializer=_json_text)
        _sqlite_durable_and_serialised(engine, lock_timeout)
    else:
        # hide_parameters: an IntegrityError's text (logged) would carry the statement's
        # values, e.g. an ordinary letter's subject.
        # connect_timeout: without it libpq waits for ever on a server that takes the TCP
        # connection and never answers (a hung host, a firewall's half-open state), and
        # so did start-up, `status` and every runner (session 17). psycopg counts it for
        # the whole connection, the startup and authentication included. A URL that
        # says ?connect_timeout=N keeps its own.
        # lock_timeout, statement_timeout: an operator's `LOCK TABLE`, a VACUUM FULL or a
        # migration by hand held every runner, `status` and the register on one statement
        # for as long as it lasted (session 18); now the statement fails with 55P03/57014,
        # which the runners take for the database's condition (storage/errors.py): the
        # letter waits in the spool and is tried again.
        connect_args = _pg_connect_args(url, lock_timeout, statement_timeout)
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True,
                               connect_args=connect_args, json_serializer=_json_text)
    event.listen(engine, "before_cursor_execute", _safe_parameters, retval=True)
    if engine.dialect.name == "postgresql" and "statement_timeout" not in url:
        _WATCH.watch(engine, statement_timeout + min(statement_timeout, STALL_GRACE))
    return engine


STALL_GRACE = 10.0  # seconds past statement_timeout before the gateway cuts the connection itself


class _StatementWatch:
    """A deadline on the gateway's side for each PostgreSQL statement (and the pool's
    ping): statement_timeout is the server's, and a server that stopped answering in the
    middle of a statement (its backend frozen, a hung host whose kernel still
    acknowledges) never enforces it; libpq then waited for ever and so did the runner,
    holding every letter behind it (session 17 left it unbounded). Past the deadline
    the connection's socket is shut down: the blocked read returns, psycopg raises a
    connection error, which the runners take for the database's condition and retry on
    a new connection. One daemon thread per process, started with the first statement."""

    def __init__(self):
        self._running: dict[int, tuple[float, float, object]] = {}  # id -> (deadline, seconds, connection)
        self._lock = threading.Lock()
        self._pid = 0

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._running = {}
        self._pid = 0  # the thread is not in the child

    def watch(self, engine: Engine, seconds: float) -> None:
        def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            if not conn.get_execution_options().get(UNBOUNDED):
                self.begin(conn.connection.dbapi_connection, seconds)

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", lambda context: self.end(context.connection.connection.dbapi_connection)
                     if context.connection is not None and context.connection.connection is not None else None)
        # The pool's pre-ping, COMMIT and ROLLBACK go to the driver without a cursor event.
        for name in ("do_ping", "do_commit", "do_rollback"):
            setattr(engine.dialect, name, self._bounded(getattr(engine.dialect, name), seconds))

    def _bounded(self, call, seconds: float):  # noqa: ANN001, ANN202 - a dialect's method of one connection
        def bounded(dbapi_connection):  # noqa: ANN001, ANN202
            self.begin(dbapi_connection, seconds)
            try:
                return call(dbapi_connection)
            finally:
                self.end(dbapi_connection)

        return bounded

    def _after(self, conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        self.end(conn.connection.dbapi_connection)

    def begin(self, dbapi_connection, seconds: float) -> None:  # noqa: ANN001
        with self._lock:
            self._running[id(dbapi_connection)] = (time.monotonic() + seconds, seconds, dbapi_connection)
            if self._pid != os.getpid():  # first use in this process
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="statement-watch", daemon=True).start()

    def end(self, dbapi_connection) -> None:  # noqa: ANN001
        with self._lock:
            self._running.pop(id(dbapi_connection), None)

    def _loop(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                late = [key for key, (deadline, _, _) in self._running.items() if deadline < now]
                cut = [self._running.pop(key) for key in late]
            for _, seconds, dbapi_connection in cut:
                log.warning("database_no_answer", waited=round(seconds),
                            action="connection cut; the work is tried again on a new one")
                _shut_down(dbapi_connection)


_WATCH = _StatementWatch()
# A child forked while the watch thread held the lock would wait on it for ever.
os.register_at_fork(after_in_child=_WATCH.forget)


def _shut_down(dbapi_connection) -> None:  # noqa: ANN001 - a psycopg Connection
    try:
        duplicate = socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket))
    except Exception:  # noqa: BLE001 - closed meanwhile: nothing to cut
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)  # the socket, not only this descriptor: libpq's read returns
    except OSError:
        pass
    finally:
        duplicate.close()


def _safe_parameters(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
    return statement, safe_parameters(parameters)


def _sqlite_durable_and_serialised(engine: Engine, lock_timeout: float) -> None:
    # pysqlite opens transactions lazily and as DEFERRED; two processes that both read
    # then write would deadlock into SQLITE_BUSY. Taking the write lock at BEGIN
    # (IMMEDIATE) serialises writers, which is what gapless numbering needs anyway.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        # A read (Database.reading) begins DEFERRED: in WAL mode it reads a snapshot and
        # takes no lock, so it neither waits for a writer nor makes one wait.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


# What registering a letter writes (storage/messages.py, register.py, outbox.py).
_WRITTEN_TABLES = ("messages", "letters", "register_counters", "outbox")


def dialect_insert(dialect: str):  # noqa: ANN201 - sqlalchemy's Insert construct of that dialect
    """INSERT with ON CONFLICT for `dialect` ("postgresql" or "sqlite"), the dialect's
    module imported on first use: the one a gateway does not run on is ~2 MiB in each
    of its processes for nothing."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def as_loaded(model, row):  # noqa: ANN001, ANN201 - any mapped class, a row or mapping of its table
    """An instance of `model` made from a row of its own table, detached, as if the ORM
    had loaded it: for rows read by a prebuilt statement (the delivery runner's items and
    letters), without the ORM's loading machinery. Only read it; to change the row,
    write an UPDATE.

    The values go into the instance's dict as the ORM's loader puts them, not through
    the constructor's instrumented attribute sets (19-29 us an instance against 5-6;
    several a letter): the same state, values and expired (absent) attributes
    (tests/storage/test_as_loaded.py). A name that is no attribute of the model is
    refused, as the constructor refuses it."""
    values = row._mapping if hasattr(row, "_mapping") else row
    manager, attributes = _loading(model)
    if not attributes.issuperset(values):
        unknown = sorted(set(values) - attributes)
        raise TypeError(f"{unknown[0]!r} is an invalid keyword argument for {model.__name__}")
    instance = manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


@functools.lru_cache(maxsize=None)
def _loading(model):  # noqa: ANN001, ANN202 - a mapped class -> (its class manager, its attribute names)
    manager = manager_of_class(model)
    return manager, frozenset(prop.key for prop in manager.mapper.column_attrs)


FileIdentity = tuple[int, int]  # (st_dev, st_ino)


def file_identity(path: str | Path) -> FileIdentity | None:
    """Which file is at `path` now (None: nothing is)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


# The file each SQLite path must be, for every Database of this process: pinned by the
# daemon once its schema is up (the file it started with), and by each runner to what
# the daemon recorded. Without it, a runner restarted (a crash, a reload) after the file
# was moved away made a new, empty register at the path and numbered from 1 again.
_PINNED: dict[str, FileIdentity] = {}


def moved_words(path: str | Path, replaced: bool) -> str:
    """The reason /healthz, `status` and the log give, in plain words."""
    if replaced:
        return (f"the database file {path} was moved or replaced while the gateway ran (another file is at "
                "that path now: a restore by hand?); letters are accepted and wait in the spool, none is "
                "registered: put the original file back at that path and the gateway goes on by itself, or "
                "restart the gateway (systemctl restart saraban-gateway) to use the file now there as a "
                "restored register (no letter is numbered before the receive numbers given are read back "
                "from the units' folders)")
    return (f"the database file {path} was moved or replaced while the gateway ran (nothing is at that path "
            "now); letters are accepted and wait in the spool, none is registered: put the original file "
            "back at that path and the gateway goes on by itself (a restart does not help: the gateway "
            "does not start a new, empty register in its place)")


OUTBOX_CHANGED = "outbox_changed"  # Session.info key: this transaction made outbox items due


class Database:
    def __init__(self, url: str, lock_timeout: float = LOCK_TIMEOUT, statement_timeout: float = STATEMENT_TIMEOUT):
        self.url = url
        self.lock_timeout, self.statement_timeout = lock_timeout, statement_timeout
        self.engine = make_engine(url, lock_timeout, statement_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Called after a session that made outbox items due commits (storage/outbox.py
        # marks it): the process rings the delivery runner's doorbell
        # (gateway/service/doorbell.py). Never before the commit: rung early, the runner
        # looks, finds nothing yet, and naps.
        self.after_outbox_change: Callable[[], None] | None = None
        file = sqlite_file(url)
        self.file = None if file is None else os.path.abspath(file)
        # The file this Database's first connection opened, when no pin says which.
        self._opened: FileIdentity | None = None
        if self.file is not None:
            event.listen(self.engine, "do_connect", self._before_connect)
            event.listen(self.engine, "connect", self._after_connect)

    def _expected(self) -> FileIdentity | None:
        return self._opened or _PINNED.get(self.file)

    def _before_connect(self, dialect, conn_rec, cargs, cparams) -> None:  # noqa: ANN001
        # A new connection to a path whose file moved would create an empty database
        # there, or open the replaced file beside the pool's connections to the old one:
        # two registers at once. The pool's connections are checked per batch
        # (check_file); a new one, here.
        self.check_file()

    def _after_connect(self, dbapi_conn, conn_rec) -> None:  # noqa: ANN001
        if self._opened is None:
            self._opened = file_identity(self.file)

    def pin_file(self, identity: FileIdentity | None = None, process_wide: bool = True) -> FileIdentity | None:
        """Make `identity` (default: the file at the path now) the file every Database of
        this process for this path must find there (`process_wide`; else this one alone);
        returns it. None for PostgreSQL."""
        if self.file is None:
            return None
        identity = identity or file_identity(self.file)
        if identity is not None:
            if process_wide:
                _PINNED[self.file] = tuple(identity)
            else:
                self._opened = tuple(identity)
        return identity

    def file_moved(self) -> DatabaseFileMoved | None:
        """Why the file at the configured path is not the one this process's connections
        have open (moved, deleted, replaced), or None: one stat. Never for PostgreSQL, nor
        before the first connection (nothing is open yet)."""
        if self.file is None:
            return None
        expected = self._expected()
        if expected is None:
            return None
        now = file_identity(self.file)
        if now == expected:
            return None
        return DatabaseFileMoved(moved_words(self.file, replaced=now is not None), replaced=now is not None)

    def check_file(self) -> None:
        """Raise DatabaseFileMoved if file_moved says so: before work whose writes must
        land in the register at the configured path (a batch's registration, a batch of
        deliveries marked done)."""
        problem = self.file_moved()
        if problem is not None:
            raise problem

    def write_refusal(self) -> str | None:
        """Why this process may not write the register, or None: one write rolled back
        (the daemon's start, after the schema is current). A SQLite file another user
        made (`db upgrade` run as root) is opened read-only without a word, and a
        PostgreSQL standby or a role without UPDATE reads as well as any: until session
        56 the daemon started on them, accepted letters with 250 and registered none
        (each batch "storage_unavailable", retried for ever). A lock another program
        holds is not waited for here, nor taken for a refusal: the start goes on as
        before, and the letters wait for the lock (docs/database.md)."""
        from sqlalchemy import text

        if self.file is not None:
            probe = sqlite3.connect(self.file, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN")
                probe.execute("UPDATE alembic_version SET version_num = version_num")
            except sqlite3.OperationalError as exc:
                if "readonly" in str(exc):
                    return "the file is read-only for this process (attempt to write a readonly database)"
                return None  # locked by another program, or gone: not this check's to say
            finally:
                try:
                    probe.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                probe.close()
            return None
        try:
            with self.engine.connect() as connection, connection.begin() as transaction:
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
                transaction.rollback()
        except sqlalchemy_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in ("25006", "42501"):  # read-only transaction, no privilege
                return str(exc.orig).strip().splitlines()[0][:300]
            if getattr(exc.orig, "sqlstate", None) in ("55P03", "57014"):  # a lock another session holds
                return None
            raise
        return None

    def schema_is_current(self) -> bool:
        """Whether the schema is at the newest migration, read without Alembic."""
        return schema_revision(self.engine) == newest_revision()

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (storage/migrate.py, docs/database.md).
        The daemon runs this in a child (gateway/service/schema_upgrade.py)."""
        if self.schema_is_current():
            # Nothing to do, and Alembic (with Mako and Pygments, ~14 MiB) stays out of
            # this long-lived process: every runner calls this at start.
            return
        from storage.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception.

        Not in a file moved or replaced under this process (one stat): a pooled
        connection still holds the old file, and what it wrote there (a clerk's
        decision at the desk, a mailbox's intake record, a clock check) was gone at the
        next start. Raised as the driver's refusal, which every caller already takes as
        the database's condition (the desk's "register busy", a runner's wait)."""
        problem = self.file_moved()
        if problem is not None:
            raise sqlalchemy_exc.OperationalError(None, None, problem)
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()
        if session.info.get(OUTBOX_CHANGED) and self.after_outbox_change is not None:
            self.after_outbox_change()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One read-only transaction, for statements that only read (Core, no Session).
        On SQLite it takes no write lock (the session's BEGIN IMMEDIATE does); on
        PostgreSQL it is an ordinary transaction. Rolled back at the end."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_READ_ONLY: True})
            yield conn

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A Session that only reads (`status`, `register list`): on SQLite a deferred
        BEGIN, which in WAL mode reads a snapshot and does not wait for the write lock, so
        a sysadmin's `BEGIN IMMEDIATE` left open in a sqlite3 shell does not hold the
        command up for lock_timeout and then fail. Rolled back at the end."""
        with self.reading() as conn, Session(bind=conn) as session:
            yield session

    def ping(self) -> None:
        with self.reading() as conn:
            conn.exec_driver_sql("SELECT 1")

    def writer_blocked(self, wait: float = 1.0) -> str | None:
        """Why a writer cannot start now, or None: another program holds the lock that
        registering a letter needs (SQLite: the write lock, e.g. `BEGIN IMMEDIATE` in a
        sqlite3 shell; PostgreSQL: a table lock that stops INSERT/UPDATE, e.g. `LOCK
        TABLE`, VACUUM FULL, ALTER TABLE) and did not free it within `wait` seconds.
        Takes nothing for longer than that, and rolls back."""
        ms = max(1, int(wait * 1000))
        path = sqlite_file(self.url)
        if self.engine.dialect.name == "sqlite":
            if path is None:
                return None
            # Its own connection: the pool's wait lock_timeout, this one `wait`.
            probe = sqlite3.connect(path, timeout=wait, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower():
                    raise
                return "another program holds the database's write lock (a sqlite3 shell, a backup)"
            finally:
                probe.close()
            return None
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms + 2000}")
            try:
                conn.exec_driver_sql(f"LOCK TABLE {', '.join(_WRITTEN_TABLES)} IN ROW EXCLUSIVE MODE")
            except SQLAlchemyError as exc:
                if getattr(getattr(exc, "orig", None), "sqlstate", None) not in ("55P03", "57014"):
                    raise
                return "another session holds a lock on the register's tables (LOCK TABLE, VACUUM FULL, ALTER TABLE)"
            finally:
                conn.rollback()
        return None

    def dispose(self) -> None:
        self.engine.dispose()
