"""Shared pytest setup: the real daemon and the real servers the suite starts by itself."""
from tests.fixtures_daemon import *  # noqa: F401,F403
from tests.servers.fixtures import *  # noqa: F401,F403 - fixtures and the marker hook
