"""pytest fixtures for the real servers: `dovecot`, `dovecot_user`, `postgres_url`, `database_url`.

Servers start once per session and only when a test asks for them. A missing server
binary fails the test with the Debian package to install (`make test` installs them, so
missing is an error); set SARABAN_SKIP_SERVERS=1 to skip these tests on purpose.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.common import SKIP_ENV, ServerUnavailable
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresCluster
from tests.servers.slapd import SlapdServer

__all__ = [
    "dovecot",
    "slapd",
    "dovecot_user",
    "postgres_cluster",
    "postgres_url",
    "postgres_database_url",
    "sqlite_url",
    "database_url",
    "pytest_collection_modifyitems",
]

_SERVER_MARKERS = {
    "dovecot": "dovecot",
    "dovecot_user": "dovecot",
    "postgres_cluster": "postgres",
    "postgres_url": "postgres",
    "postgres_database_url": "postgres",
}

_counter = itertools.count(1)


def _skip_requested(what: str) -> None:
    if os.environ.get(SKIP_ENV, "").strip() not in ("", "0"):
        pytest.skip(f"{SKIP_ENV} is set: not starting {what}")


def _start(server_class, what: str):
    _skip_requested(what)
    try:
        return server_class().start()
    except ServerUnavailable as exc:
        problem = str(exc)
    # Outside the except block, so the report is the message alone, not a chained traceback.
    pytest.fail(f"cannot start {what} for the tests: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot with the users of `DovecotServer.users` (session-wide, shared)."""
    server = _start(DovecotServer, "Dovecot")
    yield server
    server.stop()


@pytest.fixture
def dovecot_user(dovecot: DovecotServer) -> tuple[str, str]:
    """A fresh account (name, password) on the shared Dovecot, so tests do not see each other's mail."""
    dovecot.ensure_running()  # a test may have stopped it mid-way
    name = f"test{os.getpid()}.{next(_counter)}"
    password = f"pw-{name}"
    dovecot.add_user(name, password)
    return name, password


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    """A running OpenLDAP with an empty ou=people (tests add the people they need)."""
    server = _start(SlapdServer, "OpenLDAP slapd")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The throwaway PostgreSQL cluster (session-wide)."""
    cluster = _start(PostgresCluster, "PostgreSQL")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) of the session's shared test database."""
    return postgres_cluster.url()


@pytest.fixture
def postgres_database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """SQLAlchemy URL of an empty database of its own for one test, dropped afterwards."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of an empty SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'saraban.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database for one test, on SQLite and on PostgreSQL (the test runs twice)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_database_url")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the servers they use, so `-m "not dovecot"` and `-m postgres` work."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _SERVER_MARKERS.items():
            if fixture in names:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if "database_url" in names and callspec and callspec.params.get("database_url") == "postgresql":
            item.add_marker("postgres")
