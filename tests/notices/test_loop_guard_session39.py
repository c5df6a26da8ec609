"""Session 39's red team of the notices and the sender checks.

* Mail a list sends (RFC 2369 List-Unsubscribe or List-Post without List-Id), with
  `Precedence: bulk (list)` (a comment after the word) or with X-Loop was answered from
  the unit's official address.
* The per-domain limit counted each subdomain apart: a forger writing as
  ceo@s1.victim.example, ceo@s2.victim.example ... got max_per_domain_per_hour notices
  into the same organisation's mail server for each.
* A forged letter of a government domain under mi.th or the Thai-script รัฐบาล.ไทย was
  registered with a warning, where the same forgery of a go.th domain is held."""
from __future__ import annotations

import pytest

from gateway.config.settings import load_settings
from gateway.notices.decide import rate_keys
from gateway.notices.loop_guard import automatic_reason
from tests.notices.test_loop_guard import LATKRABANG, _send_and_wait_suppressed, loop_daemon, loop_sink  # noqa: F401
from tests.letters import letter
from tests.paths import REPO

CASES = [
    ("list_unsubscribe", {"List-Unsubscribe": "<mailto:leave@lists.example.org>"}, "mailing_list"),
    ("list_post", {"List-Post": "<mailto:circulars@lists.example.org>"}, "mailing_list"),
    ("precedence_with_comment", {"Precedence": "bulk (list)"}, "precedence_bulk"),
    ("precedence_padded", {"Precedence": "  (x) Junk"}, "precedence_junk"),
    ("x_loop", {"X-Loop": "boss@lists.example.org"}, "loop_header"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mail_of_a_list_or_a_loop_is_not_answered(loop_daemon, loop_sink, case):  # noqa: F811
    name, headers, reason = case
    sender = f"{name.replace('_', '.')}@dds.example.go.th"
    event = _send_and_wait_suppressed(loop_daemon, letter(sender=sender, extra_headers=headers), sender)
    assert event["reason"] == reason
    assert loop_sink.messages(sender) == []


def test_a_person_s_precedence_or_list_like_header_names_are_not_automatic():
    assert automatic_reason([("Precedence", "first-class")]) is None
    assert automatic_reason([("X-List", "x"), ("Listed-By", "y")]) is None


def test_the_domain_limit_counts_an_organisation_once():
    assert rate_keys("ceo@s1.victim.example")[1] == rate_keys("ceo@S2.Victim.example")[1] == "victim.example"
    assert rate_keys("saraban.dds@bangkok.go.th") == ("saraban.dds@bangkok.go.th", "bangkok.go.th")
    assert rate_keys("a@moi.go.th")[1] != rate_keys("a@mof.go.th")[1]  # go.th is a public suffix


def test_government_domains_under_mi_th_and_thai_script_suffixes_are_protected_by_default():
    sender = load_settings(REPO / "config/gateway.example.toml", environ={}).sender
    for domain in ("moi.go.th", "army.mi.th", "xn--l3cg2ag6b2bxi.xn--h3cuzk1di.xn--o3cw4h", "มหาดไทย.รัฐบาล.ไทย",
                   "xn--12car8dpx6h8a.xn--o3cyx2a.xn--o3cw4h"):
        assert sender.action_for(domain) == "quarantine", domain
    assert sender.action_for("evil.example") == "warn"
    from gateway.sender.settings import SenderSection
    assert SenderSection().domains == dict(sender.domains)  # the example shows the defaults
