"""What the red team made of the notices: a classified letter's sender's name and file
name in the queued notice record; backscatter through a naive organisational domain;
a plain auto-responder answering our notices round and round."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline.runner import run_once
from gateway.service.services import open_services
from storage.models import Letter, OutboxItem
from tests.daemon import write_config
from tests.letters import make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
DDS = "saraban.dds@bangkok.go.th"
MARK = "ZEBRAXQ17"  # ASCII: SQLite's JSON would escape Thai


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _one_file_secret_letter(n: int) -> bytes:
    """A ลับ letter that is one PDF (its name in the top-level Content-Type), from a
    sender whose display name is long and plain."""
    name = " ".join([f"{MARK}-FROMNAME-{n}"] * 20)
    return (f'From: "{name}" <{DDS}>\r\nTo: {LAT}\r\n'
            f"Subject: =?utf-8?b?{base64.b64encode('ลับ แผนรักษาความปลอดภัย'.encode()).decode()}?=\r\n"
            f"Message-ID: <s{n}@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: application/pdf; name="{MARK}-FNAME-{n}.pdf"\r\n'
            f'Content-Disposition: attachment; filename="{MARK}-FNAME-{n}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(
        make_pdf("ลับ cover letter")).replace(b"\n", b"\r\n")


def test_no_name_of_a_classified_letter_reaches_the_database(services):
    """Registered and its notice queued (the pipeline, in process), not yet decided (no
    delivery runner): neither the sender's display name nor the file name is in any
    row, nor anywhere in the SQLite file or its WAL."""
    for n in range(3):
        services.spool.accept(_one_file_secret_letter(n), DDS, [LAT])
    run_once(services)
    with services.db.session() as session:
        letters = session.query(Letter).all()
        assert [entry.secrecy for entry in letters] == ["confidential"] * 3
        notices = session.query(OutboxItem).filter_by(kind="notice").all()
        assert len(notices) == 3 and all(item.state == "pending" for item in notices)
        record = notices[0].payload["undecided"]
    database = services.settings.database_url.removeprefix("sqlite:///")
    with open(database, "rb") as main, open(database + "-wal", "rb") as wal:
        seen = main.read() + wal.read()
    assert MARK.encode() not in seen
    with sqlite3.connect(database) as db:
        for (table,) in db.execute("select name from sqlite_master where type = 'table'"):
            for row in db.execute(f'select * from "{table}"'):
                assert MARK not in json.dumps(row, default=str), (table, row)
    # What the decision needs, no header value: the address, the loop guard's word.
    assert record["from_address"] == DDS and record["automatic"] is None
    assert record["message_id"] == "<s0@dds.bangkok.go.th>"


# --- 3. alignment by the public suffix list -----------------------------------------------

@pytest.mark.parametrize("author, envelope, aligned", [
    # Two organisations under one public suffix are not one organisation.
    ("victim@victim.co.uk", "attacker@attacker.co.uk", False),
    ("victim@victim.com.au", "attacker@attacker.com.au", False),
    ("victim@victim.co.th", "attacker@attacker.co.th", False),
    ("a@x.co.uk", "b@co.uk", False),
    # Thai second levels stay what they were: the organisation is the third label.
    ("saraban@dds.bangkok.go.th", "mailer@mail.bangkok.go.th", True),
    ("saraban@saraban.dindaeng.bangkok.go.th", "a@bangkok.go.th", True),
    ("a@moi.go.th", "b@bangkok.go.th", False),
    ("a@chula.ac.th", "b@mail.chula.ac.th", True),
    ("a@chula.ac.th", "b@mahidol.ac.th", False),
    ("a@scg.co.th", "b@bounce.scg.co.th", True),
    ("a@tdri.or.th", "b@tdri.or.th", True),
    ("a@x.in.th", "b@y.in.th", False),
    ("a@rta.mi.th", "b@mail.rta.mi.th", True),
    ("a@nic.net.th", "b@other.net.th", False),
    ("a@go.th", "b@go.th", False),  # a public suffix is nobody's organisation
    ("a@mail.example.com", "b@example.com", True),
])
def test_alignment_is_by_the_organisational_domain_of_the_public_suffix_list(author, envelope, aligned):
    from gateway.notices.decide import notice_recipient

    to, why = notice_recipient(author, envelope)
    assert (to, why) == ((author, None) if aligned else (None, "sender_not_aligned"))


def test_no_acknowledgement_to_a_victim_under_the_same_public_suffix(daemon_factory, sink):  # noqa: F811
    """attacker@attacker.co.uk writes From: victim@victim.co.uk: the letter is registered,
    and nobody is answered (the official acknowledgement would quote the attacker's
    subject to the victim)."""
    from tests.classified.helpers import db_rows
    from tests.letters import letter
    from tests.notices.conftest import notices_config

    d = daemon_factory(extra=notices_config(sink)).start()
    for n, (victim, attacker) in enumerate([("victim@victim.co.uk", "attacker@attacker.co.uk"),
                                            ("victim@victim.com.au", "attacker@attacker.com.au")]):
        d.send(letter(sender=victim, subject=f"pay now https://pay.evil.example/{n}",
                      message_id=f"<psl-{n}@x>"), LAT, sender=attacker)
    d.send(letter(message_id="<psl-ok@x>"), LAT, sender="mailer@mail.bangkok.go.th")  # aligned: answered
    got = sink.wait(1)
    d.wait_idle()
    assert len(d.register()) == 3
    assert [r.rcpt_tos for r in got] == [[DDS]]
    rows = db_rows(d, "select payload from outbox where kind = 'notice' order by id")
    reasons = [json.loads(p).get("suppressed") for (p,) in rows]
    assert reasons == ["sender_not_aligned", "sender_not_aligned", None]


# --- 4. a plain auto-responder answering our notices ---------------------------------------

def test_a_reply_to_one_of_our_notices_is_not_answered():
    from gateway.notices.compose import notice_message_id
    from gateway.notices.loop_guard import suppression_reason

    ours = notice_message_id("ack:q1:saraban.latkrabang", "bangkok.go.th")
    plain = [("From", "helpdesk@agency.example")]
    for headers in ([("In-Reply-To", ours)], [("References", f"<a@agency.example> {ours}")],
                    [("In-Reply-To", ours.upper())]):
        assert suppression_reason(plain + headers, "helpdesk@agency.example", "helpdesk@agency.example") \
            == "reply_to_notice"
    # A reply to anything else is a letter like any other.
    assert suppression_reason(plain + [("In-Reply-To", "<saraban-notice-like@agency.example>")],
                              "helpdesk@agency.example", "helpdesk@agency.example") is None


def test_an_auto_responder_without_auto_headers_gets_one_notice_not_a_loop(daemon_factory, sink):  # noqa: F811
    """A helpdesk that acknowledges every mail, with none of Auto-Submitted, Precedence or
    X-Autoreply, threads its answer to our acknowledgement: the answer is received and
    quarantined (no document) as any mail, and gets no rejection notice."""
    import smtplib
    import time
    from email.message import EmailMessage

    from tests.classified.helpers import db_rows
    from tests.letters import letter
    from tests.notices.conftest import notices_config

    helpdesk = "helpdesk@agency.example"
    d = daemon_factory(extra=notices_config(sink)).start()
    d.send(letter(subject="เปิดเรื่อง", sender=helpdesk), LAT, sender=helpdesk)
    [ack] = sink.wait(1)
    for round_trip in range(3):  # as the responder would, three times over
        notice = sink.messages()[0].message
        reply = EmailMessage()
        reply["From"], reply["To"] = helpdesk, str(notice["From"])
        reply["Subject"] = "Re: " + str(notice["Subject"])[:60]
        reply["Message-ID"] = f"<reply-{round_trip}@agency.example>"
        reply["In-Reply-To"] = notice["Message-ID"]
        reply["References"] = notice["Message-ID"]
        reply.set_content("เราได้รับอีเมลของท่านแล้ว / We received your message.")
        with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as client:
            client.send_message(reply, from_addr=helpdesk, to_addrs=[LAT])
    d.wait_idle()
    time.sleep(1)
    assert len(sink.messages()) == 1  # the acknowledgement of the letter, nothing more
    assert db_rows(d, "select count(*) from quarantine")[0][0] == 3  # received all the same
    rows = db_rows(d, "select key, state, payload from outbox where kind = 'notice' order by id")
    assert [(k.split(":")[0], s, json.loads(p).get("suppressed")) for k, s, p in rows] == \
        [("ack", "done", None)] + [("reject", "suppressed", "reply_to_notice")] * 3
