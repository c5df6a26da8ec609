"""A head line's columns set apart in HTML by an inline element's padding or margin
(session 43).

"ที่ กท ๐๔๐๗<span style='padding-left:200px'>ลับที่สุด</span>..." shows the marking
standing alone in the middle of the page's head, as a tab or a table cell sets it
apart; it was read as one line that neither starts nor ends with it, and the letter was
ordinary (a ลับที่สุด one accepted). An inline element's horizontal padding or margin of
an em or more is now a column's edge (`rules.markings._wide_sides`)."""
from __future__ import annotations

from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from gateway.secrecy.markings import classify_raw

BODY = "<p>เรื่อง การประชุม</p><p>เรียน ผู้อำนวยการเขต</p>" + "<p>ข้อความของหนังสือ ขอให้ดำเนินการตามแผน</p>" * 10


def _reading(html: str) -> tuple[str, bool, str]:
    mail = MIMEMultipart("alternative")
    mail["From"], mail["To"], mail["Subject"] = "saraban.dds@bangkok.go.th", "saraban.latkrabang@bangkok.go.th", "แจ้ง"
    mail.attach(MIMEText("โปรดดู", "plain", "utf-8"))
    mail.attach(MIMEText(f"<html><body>{html}</body></html>", "html", "utf-8"))
    found = classify_raw(mail.as_bytes())
    return found.level, found.certain, found.where


@pytest.mark.parametrize("style", [
    "padding-left:200px", "margin-left:3cm", "padding:0 0 0 4em", "padding:0 2rem", "margin: 0 10% 0 10%",
    "padding-inline-start:24pt", "padding-inline:40px 0", "PADDING-LEFT: 1.5IN",
])
def test_a_marking_set_apart_by_padding_or_margin_stands_alone(style):
    head = f"<p>ที่ กท ๐๔๐๗/๕๗<span style='{style}'>ลับที่สุด</span><span style='{style}'>สำนักการระบายน้ำ</span></p>"
    assert _reading(head + BODY) == ("top_secret", True, "html")
    # At the foot of the page too.
    assert _reading(BODY + f"<p>หน้า ๑ <span style='{style}'>ลับมาก</span></p>")[0] == "secret"


def test_a_margin_on_the_right_sets_apart_what_follows():
    assert _reading("<p><span style='margin-right:3em'>ลับ</span>แล ที่ กท ๐๔๐๗</p>" + BODY)[0] == "confidential"
    # A few pixels are a typist's spacing, not a column: ลับแล (a place name) as before.
    assert _reading("<p><span style='margin-right:2px'>ลับ</span>แล ที่ กท ๐๔๐๗</p>" + BODY)[0] == "none"
    assert _reading("<p>ที่ กท ๐๔๐๗<span style='padding-left:4px'>ลับที่สุด</span> สำนักการระบายน้ำ</p>"
                    + BODY)[0] == "none"


def test_which_sides_are_wide():
    from rules.markings import _wide_sides

    assert _wide_sides("padding: 0 20px") == (True, True)
    assert _wide_sides("padding: 0 20px 0 0") == (False, True)
    assert _wide_sides("margin: 1em 0 0") == (False, False)
    assert _wide_sides("margin: 0 0 0 1em; color: red") == (True, False)
    assert _wide_sides("padding-top: 50px; margin-bottom: 3cm") == (False, False)
    assert _wide_sides("scroll-padding-left: 50px") == (False, False)
    assert _wide_sides("margin-left: auto") == (False, False)
