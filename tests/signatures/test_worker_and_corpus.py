"""Hostile PDFs: every file gets a verdict, in a worker, within its deadline."""
from __future__ import annotations

import asyncio

import pytest

from gateway.signatures.worker import VerifyPool, WorkerLimits, verify_in_worker
from tests.paths import shared_path

TIMEOUT_S = 60.0  # generous: the machine is shared; a hang is what we guard against


@pytest.fixture(scope="module")
def pool():
    p = VerifyPool(workers=1)
    yield p
    p.close()


def corpus_pdfs():
    base = shared_path("corpus", "pdf", "pyhanko")
    return sorted(base.rglob("*.pdf"))


def test_every_corpus_pdf_gets_a_verdict(pool, trust):
    pdfs = corpus_pdfs()
    assert pdfs

    async def run():
        return [await verify_in_worker(p.read_bytes(), trust, TIMEOUT_S, pool=pool) for p in pdfs]

    verdicts = asyncio.run(run())
    for path, verdict in zip(pdfs, verdicts):
        doc = verdict.as_dict()
        assert doc["indication"] in ("TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND"), path
        assert doc["document"] != "crashed", (path.name, doc)
        assert doc["document"] != "timeout", (path.name, doc)
        if doc["document"] != "ok":
            assert doc["message"], path.name
    by_name = {p.name: v for p, v in zip(pdfs, verdicts)}
    assert by_name["minimal.pdf"].indication == "NO_SIGNATURE_FOUND"
    assert by_name["minimal-pubkey-aes256.pdf"].document == "encrypted"
    assert by_name["minimal-illegal-header.pdf"].document == "unreadable"
    # Signed by pyHanko's own test CA, which we do not trust.
    assert by_name["sig-no-signed-attrs.pdf"].signatures[0].sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_worker_verdict_matches_in_process(pool, signed, trust):
    verdict = asyncio.run(verify_in_worker(signed, trust, TIMEOUT_S, pool=pool))
    assert verdict.indication == "TOTAL_PASSED"
    assert verdict.signatures[0].signer


def test_size_cap_refuses_before_parsing(signed, trust):
    small = VerifyPool(workers=1, limits=WorkerLimits(max_bytes=1000))
    try:
        verdict = asyncio.run(verify_in_worker(signed, trust, TIMEOUT_S, pool=small))
    finally:
        small.close()
    assert verdict.document == "too_large"
    assert (verdict.indication, verdict.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")


def test_page_cap(trust):
    from tests.pki import make_letter

    capped = VerifyPool(workers=1, limits=WorkerLimits(max_pages=3))
    try:
        verdict = asyncio.run(verify_in_worker(make_letter(pages=5), trust, TIMEOUT_S, pool=capped))
    finally:
        capped.close()
    assert verdict.document == "too_many_pages" and verdict.pages == 5


def test_a_hanging_file_is_cut_off_and_the_pool_recovers(signed, trust, monkeypatch):
    # A deadline far below what any verification needs stands in for a PDF that hangs.
    hung = VerifyPool(workers=1)
    try:
        verdict = hung.verify_blocking(signed, trust, timeout_s=0.001)
        assert verdict.document == "timeout"
        assert (verdict.indication, verdict.sub_indication) == ("INDETERMINATE", "TRY_LATER")
        # The killed worker was replaced: the next file is checked normally.
        assert hung.verify_blocking(signed, trust, timeout_s=TIMEOUT_S).indication == "TOTAL_PASSED"
    finally:
        hung.close()
