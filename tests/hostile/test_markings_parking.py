"""A message that keeps failing is parked sealed (issue 12: "park nothing in plaintext
anywhere, spool/failed included"): the gateway could not tell what it is, so it may be
classified. `reprocess` opens it again."""
from __future__ import annotations

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline.runner import process_safely
from gateway.secrecy.keys import KeyStore
from gateway.service.services import open_services
from gateway.tools.reprocess import reprocess
from tests.classified.helpers import MARKER, files_containing
from tests.daemon import write_config
from tests.hostile.markings_cases import SUBJECT, _plain


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _fail_until_parked(services, qid, monkeypatch):
    def bug(*_args, **_kwargs):  # not the disk (that waits, never parks): a fault of ours
        raise ValueError("a bug in the pipeline")

    with monkeypatch.context() as patch:
        patch.setattr(services.vault, "put", bug)
        patch.setattr("gateway.secrecy.sealed_store.SealedStore.put", bug)
        for _ in range(services.settings.pipeline.max_attempts):
            process_safely(services, qid)


def test_a_failing_classified_letter_is_parked_sealed_and_reprocessed(services, monkeypatch):
    KeyStore.for_data_dir(services.settings.data_dir).create_gateway_key("saraban-gateway test", email="saraban@bangkok.go.th")
    qid = services.spool.accept(_plain(subject=f"ลับ {SUBJECT}"), "saraban.dds@bangkok.go.th",
                                ["saraban.latkrabang@bangkok.go.th"])
    _fail_until_parked(services, qid, monkeypatch)
    assert services.spool.parked() == [qid]
    parked = services.spool.failed / f"{qid}.msg"
    assert parked.read_bytes()[:4] == b"SGV1"
    assert files_containing(services.settings.data_dir, MARKER) == []  # spool/new shredded too

    result = reprocess(services, qid, "bug fixed")
    assert result["was"] == "parked" and result["state"] == "done"
    assert services.spool.parked() == [] and services.spool.pending() == []
    assert files_containing(services.settings.data_dir, MARKER) == []  # now sealed as ลับ


def test_without_a_gateway_key_one_is_made_and_the_parked_letter_is_sealed(services, monkeypatch):
    qid = services.spool.accept(_plain(), "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])
    _fail_until_parked(services, qid, monkeypatch)
    assert services.spool.parked() == [qid]
    assert (services.spool.failed / f"{qid}.msg").read_bytes()[:4] == b"SGV1"
    assert list((services.settings.data_dir / "keys" / "gateway").glob("*/cert.pem"))
