"""Senders cannot aim notices (issue 12, "Notices: what must hold"): a notice goes only
to the From address when it aligns with the envelope sender, never to Reply-To; it
quotes nothing the sender wrote but the registered subject; it is rate-limited by the
address without its +tag and by domain; any Auto-Submitted saying automatic wins."""
from __future__ import annotations

import json
import time

from gateway.notices.loop_guard import suppression_reason
from tests.classified.helpers import db_rows
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config, sink  # noqa: F401  (the smarthost fixture)

LAT = "saraban.latkrabang@bangkok.go.th"
PAYMENT_LINK = "https://pay.evil.example/invoice?id=77"


def _notices(d) -> list[dict]:
    rows = db_rows(d, "select state, payload from outbox where kind = 'notice' order by id")
    return [{"state": state, **json.loads(payload)} for state, payload in rows]


def _wait_notices(d, count: int) -> list[dict]:
    return d.wait_for(lambda: (lambda n: n if len(n) >= count else None)(_notices(d)), what=f"{count} notice items")


def _from(address: str, **kw) -> bytes:
    raw = letter(sender=address, **kw)
    return raw


def test_reply_to_victims_get_nothing_and_unaligned_senders_are_not_answered(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    # 1. Reply-To aimed at a victim, with a payment link as the subject: the author (From,
    #    aligned with the envelope) gets the acknowledgement, the victim nothing.
    for n in range(3):
        d.send(letter(subject=f"ชำระเงินด่วน {PAYMENT_LINK}", message_id=f"<rt-{n}@dds.bangkok.go.th>",
                      extra_headers={"Reply-To": f"victim+{n}@other.example"}), LAT)
    # 2. A forged From at another organisation, sent from a bangkok.go.th envelope: the
    #    two do not align and nothing says the From is genuine, so nobody is answered.
    d.send(_from("director@moi.example.go.th", message_id="<forged-1@x>"), LAT,
           sender="saraban.dds@bangkok.go.th")
    got = sink.wait(3)
    d.wait_idle()
    time.sleep(0.5)
    assert sorted(r.rcpt_tos[0] for r in sink.messages()) == ["saraban.dds@bangkok.go.th"] * 3
    notices = _wait_notices(d, 4)
    assert [n["to"] for n in notices] == ["saraban.dds@bangkok.go.th"] * 3 + [None]
    assert notices[3]["state"] == "suppressed" and notices[3]["suppressed"] == "sender_not_aligned"
    assert not any("victim" in json.dumps(n) for n in notices)
    # The registered subject is the only text of the sender's in an acknowledgement.
    text = got[0].message.get_body(("plain",)).get_content()
    registered = d.register()[0]["subject"]
    assert PAYMENT_LINK in registered and registered in text


def test_a_rejection_quotes_nothing_the_sender_wrote(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
    d.send(letter(subject=f"ใบแจ้งหนี้ {PAYMENT_LINK}", files=[
        ("2569_dds_0403_57.pdf", make_pdf("cover")), (f"{PAYMENT_LINK}.exe", exe)]), LAT)
    [got] = sink.wait(1)
    text = got.message.get_body(("plain",)).get_content()
    html = got.message.get_body(("html",)).get_content()
    assert "ไม่สามารถลงทะเบียนรับ" in text  # it is the rejection
    assert "pay.evil.example" not in text + html + str(got.message["Subject"])
    assert "ไฟล์แนบที่ 2" in text  # the file is named by its place


def test_rate_limits_by_address_without_tag_and_by_domain(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink, max_per_sender_per_hour=2, max_per_domain_per_hour=4)).start()
    # victim+0 ... victim+3: one person; the envelope is aligned (the attacker owns it).
    for n in range(4):
        d.send(_from(f"victim+{n}@other.example", message_id=f"<tag-{n}@x>"), LAT, sender=f"victim+{n}@other.example")
    # Other people at the same domain: the domain's own limit applies.
    for n in range(4):
        d.send(_from(f"clerk{n}@other.example", message_id=f"<dom-{n}@x>"), LAT, sender=f"clerk{n}@other.example")
    _wait_notices(d, 8)
    d.wait_idle()  # the delivery runner decides each notice (and counts the limits) as it sends
    notices = _notices(d)
    states = [(n["to"], n["state"], n.get("suppressed")) for n in notices]
    tagged = [s for s in states if s[0].startswith("victim")]
    assert [s[2] for s in tagged] == [None, None, "rate_limit", "rate_limit"]
    assert all(n["rate_key"] == "victim@other.example" for n in notices[:4])
    others = [s for s in states if s[0].startswith("clerk")]
    assert [s[2] for s in others] == [None, None, "rate_limit_domain", "rate_limit_domain"]
    assert len(sink.wait(4)) == 4


def test_any_automatic_auto_submitted_header_wins():
    headers = [("From", "a@dds.bangkok.go.th"), ("Auto-Submitted", "no"), ("Auto-Submitted", "auto-replied")]
    assert suppression_reason(headers, "a@dds.bangkok.go.th", "a@dds.bangkok.go.th") == "auto_submitted"
    assert suppression_reason(headers[:2], "a@dds.bangkok.go.th", "a@dds.bangkok.go.th") is None
    two_precedences = [("Precedence", "normal"), ("Precedence", "bulk")]
    assert suppression_reason(two_precedences, "a@b.example", "a@b.example") == "precedence_bulk"


def test_two_auto_submitted_headers_over_smtp_get_no_answer(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    raw = letter(message_id="<auto-2@dds.bangkok.go.th>")
    raw = raw.replace(b"MIME-Version", b"Auto-Submitted: no\r\nAuto-Submitted: auto-replied\r\nMIME-Version", 1)
    d.send(raw, LAT)
    _wait_notices(d, 1)
    d.wait_idle()  # decided by the delivery runner
    [notice] = _notices(d)
    assert (notice["state"], notice["suppressed"]) == ("suppressed", "auto_submitted")
    assert d.register()[0]["number"] == 1  # the letter itself is registered as usual
