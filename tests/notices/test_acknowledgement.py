"""The acknowledgement (ได้รับหนังสือแล้ว) as the sender's mail client shows it."""
from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header

from tests.letters import SEED_SUBJECT, letter, make_pdf
from tests.notices.conftest import notices_config

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _year_be() -> int:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).year + 543


def test_acknowledgement_carries_receive_number_in_thai_then_english(notice_daemon, sink):
    raw = letter(message_id="<ack-1@dds.bangkok.go.th>",
                 files=[("scan.pdf", make_pdf("cover letter"))])  # a name the naming rule warns about
    notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    notice_daemon.wait_idle()
    [entry] = notice_daemon.register()
    receive_no = f"1/{_year_be()}"
    assert entry["receive_no"] == receive_no

    assert got.mail_from.strip("<>") == ""  # null reverse-path: a bounce of the notice cannot loop
    assert got.rcpt_tos == ["saraban.dds@bangkok.go.th"]
    msg = got.message
    assert msg["To"] == "saraban.dds@bangkok.go.th"
    assert msg["From"].addresses[0].addr_spec == LATKRABANG
    # RFC 2047 decoding as mail clients do it (the `email` address parser puts a space
    # between adjacent encoded words, which the RFC says to drop).
    raw_from = got.data.split(b"\r\n\r\n", 1)[0].decode().split("From: ", 1)[1].split("\r\nTo:", 1)[0]
    assert str(make_header(decode_header(raw_from))) == f"สำนักงานเขตลาดกระบัง <{LATKRABANG}>"
    assert receive_no in msg["Subject"] and msg["Subject"].startswith("ได้รับหนังสือแล้ว")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<ack-1@dds.bangkok.go.th>"
    assert msg["References"] == "<ack-1@dds.bangkok.go.th>"
    assert msg["Message-ID"].startswith("<saraban-notice.")

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    thai = text.index("ได้รับหนังสือของท่านแล้ว")
    english = text.index("has received your letter")
    assert thai < english  # Thai first, English below
    assert "สำนักงานเขตลาดกระบัง" in text
    assert f"เลขรับ: {receive_no}" in text
    assert f"Receive number: {receive_no}" in text
    assert str(_year_be()) in text.split("วันที่รับ:", 1)[1].splitlines()[0]  # Buddhist era
    assert "ที่: กท.๐๔๐๗/ว.๕๗" in text or "ที่: กท" in text
    assert f"เรื่อง: {SEED_SUBJECT}" in text
    # The naming warning, with how to fix it next time, in both languages.
    # The file is named by its place: its name is the sender's text, never quoted back.
    assert "ครั้งต่อไปกรุณาแก้ไข" in text and "ไฟล์แนบที่ 1" in text.split("----")[0]
    assert "scan.pdf" not in text
    assert "please fix the following next time" in text
    assert receive_no in html and "สำนักงานเขตลาดกระบัง" in html


def test_reply_to_is_never_answered_and_each_unit_acknowledges(notice_daemon, sink):
    # Reply-To is anyone's to write (backscatter): the notice goes to the From address.
    raw = letter(extra_headers={"Reply-To": "Clerk <clerk.dds@bangkok.go.th>"})
    notice_daemon.send(raw, [LATKRABANG, "saraban.pomprap@bangkok.go.th"])
    got = sink.wait(2)
    notice_daemon.wait_idle()
    assert {r.rcpt_tos[0] for r in got} == {"saraban.dds@bangkok.go.th"}
    senders = sorted(r.message["From"].addresses[0].addr_spec for r in got)
    assert senders == ["saraban.latkrabang@bangkok.go.th", "saraban.pomprap@bangkok.go.th"]
    assert len({r.message["Message-ID"] for r in got}) == 2
    assert notice_daemon.status()["outbox"]["notice"] == {"done": 2}


def test_classified_letter_acknowledgement_does_not_repeat_the_subject(daemon_factory, sink):
    from tests.classified.helpers import add_registrar, make_gateway_key

    d = daemon_factory(extra=notices_config(sink))
    make_gateway_key(d)  # a ลับ letter is sealed for the secret registrar (docs/secrecy.md)
    add_registrar(d)
    d.start()
    secret_subject = "ลับ เรื่องการสอบสวนข้อเท็จจริงกรณีพิเศษ"
    d.send(letter(subject=secret_subject), LATKRABANG)
    [got] = sink.wait(1)
    msg = got.message
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "การสอบสวนข้อเท็จจริง" not in msg["Subject"]
    assert "การสอบสวนข้อเท็จจริง" not in text and "การสอบสวนข้อเท็จจริง" not in html
    assert "ไม่แสดงชื่อเรื่อง" in text
    assert "เลขรับ" in text  # the number is still given


