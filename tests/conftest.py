"""Shared pytest setup: the real servers the suite starts by itself (tests/servers/)."""
from tests.servers.fixtures import *  # noqa: F401,F403 - fixtures and the marker hook
