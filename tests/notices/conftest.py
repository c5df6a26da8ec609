"""Fixtures: an SMTP sink as the smarthost, and the daemon configured to use it."""
from __future__ import annotations

import pytest

from tests.daemon import free_port
from tests.notices.sink import Sink


@pytest.fixture
def sink():
    s = Sink(free_port()).start()
    yield s
    s.stop()


def notices_config(sink: Sink | None, **keys) -> str:
    lines = ["[notices]"]
    if sink is not None:
        lines.append(f'smarthost = "{sink.address}"')
    for key, value in keys.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, bool) else f"{key} = {str(value).lower()}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def notice_daemon(daemon_factory, sink):
    """The real daemon sending its notices to `sink`."""
    return daemon_factory(extra=notices_config(sink)).start()
