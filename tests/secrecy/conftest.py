from __future__ import annotations

import pytest

from gateway.secrecy.keys import KeyStore
from tests.secrecy.certs import make_cert


@pytest.fixture
def store(tmp_path) -> KeyStore:
    """A key store with a freshly created gateway key."""
    ks = KeyStore.for_data_dir(tmp_path / "var")
    ks.create_gateway_key("saraban-gateway test", email="saraban.dds@bangkok.go.th")
    return ks


@pytest.fixture(scope="session")
def registrar():
    """A secret registrar's (นายทะเบียนลับ) RSA key and certificate."""
    return make_cert("สมศรี registrar dds.sd")
