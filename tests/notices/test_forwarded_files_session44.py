"""The acknowledgement names a file by its place as the sender counts: the letter's own
files 1..n, as attached; the files of a message the letter forwards (message/rfc822)
apart, as that message's. Until session 44 both were counted together in mail order:
after a forwarded letter, the sender's own first file was "ไฟล์แนบที่ 2"."""
from __future__ import annotations

import uuid

from tests.rules.test_forwarded_cover import NEW, OLD, _message, _pdf, forwarded, old_letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _send(d, subject: str, *parts) -> str:
    msg = _message(subject, "เรียน ผู้อำนวยการเขตลาดกระบัง ส่งหนังสือ พร้อมหนังสือเดิมที่อ้างถึง", *parts)
    msg["Message-ID"] = message_id = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    d.send(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), LATKRABANG)
    return message_id


def _ack_text(sink, message_id: str) -> str:
    [got] = [m for m in sink.wait(1, timeout=60) if m.message["In-Reply-To"] == message_id] or [None]
    assert got is not None, f"no acknowledgement of {message_id}"
    return got.message.get_body(("plain",)).get_content()


def test_the_senders_own_file_is_file_1_after_a_forwarded_letter(notice_daemon, sink):
    # The forwarded old letter first (as Thunderbird puts it), then the sender's own
    # letter under a name the naming rule warns about.
    message_id = _send(notice_daemon, "ขอเชิญประชุมคณะทำงาน", forwarded(old_letter()), _pdf("scan.pdf", NEW))
    text = _ack_text(sink, message_id)
    thai, english = text.split("----")[0], text.split("----")[-1]
    assert "ไฟล์แนบที่ 1" in thai and "ไฟล์แนบที่ 2" not in thai
    assert "attached file 1" in english and "attached file 2" not in english
    assert "scan.pdf" not in text


def test_a_forwarded_letters_file_is_named_as_the_forwarded_messages(notice_daemon, sink):
    # The letter's only PDF is the forwarded one, so the naming rule reads it (rules/
    # checks/naming.py) and warns about its name.
    message_id = _send(notice_daemon, "ส่งต่อหนังสือ", forwarded(old_letter(_pdf("scan.pdf", OLD))))
    text = _ack_text(sink, message_id)
    thai, english = text.split("----")[0], text.split("----")[-1]
    assert "ไฟล์ที่ 1 ในข้อความที่ส่งต่อมา" in thai and "ไฟล์แนบที่" not in thai
    assert "file 1 of the forwarded message" in english and "attached file" not in english
