"""What findings do, per rule and per unit."""
import pytest

from rules.extract import extract_facts
from rules.model import Finding
from rules.policy import DEFAULT_ACTIONS, Policy, PolicyError, decide
from rules.registry import ALL_RULES, run_rules
from tests.rules.builders import COVER_003, EXE, att, mail


def fail(rule: str) -> Finding:
    return Finding(rule, "fail", "ผิด", "wrong", None)


def test_every_rule_has_a_default_action():
    assert {r.name for r in ALL_RULES} <= set(DEFAULT_ACTIONS)


@pytest.mark.parametrize("rule, action", [
    ("naming", "accept"),
    ("splitting", "accept"),
    ("real_type", "reject"),
    ("allowed_types", "reject"),
    ("executable", "reject"),
    ("no_document", "reject"),
    ("top_secret", "reject"),
    ("duplicate_file", "accept"),
    ("some_future_rule", "accept"),   # unknown rules warn
])
def test_defaults(rule, action):
    d = decide([fail(rule)])
    assert d.action == action
    if action == "accept":
        assert [f.verdict for f in d.warnings] == ["warn"] and d.reasons == []
    else:
        assert [f.rule for f in d.reasons] == [rule]


def test_per_unit_overrides_default_and_inherits_down():
    policy = Policy(default={"naming": "warn"}, per_unit={"dindaeng": {"naming": "reject"}, "dindaeng.edu": {"naming": "ignore"}})
    assert policy.decide([fail("naming")], "dds").action == "accept"
    assert policy.decide([fail("naming")], "dindaeng").action == "reject"
    assert policy.decide([fail("naming")], "dindaeng.admin").action == "reject"   # inherits from dindaeng
    d = policy.decide([fail("naming")], "dindaeng.edu")
    assert d.action == "accept" and d.findings == []                            # ignored


def test_default_table_overrides_built_in_defaults():
    assert Policy(default={"executable": "warn"}).decide([fail("executable")]).action == "accept"


def test_warn_and_pass_never_reject():
    findings = [Finding("executable", "warn", "ระวัง", "careful"), Finding("real_type", "pass", "ผ่าน", "ok")]
    d = decide(findings)
    assert d.action == "accept" and len(d.findings) == 2


def test_bad_action_is_a_clear_error():
    with pytest.raises(PolicyError, match="naming.*'block'"):
        Policy(default={"naming": "block"})
    with pytest.raises(PolicyError, match="unit 'dds'"):
        Policy.from_mapping({"units": {"dds": {"naming": "deny"}}})


def test_from_mapping():
    policy = Policy.from_mapping({"default": {"splitting": "reject"}, "units": {"pw": {"splitting": "warn"}}})
    assert policy.action_for("splitting") == "reject"
    assert policy.action_for("splitting", "dds.pw") == "reject"
    assert policy.action_for("splitting", "pw") == "warn"


@pytest.mark.parametrize("files, subject, action, reasons", [
    ([att("2566_BMA_0403_276.pdf", pdf_text=COVER_003)], "", "accept", []),
    ([att("หนังสือ นำ.pdf", pdf_text=COVER_003)], "", "accept", []),              # naming only warns
    ([att("2566_BMA_0403_276.pdf", sniffed="text/html", data=b"<html>")], "", "reject", ["real_type", "no_document"]),
    ([att("2566_BMA_0403_276.pdf", pdf_text=COVER_003), att("viewer.exe", sniffed="application/x-dosexec", data=EXE)], "", "reject", ["executable"]),
    ([], "ส่งหนังสือ", "reject", ["no_document"]),
    ([att("2566_BMA_0403_276.pdf")], "ลับที่สุด แผน", "reject", ["top_secret"]),
])
def test_whole_mail_outcome(files, subject, action, reasons):
    m = mail(*files, subject=subject)
    d = decide(run_rules(m, extract_facts(m)))
    assert d.action == action
    assert sorted(f.rule for f in d.reasons) == sorted(reasons)
