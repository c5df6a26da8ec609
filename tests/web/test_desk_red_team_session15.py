"""The desk, red team session 15. Against the real daemon and its desk (in
tests/web/test_parked_letters.py, whose module desk they share, `test_session15_*`):

* A clerk of one unit pressed "ตรวจซ้ำ" (reprocess) on a parked letter also sent to
  another unit: every held entry of the message was closed, the other unit's too, and
  the letter run again for a unit the clerk neither sees nor owns. Now refused, in
  Thai, with both entries left held; a person who sees every unit still reprocesses it.
* A letter reprocessed and parked again got a fresh quarantine entry but no second
  alert: the alert's key was per message and unit, and the first one's row was kept
  (and its file name too, so the second could not be filed beside it).
* The desk believed X-Forwarded-For from 127.0.0.1: any local user could give each
  password guess a new client address and never meet the per-address limit. Now only
  `[web] trusted_proxies` are believed (none by default).
* The operations page gave key and certificate warnings in English only.

Here, without a daemon: every problem a certificate can have has its Thai sentence, and
a trusted proxy that is no address is a configuration error."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config.settings import WebSection
from gateway.secrecy.keys import problem_in_thai, registrar_cert_problem
from tests.secrecy.certs import make_cert

UNUSABLE = {
    "expired": {"days": -1, "starts_days_ago": 30},
    "not yet valid": {"starts_days_ago": -5},
    "EC key": {"ec_key": True},
    "short RSA key": {"bits": 1024},
    "no keyUsage": {"key_usage": False},
    "no keyEncipherment": {"key_encipherment": False},
}


@pytest.mark.parametrize("case", UNUSABLE, ids=UNUSABLE.keys())
def test_each_certificate_problem_has_its_thai_sentence(case):
    _key, cert = make_cert("สมศรี registrar", **UNUSABLE[case])
    problem = registrar_cert_problem(cert)
    assert problem, case
    thai = problem_in_thai(problem)
    assert not thai.startswith("ใช้ไม่ได้ (") and problem not in thai, thai  # its own sentence, not a wrapper


def test_a_trusted_proxy_must_be_an_address_or_network_and_none_is_the_default():
    assert WebSection().trusted_proxies == []
    assert WebSection(trusted_proxies=["127.0.0.1", "10.0.0.0/8", "::1"]).trusted_proxies
    with pytest.raises(ValidationError, match="'proxy.local' is not an IP address or network"):
        WebSection(trusted_proxies=["proxy.local"])
