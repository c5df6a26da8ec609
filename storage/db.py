"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from storage.schema_version import READ_ONLY as _READ_ONLY, newest_revision, schema_revision
from storage.text import safe_parameters


# What a caller outside storage/ catches when the database refuses (unreachable, locked,
# a constraint): SQLAlchemy's base error, named here so no other package imports it.
DatabaseError = SQLAlchemyError


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for PostgreSQL or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


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


def make_engine(url: str, lock_timeout: float = LOCK_TIMEOUT, statement_timeout: float = STATEMENT_TIMEOUT) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a connection to a local file does not go stale, and the ping is
        # one more statement for every transaction.
        engine = create_engine(url, connect_args={"timeout": lock_timeout}, hide_parameters=True)
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
                               connect_args=connect_args)
    event.listen(engine, "before_cursor_execute", _safe_parameters, retval=True)
    return engine


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


def as_loaded(model, row):  # noqa: ANN001, ANN201 - any mapped class, a row or mapping of its table
    """An instance of `model` made from a row of its own table, detached, as if the ORM
    had loaded it: for rows read by a prebuilt statement (the delivery runner's items and
    letters), without the ORM's loading machinery. Only read it; to change the row,
    write an UPDATE."""
    instance = model(**(row._mapping if hasattr(row, "_mapping") else row))
    make_transient_to_detached(instance)
    return instance


class Database:
    def __init__(self, url: str, lock_timeout: float = LOCK_TIMEOUT, statement_timeout: float = STATEMENT_TIMEOUT):
        self.url = url
        self.lock_timeout, self.statement_timeout = lock_timeout, statement_timeout
        self.engine = make_engine(url, lock_timeout, statement_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (storage/migrate.py, docs/database.md)."""
        if schema_revision(self.engine) == newest_revision():
            # Nothing to do, and Alembic (with Mako and Pygments, ~14 MiB) stays out of
            # this long-lived process: every runner calls this at start.
            return
        from storage.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

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
