"""A letter whose PDF arrived empty (0 bytes: an upload that failed) is answered with
what went wrong, not "no letter found in this mail" (session 39's red team): its sender
attached the letter, and went looking for a mistake they had not made."""
from __future__ import annotations

from tests.letters import letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def test_an_empty_pdf_is_answered_as_arrived_empty(notice_daemon, sink):
    raw = letter(message_id="<empty-1@dds.bangkok.go.th>", files=[("2569_dds_0403_57.pdf", b"")])
    notice_daemon.send(raw, LATKRABANG)
    [got] = sink.wait(1)
    status = notice_daemon.wait_idle()
    assert status["quarantine"] == {"held": 1} and status["letters"] == 0
    text = got.message.get_body(("plain",)).get_content()
    assert "ไฟล์แนบที่ 1 ที่แนบมาว่างเปล่า (0 ไบต์)" in text
    assert "attached file 1 arrived empty (0 bytes)" in text
    assert "ไม่พบหนังสือในอีเมลนี้" not in text and "no letter found in this mail;" not in text


def test_a_mail_with_no_file_at_all_is_still_no_letter_found(notice_daemon, sink):
    notice_daemon.send(letter(files=[]), LATKRABANG)
    [got] = sink.wait(1)
    text = got.message.get_body(("plain",)).get_content()
    assert "ไม่พบหนังสือในอีเมลนี้" in text and "ว่างเปล่า" not in text
