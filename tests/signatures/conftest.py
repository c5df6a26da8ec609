"""The test PKI and a few letters, built once per session in a temp dir."""
from __future__ import annotations

import pytest

from gateway.signatures.trust import TrustSettings
from tests.pki import build_pki, make_letter, sign_letter


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def trust(pki):
    return TrustSettings.load([pki.roots_pem], revocation_dir=pki.revocation_dir, env={})


@pytest.fixture(scope="session")
def letter():
    return make_letter(with_form_field=True)


@pytest.fixture(scope="session")
def signed(letter, pki):
    return sign_letter(letter, pki)


@pytest.fixture(scope="session")
def certified(letter, pki):
    return sign_letter(letter, pki, certify_no_changes=True)
