from __future__ import annotations

import pytest

from tests.sender.zones import zones
from tests.servers.dns import DnsServer


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    server = DnsServer(zones(), tmp_path_factory.mktemp("dns")).start()
    yield server
    server.stop()
