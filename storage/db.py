"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from storage.schema_version import newest_revision, schema_revision
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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a connection to a local file does not go stale, and the ping is
        # one more statement for every transaction.
        engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)
        _sqlite_durable_and_serialised(engine)
    else:
        # hide_parameters: an IntegrityError's text (logged) would carry the statement's
        # values, e.g. an ordinary letter's subject.
        # connect_timeout: without it libpq waits for ever on a server that takes the TCP
        # connection and never answers (a hung host, a firewall's half-open state), and
        # so did start-up, `status` and every runner (session 17). psycopg counts it for
        # the whole connection, the startup and authentication included. A URL that
        # says ?connect_timeout=N keeps its own.
        connect_args = {} if "connect_timeout=" in url else {"connect_timeout": PG_CONNECT_TIMEOUT}
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True,
                               connect_args=connect_args)
    event.listen(engine, "before_cursor_execute", _safe_parameters, retval=True)
    return engine


def _safe_parameters(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
    return statement, safe_parameters(parameters)


def _sqlite_durable_and_serialised(engine: Engine) -> None:
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
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        # A read (Database.reading) begins DEFERRED: in WAL mode it reads a snapshot and
        # takes no lock, so it neither waits for a writer nor makes one wait.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


_READ_ONLY = "saraban_read_only"


def as_loaded(model, row):  # noqa: ANN001, ANN201 - any mapped class, a row or mapping of its table
    """An instance of `model` made from a row of its own table, detached, as if the ORM
    had loaded it: for rows read by a prebuilt statement (the delivery runner's items and
    letters), without the ORM's loading machinery. Only read it; to change the row,
    write an UPDATE."""
    instance = model(**(row._mapping if hasattr(row, "_mapping") else row))
    make_transient_to_detached(instance)
    return instance


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
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

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
