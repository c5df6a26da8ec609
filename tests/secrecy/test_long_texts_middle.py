"""A line made only of markings counts anywhere in a letter's text, the middle of a very
long one too (leak red team, 30 Nov 2026).

A body or a text file of more than a million characters is kept as its first and last
500,000 (a marking is printed at the top and the bottom of a page); the middle was cut
whole, and a ลับที่สุด alone on a line there, which the rules count wherever it stands,
was never read: a letter to be refused at DATA was taken in. Its short lines holding a ล
are now kept from the middle."""
from __future__ import annotations

from gateway.secrecy.markings import classify_raw
from tests.secrecy.test_mime_hidden_markings import file_part, mixed, text_part

PROSE = "ขอส่งรายงานผลการดำเนินงานประจำปีงบประมาณ พ.ศ. 2569 ของสำนักงานเขต ตามแนบ\n"


def long_text(marking: str = "") -> bytes:
    half = PROSE * (700_000 // len(PROSE))
    return (half + (f"{marking}\n" if marking else "") + half).encode()


def test_a_marking_alone_in_the_middle_of_a_long_body_is_read():
    found = classify_raw(mixed(text_part(long_text("ลับที่สุด"))))
    assert (found.level, found.certain) == ("top_secret", True)
    assert classify_raw(mixed(text_part(long_text()))).level == "none"


def test_a_marking_alone_in_the_middle_of_a_long_text_file_is_read():
    found = classify_raw(mixed(text_part(), file_part("text/plain; charset=utf-8", "report.txt", long_text("ลับมาก"))))
    assert (found.level, found.certain) == ("secret", True)
