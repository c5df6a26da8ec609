"""Shared pytest setup: the real daemon (tests/daemon.py) and the real servers the suite starts by itself (tests/servers/)."""
from tests.fixtures_daemon import *  # noqa: F401,F403
from tests.servers.fixtures import *  # noqa: F401,F403 - fixtures and the marker hook
