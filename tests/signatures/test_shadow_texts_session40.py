"""A signed PDF whose later revision cannot be read (the Shadow attacks' manipulated
files: a stream cut short, an object number that lies) is said to have been changed
after signing, not to carry a signature whose data could not be read (session 39's
signature red team): the clerk was sent to ask the signer about a signature that was
fine, where the file had been changed after it."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import PROBLEMS, verify_pdf

TRIAL = Path("/work/shared/corpus/pdf/signature-trial")
SHADOW_UNREADABLE = ["shadow-hide-form-via-form_manipulated.pdf", "shadow-hide-v1_manipulated-a.pdf",
                     "shadow-hide-v1_manipulated-b.pdf", "shadow-replace-overwrite_manipulated.pdf"]


@pytest.fixture(scope="module")
def trial_roots():
    if not TRIAL.is_dir():
        pytest.skip("the shared signature corpus is not on this machine")
    return TrustSettings.load([TRIAL / "trust-roots.pem"], env={})


@pytest.mark.parametrize("name", SHADOW_UNREADABLE)
def test_a_later_revision_that_cannot_be_read_is_a_change_after_signing(name, trial_roots):
    verdict = verify_pdf((TRIAL / name).read_bytes(), trial_roots)
    [sig] = verdict.signatures
    assert (sig.indication, sig.modifications) == ("INDETERMINATE", "other")
    assert sig.message == PROBLEMS["changed_unreadable"][1]
    assert "could not be read (a damaged or crafted later revision)" in sig.message
    assert sig.review and verdict.review


def test_their_signed_originals_say_nothing_of_a_change(trial_roots):
    for name in ("shadow-hide-v1_signed.pdf", "shadow-hide-form-via-form_signed.pdf"):
        [sig] = verify_pdf((TRIAL / name).read_bytes(), trial_roots).signatures
        assert sig.modifications == "none" and "changed" not in sig.message, (name, sig.message)
