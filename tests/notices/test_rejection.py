"""Rejection notices, header injection and the rate limit, through the real daemon."""
from __future__ import annotations

import base64
import re

from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def test_rejected_letter_gets_reasons_and_how_to_fix(notice_daemon, sink):
    raw = letter(message_id="<rej-1@dds.bangkok.go.th>", files=[])  # no document at all
    queue_id = notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    status = notice_daemon.wait_idle()
    assert status["quarantine"] == {"held": 1} and status["letters"] == 0
    msg = got.message
    assert msg["Subject"].startswith("ไม่สามารถลงทะเบียนรับหนังสือ")
    assert msg["In-Reply-To"] == "<rej-1@dds.bangkok.go.th>"
    assert msg["Auto-Submitted"] == "auto-replied"
    text = msg.get_body(("plain",)).get_content()
    assert text.index("เหตุผลและวิธีแก้ไข") < text.index("Reasons, and how to fix each")
    assert "ไม่พบหนังสือในอีเมลนี้" in text  # the rule's reason, with its fix
    assert "attach the cover letter as a PDF file" in text
    assert "ยังไม่ได้รับเลขรับ" in text and queue_id in text
    assert "เลขรับ:" not in text  # no receive number was given


def test_executable_rejection_names_the_file_by_its_place(notice_daemon, sink):
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
    raw = letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover")), ("setup.exe", exe)])
    notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    text = got.message.get_body(("plain",)).get_content()
    # The sender's file name is not quoted back; its place in the mail is.
    assert "ไฟล์แนบที่ 2" in text and "attached file 2" in text and "ไม่สามารถลงทะเบียนรับ" in text
    assert "setup.exe" not in text


def test_header_injection_in_subject_and_reply_to_stays_text(notice_daemon, sink):
    evil = "ขอเชิญประชุม\r\nBcc: victim@example.org\r\nX-Injected: yes"
    encoded = "=?utf-8?B?" + base64.b64encode(evil.encode()).decode() + "?="
    # No เรื่อง in the body: the register (and the notice) take the mail subject.
    raw = re.sub(rb"Subject: [^\r\n]*(\r\n[ \t][^\r\n]*)*", f"Subject: {encoded}".encode(),
                 letter(body="ส่งหนังสือตามแนบ\n"), count=1)
    assert encoded.encode() in raw
    name = base64.b64encode(b"x\r\nBcc: other@example.org").decode()
    raw = raw.replace(b"MIME-Version", f"Reply-To: =?utf-8?B?{name}?= <clerk@dds.example.go.th>\r\n"
                      "MIME-Version".encode(), 1)
    notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    notice_daemon.wait_idle()
    msg = got.message
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert got.rcpt_tos == ["saraban.dds@bangkok.go.th"]  # the From address; nobody else
    head = got.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Injected:" not in head
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert "ขอเชิญประชุม Bcc: victim@example.org X-Injected: yes" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert "เรื่อง: ขอเชิญประชุม Bcc: victim@example.org X-Injected: yes" in text


def test_html_part_escapes_the_senders_text(notice_daemon, sink):
    notice_daemon.send(letter(subject='<script>alert("x")</script> ประชุม'), LATKRABANG)
    [got] = sink.wait(1)
    html = got.message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_rate_limit_per_sender_per_hour(daemon_factory, sink):
    d = daemon_factory(extra=notices_config(sink, max_per_sender_per_hour=2)).start()
    busy = "busy.clerk@dds.example.go.th"
    for _ in range(3):
        d.send(letter(sender=busy), LATKRABANG, sender=busy)
    d.send(letter(), LATKRABANG)  # another sender is not limited by the busy one
    status = d.wait_idle()
    assert len(d.register()) == 4  # every letter is registered; only the notices are limited
    assert len(sink.messages(busy)) == 2
    assert len(sink.messages("saraban.dds@bangkok.go.th")) == 1
    assert status["outbox"]["notice"] == {"done": 3, "suppressed": 1}
    [event] = [e for e in d.events() if e.get("event") == "notice_suppressed"]
    assert event["reason"] == "rate_limit" and event["to"] == busy


def test_a_letter_held_as_classified_for_several_reasons_says_so_once(notice_daemon, sink):
    # An empty MIME boundary: nothing of the letter can be read, so it is held as at least
    # ลับ (secret) for three reasons (no document, its parts' types, unread); a classified
    # letter's reasons are never spelt out by e-mail, and the one sentence that says so
    # was listed three times, numbered 1 to 3, in both languages.
    raw = letter().replace(b'boundary="', b'boundary=""; x="', 1)
    notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    notice_daemon.wait_idle()
    held = [e for e in notice_daemon.events() if e.get("event") == "quarantined"]
    assert len(held) == 1 and held[0].get("classified") and len(held[0]["reasons"]) >= 2
    text = got.message.get_body(("plain",)).get_content()
    assert text.count("details are not given by e-mail for a classified letter") == 1
    assert text.count("รายละเอียดไม่แสดงในอีเมลเนื่องจากเป็นหนังสือชั้นความลับ") == 1
