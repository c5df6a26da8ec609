"""The pure parts: the loop guard's decision table, sanitising, and the message built
from a hostile payload (no daemon needed)."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.notices.compose import build_notice, notice_message_id
from gateway.notices.loop_guard import suppression_reason
from gateway.notices.sanitize import clean_address, clean_message_id, clean_references, clean_text
from gateway.config.views import parse_smarthost

PERSON = "clerk@dds.example.go.th"


def reason(headers=(), envelope=PERSON, to=PERSON, sent=0, limit=0):
    return suppression_reason(list(headers), envelope, to, sent, limit)


def test_an_ordinary_letter_may_be_answered():
    assert reason([("From", f"Clerk <{PERSON}>"), ("Subject", "ขอเชิญประชุม"),
                   ("Auto-Submitted", "no"), ("Precedence", "normal")]) is None


@pytest.mark.parametrize("headers,envelope,to,expected", [
    ((), "", PERSON, "null_sender"),
    ((), "<>", PERSON, "null_sender"),
    ((), PERSON, None, "no_valid_recipient"),
    ((), "MAILER-DAEMON@mx.example.org", PERSON, "system_sender"),
    ((("From", "Mail System <postmaster@example.org>"),), PERSON, PERSON, "system_sender"),
    ((), "owner-circulars@lists.example.org", PERSON, "system_sender"),
    ((), "circulars-request@lists.example.org", PERSON, "system_sender"),
    ((), PERSON, "noreply@dds.example.go.th", "no_reply_address"),
    ((("X-Saraban-Notice", "ack"),), PERSON, PERSON, "own_notice"),
    ((("Auto-Submitted", "auto-generated; type=dsn"),), PERSON, PERSON, "auto_submitted"),
    ((("AUTO-SUBMITTED", "Auto-Replied"),), PERSON, PERSON, "auto_submitted"),
    ((("Precedence", " Bulk "),), PERSON, PERSON, "precedence_bulk"),
    ((("Precedence", "junk"),), PERSON, PERSON, "precedence_junk"),
    ((("Precedence", "list"),), PERSON, PERSON, "precedence_list"),
    ((("List-Id", "Circulars <c.bangkok.go.th>"),), PERSON, PERSON, "mailing_list"),
    ((("Content-Type", "multipart/report; report-type=delivery-status"),), PERSON, PERSON, "delivery_report"),
    ((("Content-Type", "message/disposition-notification"),), PERSON, PERSON, "delivery_report"),
    ((("X-Autoreply", "yes"),), PERSON, PERSON, "out_of_office"),
    ((("Subject", "Out of Office: back Monday"),), PERSON, PERSON, "out_of_office"),
    ((("Subject", "ตอบกลับอัตโนมัติ: ไม่อยู่"),), PERSON, PERSON, "out_of_office"),
])
def test_loop_cases(headers, envelope, to, expected):
    assert reason(headers, envelope, to) == expected


def test_exchange_auto_response_suppress_alone_does_not_silence_a_letter():
    assert reason([("X-Auto-Response-Suppress", "All")]) is None


def test_rate_limit_counts_what_was_already_sent():
    assert reason(sent=19, limit=20) is None
    assert reason(sent=20, limit=20) == "rate_limit"
    assert reason(sent=500, limit=0) is None  # 0: no limit


def test_clean_text_removes_line_breaks_controls_and_bidi_tricks():
    assert clean_text("ขอเชิญ\r\nBcc: x@y\tประชุม\x00\x1b[31m") == "ขอเชิญ Bcc: x@y ประชุม[31m"
    assert clean_text("abc\u202edef\u200b") == "abcdef"
    long = clean_text("ก" * 1000)
    assert len(long) == 300 and long.endswith("…")
    assert clean_text(None) == ""


def test_clean_address_accepts_plain_addresses_only():
    assert clean_address(" Clerk@DDS.example.go.th ") == "clerk@dds.example.go.th"
    for bad in ("x@y\r\nBcc: z@w", "a b@c.d", '"quoted"@x.y', "no-at-sign", "a@b..c", "a@-b.c", ""):
        assert clean_address(bad) is None, bad


def test_message_ids_and_references_are_checked():
    assert clean_message_id(" <a.b@c.d> ") == "<a.b@c.d>"
    assert clean_message_id("<a@b>\r\nBcc: x@y") == "<a@b>"
    assert clean_message_id("not an id") is None
    refs = clean_references("<1@x> junk <2@x>\r\n <3@x>", "<4@x>")
    assert refs == ["<1@x>", "<2@x>", "<3@x>", "<4@x>"]
    many = " ".join(f"<{i}@x>" for i in range(30))
    assert clean_references(many, "<last@x>")[-1] == "<last@x>" and len(clean_references(many, "<last@x>")) == 10


def test_smarthost_forms():
    assert parse_smarthost("mail.bangkok.go.th") == ("mail.bangkok.go.th", 25)
    assert parse_smarthost("mail.bangkok.go.th:587") == ("mail.bangkok.go.th", 587)
    assert parse_smarthost("[::1]:2525") == ("::1", 2525)


PAYLOAD = {
    "type": "ack", "to": PERSON, "unit": "saraban.latkrabang",
    "unit_name_th": "สำนักงานเขตลาดกระบัง", "unit_name_en": "Lat Krabang District Office",
    "from": "saraban.latkrabang@bangkok.go.th", "queue_id": "q1",
    "received_at": "2026-06-11T11:33:00+00:00", "receive_no": "15/2569", "book": "general",
    "classified": False, "subject": "ประชุม", "reference": "กท 0403/ว 276", "letter_date": None,
    "in_reply_to": "<a@b.c>", "references": ["<a@b.c>"], "findings": [],
}


def test_same_key_same_message_id():
    created = dt.datetime(2026, 6, 11, 11, 40, tzinfo=dt.timezone.utc)
    one = build_notice(PAYLOAD, "ack:q1:saraban.latkrabang", created).parsed()
    two = build_notice(PAYLOAD, "ack:q1:saraban.latkrabang", created).parsed()
    assert one["Message-ID"] == two["Message-ID"] == notice_message_id("ack:q1:saraban.latkrabang", "bangkok.go.th")
    assert one["Date"] == two["Date"]
    text = one.get_body(("plain",)).get_content()
    assert "วันที่รับ: 11 มิ.ย. 2569 เวลา 18.33 น." in text  # Bangkok time, Buddhist era
    assert "Received: 11 June 2026, 18:33 (Bangkok time)" in text


def test_a_line_break_that_slipped_into_a_payload_cannot_make_a_header():
    hostile = dict(PAYLOAD, subject="x\r\nBcc: victim@example.org")
    notice = build_notice(hostile, "ack:q2:u", dt.datetime.now(dt.timezone.utc))
    head = notice.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    # As a mail client reads it: no Bcc, no defect anywhere, the subject as cleaned
    # (the line break a space), both alternatives readable.
    msg = notice.parsed()
    assert msg["Bcc"] is None and msg["Message-ID"] == notice.message_id
    assert [part.defects for part in msg.walk()] == [[], [], []]
    assert "x Bcc: victim@example.org" in msg["Subject"]
    assert [part.get_content_type() for part in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "เลขรับ: 15/2569" in msg.get_body(("plain",)).get_content()


def test_clean_text_of_printable_text_is_what_the_character_loop_gives():
    """`clean_text` takes a shortcut for text `str.isprintable` passes: every code point,
    alone and between words, and random mixes of Thai, marks and separators, come out
    as the character-by-character reading gives them."""
    import random
    import sys
    import unicodedata

    from gateway.notices import sanitize

    def slow(value: str, limit: int = sanitize.MAX_TEXT) -> str:  # the loop, without the shortcut
        out = []
        for char in value:
            category = unicodedata.category(char)
            if char in "\r\n\t\v\f\u2028\u2029\x85" or category == "Zs":
                out.append(" ")
            elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
                out.append(char)
        text = " ".join("".join(out).split())
        return text if len(text) <= limit else sanitize.cut(text, limit - 1).rstrip() + "…"

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        for text in (char, f"ก{char}ข", f"  {char}{char} "):
            assert clean_text(text) == slow(text), hex(code)
    rng = random.Random(28)
    alphabet = "กขคำ่้๊๋ัิีึืุู็์ ํา AZaz09.\t\n\r\u00a0\u200b\u202e\u2028\u3000\x00\x85\ufeff\U0001f600"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        limit = rng.randrange(2, 50)
        assert clean_text(text, limit) == slow(text, limit), repr(text)
