"""An RFC 6531 sender (สมชาย@ราชการ.ไทย, MAIL FROM ... SMTPUTF8) gets its acknowledgement:
to that address with SMTPUTF8 when the smarthost offers it; without it, an ASCII local
part at a Thai-script domain by the domain's A-labels, and a Thai local part held with a
reason a person reads (until session 44 every one of them was suppressed as
`no_valid_recipient`)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

from tests.daemon import free_port
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
THAI = "สมชาย@ราชการ.ไทย"
ASCII_LOCAL = "somchai@ราชการ.ไทย"
A_LABEL = "somchai@xn--12cr8ec6ec.xn--o3cw4h"
STAND_IN = "stand-in@dds.bangkok.go.th"


def _send_utf8(d, sender: str, subject: str) -> str:
    """A letter from `sender` (From: and MAIL FROM ... SMTPUTF8) as an RFC 6531 client
    sends it: the address raw UTF-8 in the header (RFC 6532)."""
    raw = letter(sender=STAND_IN, subject=subject).replace(STAND_IN.encode(), sender.encode("utf-8"))
    with d.smtp() as client:
        client.ehlo("mail.example.th")
        assert client.mail(sender, options=["SMTPUTF8"])[0] == 250
        assert client.rcpt(LATKRABANG)[0] == 250
        code, text = client.data(raw)
    assert code == 250, (code, text)
    return text.decode().rsplit(" ", 1)[-1]


def _to_line(data: bytes) -> bytes:
    head = data.split(b"\r\n\r\n", 1)[0]
    return next(line for line in head.split(b"\r\n") if line.startswith(b"To: "))


def _year_be() -> int:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).year + 543


def test_a_thai_sender_is_acknowledged_with_smtputf8(daemon_factory):
    sink = Sink(free_port())
    sink.smtputf8 = True  # the smarthost announces SMTPUTF8 in its EHLO
    sink.start()
    try:
        d = daemon_factory(extra=notices_config(sink)).start()
        _send_utf8(d, THAI, "ขอเชิญประชุม")
        [got] = sink.wait(1)
        d.wait_idle()
        assert got.rcpt_tos == [THAI]
        assert "SMTPUTF8" in [o.upper() for o in got.mail_options]
        # RFC 6532: the address itself, in UTF-8, not an encoded-word
        assert _to_line(got.data) == f"To: {THAI}".encode("utf-8")
        # as an RFC 6532 reader takes it: the message as UTF-8 text
        read = email.message_from_string(got.data.decode("utf-8"), policy=email.policy.default)
        assert read["To"].addresses[0].addr_spec == THAI
        assert f"1/{_year_be()}" in got.message["Subject"]
        assert "เลขรับ: 1/" in got.message.get_body(("plain",)).get_content()
        assert d.status()["outbox"]["notice"] == {"done": 1}
    finally:
        sink.stop()


def test_without_smtputf8_a_label_for_the_domain_and_a_thai_local_part_held_not_lost(daemon_factory):
    sink = Sink(free_port()).start()  # no SMTPUTF8 in its EHLO
    try:
        d = daemon_factory(extra=notices_config(sink)).start()
        _send_utf8(d, ASCII_LOCAL, "ขอเชิญประชุม")
        [got] = sink.wait(1)
        assert got.rcpt_tos == [A_LABEL]  # the same mailbox, by the domain's A-labels
        assert not any(o.upper() == "SMTPUTF8" for o in got.mail_options)
        assert _to_line(got.data) == f"To: {A_LABEL}".encode()

        queue_id = _send_utf8(d, THAI, "ขอเชิญประชุม")
        d.wait_for(lambda: [e for e in d.events() if e.get("event") == "notice_held"
                            and e.get("reason") == "smarthost_lacks_smtputf8"], what="the notice held")
        d.wait_idle()
        assert len(sink.messages()) == 1
        # The reason, where a person looks: outbox list, status, the entry (as the desk shows it).
        listing = d.cli("outbox", "list", "--kind", "notice", "--state", "held").stdout
        assert "held (smarthost without SMTPUTF8" in listing and "ไม่รองรับ SMTPUTF8" in listing
        assert "held: smarthost_lacks_smtputf8 1" in d.cli("status").stdout
        [entry] = [e for e in d.register() if e["queue_id"] == queue_id]
        shown = json.loads(d.cli("register", "show", "saraban.latkrabang", entry["receive_no"], "--json").stdout)
        [notice] = [o for o in shown["outbox"] if o["kind"] == "notice"]
        assert notice["state"] == "held" and "does not offer SMTPUTF8" in notice["last_error"]
        assert "no_valid_recipient" not in d.log_path.read_text()

        # The smarthost gains SMTPUTF8: `notices release` sends the held notice.
        sink.stop()
        sink.smtputf8 = True
        sink.start()
        assert "released 1 held notice(s)" in d.cli("notices", "release").stdout
        got = sink.wait(2)[1]
        assert got.rcpt_tos == [THAI] and "SMTPUTF8" in [o.upper() for o in got.mail_options]
        assert d.wait_idle()["outbox"]["notice"] == {"done": 2}
    finally:
        sink.stop()


# -- the pure parts --------------------------------------------------------------------

def test_the_loop_guard_answers_a_utf8_address_and_still_guards_it():
    from gateway.notices.decide import rate_keys, recipient_of
    from gateway.notices.loop_guard import suppression_reason

    to, why = recipient_of(THAI, THAI)
    assert (to, why) == (THAI, None)
    assert suppression_reason([("From", THAI)], THAI, to) is None
    # An envelope by A-labels aligns with a From by U-labels: one organisation.
    assert recipient_of(THAI, "bounce@xn--12cr8ec6ec.xn--o3cw4h") == (THAI, None)
    assert recipient_of(THAI, "x@อื่น.ไทย") == (None, "sender_not_aligned")
    # The guards, with UTF-8 addresses.
    assert suppression_reason([("From", THAI)], "<>", THAI) == "null_sender"
    assert suppression_reason([("From", THAI)], THAI, "postmaster@ราชการ.ไทย") == "system_sender"
    assert suppression_reason([("From", "mailer-daemon@ราชการ.ไทย")], THAI, THAI) == "system_sender"
    assert suppression_reason([("From", THAI)], THAI, "noreply@ราชการ.ไทย") == "no_reply_address"
    assert suppression_reason([("From", THAI), ("Auto-Submitted", "auto-replied")], THAI, THAI) == "auto_submitted"
    assert suppression_reason([("From", THAI)], THAI, THAI, sent_last_hour=20, limit=20) == "rate_limit"
    # One mailbox, one organisation, whichever form the domain is written in.
    assert rate_keys("สมชาย+1@ราชการ.ไทย") == rate_keys("สมชาย@XN--12CR8EC6EC.xn--o3cw4h") == (
        "สมชาย@xn--12cr8ec6ec.xn--o3cw4h", "xn--12cr8ec6ec.xn--o3cw4h")


def test_dmarc_refusal_judges_a_thai_domain_by_its_a_labels():
    from gateway.sender.settings import SenderSection
    from gateway.notices.sanitize import ascii_address
    from gateway.sender.policy import notice_refusal
    from gateway.sender.results import SenderAuth

    verified = SenderAuth(status="pass", from_domain="xn--12cr8ec6ec.xn--o3cw4h",
                          aligned_domain="xn--12cr8ec6ec.xn--o3cw4h", dns_checked=True)
    assert notice_refusal(verified, ascii_address(THAI), SenderSection()) is None
    assert notice_refusal(verified, ascii_address("x@อื่น.ไทย"), SenderSection()) == "address_not_verified"
    failed = SenderAuth(status="fail", from_domain="xn--12cr8ec6ec.xn--o3cw4h", dns_checked=True)
    assert notice_refusal(failed, ascii_address(THAI), SenderSection()) == "sender_not_verified"


def test_only_real_utf8_addresses_are_taken():
    from gateway.notices.sanitize import clean_address

    assert clean_address(" สมชาย@ราชการ.ไทย ") == THAI
    assert clean_address("สมชาย@bangkok.go.th") == "สมชาย@bangkok.go.th"
    for bad in ("ส\u200bม@x.th", "ส\u00a0ม@x.th", "ส ม@x.th", "\ufffd\ufffd@x.th", "a@ราช การ.ไทย",
                "ส\r\nBcc: x@y.th", "สมชาย@", "สมชาย@-x.th", "ก" * 30 + "@x.th"):
        assert clean_address(bad) is None, bad


def test_which_address_the_smarthost_gets():
    from gateway.notices.send import envelope_for

    assert envelope_for("clerk@dds.go.th", False) == ("clerk@dds.go.th", [])
    assert envelope_for(THAI, True) == (THAI, ["SMTPUTF8"])
    assert envelope_for(ASCII_LOCAL, True) == (ASCII_LOCAL, ["SMTPUTF8"])
    assert envelope_for(ASCII_LOCAL, False) == (A_LABEL, [])
    assert envelope_for(THAI, False) is None  # held, never sent mangled
