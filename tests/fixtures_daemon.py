"""pytest fixtures: the daemon running on loopback with its own data directory."""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, write_config


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    yield d
    d.stop()


@pytest.fixture
def daemon_factory(tmp_path):
    """Build daemons with custom settings; all are stopped at the end."""
    made: list[Daemon] = []

    def make(name: str = "gw", **kwargs) -> Daemon:
        d = Daemon(write_config(tmp_path / name, **kwargs))
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
