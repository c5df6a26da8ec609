"""`<![...` in an HTML body is read as a browser reads it (session 50's red team).

HTML's parsing rules make `<![` a bogus comment that ends at the first ">": Chromium
(`chromium --headless --dump-dom`) turns `<![foo[ x ]]><p>SECRET1</p><![include[ y >
<p>SECRET2</p> ]]>` into `<!--[foo[ x ]]--><p>SECRET1</p><!--[include[ y --> <p>SECRET2
</p> ]]&gt;`, both shown. The standard library's parser, under the HTML reading of
rules/markings.py, raised on a keyword it does not know (`<![foo[`, `<![ x`) and the
reading kept what came before it; it read `<![include[` to its "]]>". A ลับมาก after
either was not read: the letter ordinary and certain, filed in plain text."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from gateway.secrecy.markings import classify_raw
from rules.markings import html_readings, secrecy_in_letter


def html_letter(markup: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = "saraban.latkrabang@bangkok.go.th"
    msg["Subject"] = "ขอส่งรายชื่อผู้ให้ข้อมูล"
    msg.set_content(f"<html><body><p>ที่ กท ๐๔๐๗/๕๗</p><p>เรื่อง ขอส่งรายชื่อผู้ให้ข้อมูล</p>{markup}"
                    "</body></html>", subtype="html")
    return msg.as_bytes()


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


@pytest.mark.parametrize("before, after", [("<![foo[ x ]]>", ""), ("<![ x", ""), ("<![include[ y >", " ]]>")])
def test_a_marking_after_a_marked_section_is_read(before, after):
    assert reading(html_letter("<p>รายชื่อ</p><p>ลับมาก</p>")) == ("secret", True)
    assert reading(html_letter(f"{before}<p>รายชื่อ</p><p>ลับมาก</p>{after}")) == ("secret", True)


def test_words_sections_and_ordinary_letters_read_as_before():
    """Word's HTML lists (`<![if !supportLists]>1.<![endif]>`): the number shown, the
    markers not; an ordinary letter with them stays ordinary."""
    word = "<p><![if !supportLists]><span>1.</span><![endif]>ขอส่งรายชื่อ</p>"
    assert any("1.ขอส่งรายชื่อ" in r for r in html_readings(word)), html_readings(word)
    assert reading(html_letter(word + "<p>จึงเรียนมาเพื่อโปรดทราบ</p>")) == ("none", True)
    assert [secrecy_in_letter(r) for r in html_readings("<![foo[ x ]]><p>ลับมาก</p>")] == ["secret"]
