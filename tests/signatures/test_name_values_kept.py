"""asn1crypto's prepared name values, kept by their text (gateway/signatures/asn1_names.py
`prepare_name_values_once`), are what asn1crypto prepares afresh: the same text, the same
refusal, and names that matched still match, names that did not still do not."""
from __future__ import annotations

import pytest
from asn1crypto import x509

from gateway.signatures.asn1_names import _PREPARED_KEPT, prepare_name_values_once

TEXTS = [
    "Lord Testerino", "  lord   TESTERINO ", "สำนักงานเขตลาดกระบัง", "ส\u0e33นักงาน",  # SARA AM, as typed
    "Te\u00adst", "Test\u00a0CA", "e\u0301", "é", "ﬁle",  # soft hyphen, no-break space, NFKC
    "Thai\u200bCA", "\u202eAC iahT",  # a zero-width space; an override, which prep removes
]
REFUSED = ["private \ue000 use", "unassigned \U000e0ffe"]


def _fresh(text: str):
    value = x509.NameTypeAndValue({"type": "common_name",
                                   "value": x509.DirectoryString(name="utf8_string", value=text)})
    try:
        return ("prepared", value.prepped_value)
    except ValueError as exc:
        return ("refused", str(exc))


@pytest.fixture()
def kept():
    prepare_name_values_once()
    prepared = x509.NameTypeAndValue._ldap_string_prep
    assert hasattr(prepared, "kept")
    return prepared


def test_kept_values_are_what_asn1crypto_prepares(kept):
    original = kept.original
    for text in TEXTS + REFUSED:
        first, again = _fresh(text), _fresh(text)  # the second from what was kept
        try:
            theirs = ("prepared", original(None, text))
        except ValueError as exc:
            theirs = ("refused", str(exc))
        assert first == again == theirs, text
    for text in REFUSED:
        assert text not in kept.kept  # a refusal is not kept: refused again, every time


def test_names_compare_as_before(kept):
    def name(cn: str, org: str = "Bangkok Metropolitan Administration") -> x509.Name:
        return x509.Name.build({"common_name": cn, "organization_name": org})

    assert name("Lord Testerino") == name("  lord   TESTERINO ")
    assert name("สำนักงานเขตลาดกระบัง") != name("สำนักงานเขตลาดกระบัง", "กรุงเทพมหานคร")
    assert name("Lord Testerino") != name("Lord Testerin0")


def test_at_most_so_many_texts_are_kept(kept):
    for n in range(_PREPARED_KEPT + 500):
        assert _fresh(f"Signer  {n}") == ("prepared", kept.original(None, f"Signer  {n}"))
    assert len(kept.kept) <= _PREPARED_KEPT
    prepare_name_values_once()  # once a process: not wrapped twice
    assert x509.NameTypeAndValue._ldap_string_prep is kept
