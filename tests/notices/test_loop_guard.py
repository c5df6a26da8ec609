"""No loops, no backscatter (RFC 3834): each kind of mail that must not be answered,
sent to the real daemon; its notice is recorded as suppressed and nothing arrives."""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def loop_sink():
    s = Sink(free_port()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def loop_daemon(tmp_path_factory, loop_sink):
    d = Daemon(write_config(tmp_path_factory.mktemp("loop"), extra=notices_config(loop_sink))).start()
    yield d
    d.stop()


def _report(sender: str) -> bytes:
    """A delivery-status notification, as an MTA writes one."""
    return (
        f"From: Mail Delivery System <{sender}>\r\n"
        f"To: {LATKRABANG}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; nobody@example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n--b1--\r\n"
    ).encode()


# (case id, From and MAIL FROM, extra headers, subject or None, expected reason)
CASES = [
    ("null_reverse_path", "clerk1@dds.example.go.th", {}, None, "null_sender"),
    ("mailer_daemon", "MAILER-DAEMON@mx.example.org", {}, None, "system_sender"),
    ("postmaster", "postmaster@example.org", {}, None, "system_sender"),
    ("auto_submitted", "clerk2@dds.example.go.th", {"Auto-Submitted": "auto-generated"}, None, "auto_submitted"),
    ("auto_replied", "clerk3@dds.example.go.th", {"Auto-Submitted": "auto-replied"}, None, "auto_submitted"),
    ("precedence_bulk", "clerk4@dds.example.go.th", {"Precedence": "bulk"}, None, "precedence_bulk"),
    ("precedence_junk", "clerk5@dds.example.go.th", {"Precedence": "junk"}, None, "precedence_junk"),
    ("precedence_list", "clerk6@dds.example.go.th", {"Precedence": "list"}, None, "precedence_list"),
    ("list_id", "clerk7@dds.example.go.th", {"List-Id": "<circulars.bangkok.go.th>"}, None, "mailing_list"),
    ("out_of_office_subject", "clerk8@dds.example.go.th", {}, "Automatic reply: ไม่อยู่ที่สำนักงาน", "out_of_office"),
    ("out_of_office_thai", "clerk9@dds.example.go.th", {}, "ตอบกลับอัตโนมัติ: ลาพักร้อน", "out_of_office"),
    ("x_autoreply", "clerk10@dds.example.go.th", {"X-Autoreply": "yes"}, None, "out_of_office"),
    ("our_own_notice", "saraban.dindaeng@bangkok.go.th", {"X-Saraban-Notice": "ack"}, None, "own_notice"),
    ("no_reply_address", "no-reply@dds.example.go.th", {}, None, "no_reply_address"),
]


def _suppressed(daemon: Daemon, queue_id: str) -> dict | None:
    for event in daemon.events():
        if event.get("event") == "notice_suppressed" and queue_id in event.get("key", ""):
            return event
    return None


def _send_and_wait_suppressed(daemon: Daemon, raw: bytes, envelope: str) -> dict:
    queue_id = daemon.send(raw, LATKRABANG, sender=envelope)
    # `suppressed` is final: once the event is logged the item will never be sent.
    return daemon.wait_for(lambda: _suppressed(daemon, queue_id), interval=0.05,
                           what=f"notice_suppressed for {queue_id}")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_no_notice_for_automatic_or_bulk_mail(loop_daemon, loop_sink, case):
    name, sender, headers, subject, reason = case
    raw = letter(sender=sender, extra_headers=headers, **({"subject": subject} if subject else {}))
    envelope = "" if name == "null_reverse_path" else sender
    event = _send_and_wait_suppressed(loop_daemon, raw, envelope)
    assert event["reason"] == reason
    assert loop_sink.messages(sender.lower()) == []


def test_no_rejection_notice_for_a_delivery_report(loop_daemon, loop_sink):
    sender = "mailer-robot@mx.example.org"
    event = _send_and_wait_suppressed(loop_daemon, _report(sender), sender)
    assert event["reason"] == "delivery_report"
    assert event["notice"] == "reject"  # a report carries no letter: it was quarantined
    assert loop_sink.messages(sender) == []


def test_auto_submitted_no_is_answered(loop_daemon, loop_sink):
    """The control case: `Auto-Submitted: no` is a person's mail and is answered."""
    sender = "person@dds.example.go.th"
    loop_daemon.send(letter(sender=sender, extra_headers={"Auto-Submitted": "no"}), LATKRABANG, sender=sender)
    [got] = loop_sink.wait(1, to=sender)
    assert got.message["Auto-Submitted"] == "auto-replied"


def test_status_shows_suppression_reasons(loop_daemon, loop_sink):
    loop_daemon.send(letter(sender="bulk@dds.example.go.th", extra_headers={"Precedence": "bulk"}),
                     LATKRABANG, sender="bulk@dds.example.go.th")
    status = loop_daemon.wait_for(
        lambda: (s := loop_daemon.status())["notices"]["suppressed_last_day"].get("precedence_bulk") and s,
        what="suppression in status")
    assert status["notices"]["smarthost"] == loop_daemon.config.read_text().split('smarthost = "')[1].split('"')[0]
    assert status["outbox"]["notice"]["suppressed"] >= 1
    loop_daemon.wait_idle()
    assert loop_sink.messages("bulk@dds.example.go.th") == []
    text = loop_daemon.cli("status").stdout
    assert "suppressed today:" in text and "precedence_bulk" in text
