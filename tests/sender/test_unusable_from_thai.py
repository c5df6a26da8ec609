"""Red team of 7 Dec 2026 (senders): what the clerk reads in quarantine for a letter whose
From is no single readable address, through the real daemon and the loopback DNS server.

The Thai reason carried the check's English words in its parentheses: "หัวจดหมาย From
ไม่ได้ระบุผู้ส่งเพียงรายเดียวด้วยที่อยู่อีเมลที่อ่านได้ชัดเจน (not one mailbox) ...", "(several From
fields)", "(encoded words in the address)". Now the Thai reason says why in Thai, the
English one in English.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.letters import letter, make_pdf, with_header
from tests.sender.test_daemon_sender import UNIT, start
from tests.sender.zones import ATTACKER, MINISTRY, dkim_sign
from tests.paths import REPO


@pytest.fixture(scope="module")
def held(tmp_path_factory, dns_server):
    d = start(tmp_path_factory.mktemp("unusable"), "gw", dns_server.address)
    try:
        def sent(subject: str, from_value: str, above: bytes = b"") -> str:
            raw = with_header(letter(sender=f"x@{ATTACKER}", subject=subject, files=[("a.pdf", make_pdf(subject))]),
                              "From", from_value)
            return d.send(above + dkim_sign(raw, ATTACKER), UNIT, sender=f"x@{ATTACKER}")

        ids = {
            "not one mailbox": sent("T1 two", f"saraban@{MINISTRY}, x@{ATTACKER}"),
            "several From fields": sent("T1 several", f"x@{ATTACKER}", f"From: saraban@{MINISTRY}\r\n".encode()),
            "encoded words in the address": sent("T1 encoded", f"<=?utf-8?q?saraban?=@{MINISTRY}>"),
        }
        d.wait_idle()
        entries = {e["queue_id"]: e for e in json.loads(d.cli("quarantine", "list", "--json").stdout)}
        yield {problem: entries[queue_id] for problem, queue_id in ids.items()}
    finally:
        d.stop()


@pytest.mark.parametrize(("problem", "thai"), [
    ("not one mailbox", "ไม่ใช่ที่อยู่อีเมลเพียงที่อยู่เดียว"),
    ("several From fields", "มีหัวจดหมาย From มากกว่าหนึ่งช่อง"),
    ("encoded words in the address", "ที่อยู่อีเมลเขียนด้วยรหัส encoded-word (RFC 2047)"),
])
def test_the_thai_reason_says_in_thai_why_the_from_is_unusable(held, problem, thai):
    [reason] = [r for r in held[problem]["reasons"] if r["rule"] == "sender_authenticity"]
    assert f"ชัดเจน ({thai}) จึงยืนยัน" in reason["message_th"], reason["message_th"]
    assert problem not in reason["message_th"]
    assert f"({problem})" in reason["message_en"]


def test_every_reason_the_check_gives_has_its_thai_words():
    from gateway.sender.policy import UNUSABLE_FROM_TH

    source = (REPO / "gateway" / "sender" / "dmarc.py").read_text(encoding="utf-8")
    problems = set(re.findall(r'return None, "([^"]+)"', source)) | set(re.findall(r'Author\(None, None, "([^"]+)"', source))
    assert problems and problems <= set(UNUSABLE_FROM_TH), problems - set(UNUSABLE_FROM_TH)
    assert all(re.search("[ก-๛]", text) for text in UNUSABLE_FROM_TH.values())