def test_thai_digits_and_operator_templates(daemon_factory, sink, tmp_path):
    templates = tmp_path / "my-templates"
    templates.mkdir()
    (templates / "notice_ack.subject.j2").write_text(
        "แจ้งเลขรับ {{ receive_no }} จาก{{ unit_th }}\nBcc: injected@example.org\n", encoding="utf-8")
    d = daemon_factory(extra=notices_config(sink, thai_digits=True, templates_dir=str(templates))).start()
    d.send(letter(), LATKRABANG)
    [got] = sink.wait(1)
    msg = got.message
    thai_no = "๑/" + str(_year_be()).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    # The operator's subject; a line break in a template cannot add a header either.
    assert msg["Subject"].startswith(f"แจ้งเลขรับ {thai_no} จากสำนักงานเขตลาดกระบัง")
    assert msg["Bcc"] is None and got.rcpt_tos == ["saraban.dds@bangkok.go.th"]
    text = msg.get_body(("plain",)).get_content()  # the built-in body, Thai digits in Thai
    assert f"เลขรับ: {thai_no}" in text
    assert f"Receive number: 1/{_year_be()}" in text  # English keeps Arabic digits


def test_the_notices_thai_headers_read_back_exactly_in_short_lines_and_an_ascii_name_is_quoted():
    """From's Thai display name and the Thai subject are encoded by the gateway's own
    encoder (not the email package's slow folding): read back exactly, in lines a mail
    client accepts; a plain ASCII unit name with a comma still gets the quoting the
    address syntax needs."""
    import email
    import email.policy

    from gateway.notices.compose import build_notice

    payload = {"type": "ack", "to": "clerk1@dds.bangkok.go.th", "unit": "saraban.latkrabang",
               "unit_name_th": "สำนักงานเขตลาดกระบัง (ฝ่ายปกครอง)", "from": "saraban.latkrabang@bangkok.go.th",
               "queue_id": "q1", "received_at": "2026-11-29T03:00:00+00:00", "receive_no": "15/2569",
               "book": "general", "classified": False, "subject": "ขอความอนุเคราะห์ข้อมูล " * 8, "findings": []}
    created = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.timezone.utc)
    raw = build_notice(payload, "ack:q1:u", created).data
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    [sender] = msg["From"].addresses
    assert sender.addr_spec == "saraban.latkrabang@bangkok.go.th"
    # What tells mail clients and responders what this is (Content-Language was once
    # dropped: set before the body, it went with the email package's content headers).
    assert (msg["Auto-Submitted"], msg["X-Auto-Response-Suppress"], msg["Content-Language"]) == (
        "auto-replied", "All", "th, en")
    assert msg["To"].addresses[0].addr_spec == "clerk1@dds.bangkok.go.th"
    # A mail client joins adjacent encoded words (RFC 2047 section 6.2); the stdlib's
    # address parser puts a space between them (it did so for its own folding too),
    # its unstructured one does not.
    field = head.split(b"\r\nTo:")[0].decode("ascii")  # From comes first
    name = field.removeprefix("From:").split("<")[0].replace("\r\n", "")
    assert str(email.policy.default.header_factory("X-Name", name)).strip() == "สำนักงานเขตลาดกระบัง (ฝ่ายปกครอง)"
    assert "15/2569" in msg["Subject"] and "ขอความอนุเคราะห์ข้อมูล ขอความอนุเคราะห์ข้อมูล" in msg["Subject"]

    # A line break of another kind in what the notice repeats starts no header of its own.
    for odd in ("\u2028", "\x85", "\x1c", "\r\n"):
        payload.update(unit_name_th=f"สำนักงานเขต{odd}Bcc: victim@example.org", subject=f"เรื่อง{odd}Bcc: victim@example.org")
        raw = build_notice(payload, "ack:q1:u", created).data
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Bcc"] is None and msg["From"].addresses[0].addr_spec == "saraban.latkrabang@bangkok.go.th", odd
        assert all(line[:1] in (b" ", b"\t") or b":" in line for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))

    payload["unit_name_th"] = "Lat Krabang, District Office"
    msg = email.message_from_bytes(build_notice(payload, "ack:q1:u", created).data, policy=email.policy.default)
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Lat Krabang, District Office", "saraban.latkrabang@bangkok.go.th")
