"""A Subject that opens with its marking in quotes is marked so (session 39's red team).

`"ลับมาก" แผนรักษาความปลอดภัย` was read as a mention of the word (a quoted word in
running text is one: `แจ้งการใช้คำว่า "ลับ" ในหนังสือ`), so the letter was filed
ordinary in plain, and `"ลับที่สุด" ...` was accepted; every clerk reads the marking
there, where the Subject begins."""
from __future__ import annotations

import pytest

from gateway.secrecy.markings import classify_raw
from rules.markings import secrecy_in_subject, urgency_in_subject
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.letters import letter, make_pdf

OPENED = {
    '"ลับมาก" แผนรักษาความปลอดภัย': ("secret", "normal"),
    "“ลับมาก” แผนรักษาความปลอดภัย": ("secret", "normal"),
    "‘ลับ’ รายงานการประชุม": ("confidential", "normal"),
    "'ลับมาก' แผน": ("secret", "normal"),
    "«ลับมาก» แผน": ("secret", "normal"),
    '" ลับมาก " แผน': ("secret", "normal"),
    '"ลับมาก"แผน': ("secret", "normal"),
    'Re: "ลับที่สุด" แผน': ("top_secret", "normal"),
    "Fwd: RE: “ลับ ด่วนที่สุด” ขอเชิญประชุม": ("confidential", "most_urgent"),
    '"ด่วนมาก" ขอเชิญประชุม': ("none", "very_urgent"),
}
MENTIONS = ['แจ้งการใช้คำว่า "ลับมาก" ในหนังสือ', 'แผน "ลับมาก"', '"ลับๆ" เรื่องเล่า', '"ลับมากกว่า" ที่คิด',
            '"ลับ ๆ ล่อ ๆ" ข่าว', '"เอกสารลับ" ของสำนัก', 'ขอเชิญ "ด่วน" ประชุม']


@pytest.mark.parametrize("subject", OPENED)
def test_a_subject_opening_with_a_quoted_marking_is_marked(subject):
    assert (secrecy_in_subject(subject), urgency_in_subject(subject)) == OPENED[subject]


@pytest.mark.parametrize("subject", MENTIONS)
def test_a_quoted_word_elsewhere_is_still_a_mention(subject):
    assert (secrecy_in_subject(subject), urgency_in_subject(subject)) == ("none", "normal")


def test_the_letter_is_read_so_at_data():
    raw = letter(subject='"ลับมาก" แผนรักษาความปลอดภัย', files=[("2569_dds_0403_57.pdf", make_pdf("cover"))])
    assert classify_raw(raw).level == "secret"


def test_over_smtp_the_secret_letter_is_sealed_and_the_top_secret_one_refused(tmp_path):
    pdf = [("2569_dds_0403_57.pdf", make_pdf("cover"))]
    with sealing_daemon(tmp_path / "gw") as d:
        code, text = d.data_reply(letter(subject='"ลับที่สุด" แผนป้องกันเหตุ', files=pdf), LATKRABANG)
        assert code == 550 and b"top-secret" in text, (code, text)
        qid = d.send(letter(subject=f"“ลับมาก” แผนรักษาความปลอดภัย {MARKER}", body=f"เรียน ผอ.\n{MARKER}\n",
                            files=pdf), LATKRABANG)
        d.wait_idle(timeout=120)
        [(book, secrecy)] = db_rows(d, "select book, secrecy from letters where queue_id = ?", qid)
        assert (book, secrecy) == ("secret", "secret")
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []
