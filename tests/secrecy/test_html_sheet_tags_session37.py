"""A block a style sheet hides by its tag alone, between a marking's syllables.

Session 36 crossed a line break only where the element that made it carried a style,
class or id a sheet might hide it by; `div p{display:none}` (or `p:nth-child(2)`,
`[lang]`, `*`) hides a `<p>` that carries none, and `ลับ<p>x</p>ที่สุด` showed
ลับที่สุด in a browser while the gateway read ลับ: a top-secret letter sealed and kept
instead of refused. A rule that can hide or shrink a block's text (display, visibility,
a font of a pixel or two, white or transparent text, off-screen, clipped, zero height)
now makes the blocks its selector's last compound names crossable; a Word or Outlook
sheet's ordinary rules (`p.MsoNormal{font-size:11pt}`) do not (rules/markings.py
`_sheet_tags`, docs/secrecy.md "HTML")."""
from __future__ import annotations

import pytest

from gateway.secrecy.markings import classify_raw
from tests.secrecy.test_html_styles_session36 import LEVEL, SPLIT, html_letter

HIDING_SHEETS = [
    "div p{display:none}",
    "p:nth-child(2){font-size:1px}",
    "div > p{color:#FFFFFF !important}",
    "div p{position:absolute;left:-9999px}",
    "div p{height:0;overflow:hidden}",
    "[lang] {visibility:hidden}",
    "* p{opacity:0}",
]
WORD_SHEET = ('p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:"Calibri"} '
              "a:link{color:#0563C1} p{color:black;line-height:1.5} div.WordSection1{page:WordSection1}")


@pytest.mark.parametrize("marking", ["ลับมาก", "ลับที่สุด"])
@pytest.mark.parametrize("sheet", HIDING_SHEETS)
def test_a_block_hidden_by_its_tag_between_the_syllables_is_crossed(sheet, marking):
    a, b = SPLIT[marking]
    body = f'<style>{sheet}</style><div>{a}<p lang="th">x</p>{b}</div>'
    assert classify_raw(html_letter(body)).level == LEVEL[marking]


def test_a_line_break_hidden_by_its_tag_is_crossed():
    assert classify_raw(html_letter("<style>br{display:none}</style><p>ลับ<br>ที่สุด</p>")).level == "top_secret"


@pytest.mark.parametrize("sheet", [WORD_SHEET, "div div{display:none}", "p{font-size:11pt;width:100%}"])
def test_paragraphs_a_sheet_does_not_hide_stay_apart(sheet):
    # `div div` hides a div, not the <p>; an ordinary sheet hides nothing.
    assert classify_raw(html_letter(f"<style>{sheet}</style><div>ลับ<p>x</p>ที่สุด</div>")).level == "confidential"
    assert classify_raw(html_letter(f"<style>{sheet}</style><p>เป็นความลับ</p><p>ที่สุดแล้วแต่กรณี</p>")).level == "none"


def test_a_sheet_of_many_rules_is_read_in_bounded_time():
    import time

    sheet = "".join(f"p.c{n}{{margin:{n}px}}" for n in range(100_000))
    started = time.process_time()
    level = classify_raw(html_letter(f"<style>{sheet}</style><div>ลับ<p>x</p>ที่สุด</div>")).level
    assert level == "top_secret"  # past MAX_SHEET_RULES: every block crossable (fail closed)
    assert time.process_time() - started < 10
