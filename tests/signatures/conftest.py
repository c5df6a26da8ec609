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


@pytest.fixture(scope="session")
def seal(pki):
    """The gateway seal of the test PKI (issued by the sub-CA), as the stamp uses it."""
    from gateway.signatures.stamp import SealKey

    return SealKey.load(pki.seal.key_path, pki.seal.cert_path, [pki.sub_ca.cert_path])


@pytest.fixture(scope="session")
def stamp_info():
    """A receive stamp: สำนักงานเขตพระนคร, เลขรับ 15/2569, 5 January 2026 09.10 Bangkok time."""
    import datetime as dt

    from gateway.signatures.stamp import StampInfo

    return StampInfo(unit_name="สำนักงานเขตพระนคร", receive_number="15/2569",
                     received_at=dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc))


@pytest.fixture(scope="session")
def trial_trust():
    """The trust roots shipped with shared/corpus/pdf/signature-trial/."""
    from tests.paths import shared_path

    return TrustSettings.load([shared_path("corpus", "pdf", "signature-trial") / "trust-roots.pem"], env={})


@pytest.fixture(scope="session")
def trial_verdicts(trial_trust):
    """File name -> the gateway's verdict, for every PDF of the signature trial (computed once:
    verifying all 40 takes most of a minute)."""
    from gateway.signatures.verify import verify_pdf
    from tests.paths import shared_path

    base = shared_path("corpus", "pdf", "signature-trial")
    return {p.name: verify_pdf(p.read_bytes(), trial_trust) for p in sorted(base.glob("*.pdf"))}
