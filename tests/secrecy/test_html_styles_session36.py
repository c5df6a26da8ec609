"""A marking an HTML body shows, which a style sheet lays out apart or keeps whole by
hiding what sits inside it, is read (session 36's red team).

Until session 36 the HTML reading took inline elements as nothing and only an inline
style or `hidden` as hiding, so a ลับที่สุด a browser shows right-aligned in a flex row,
floated, set `display:block`, joined by `::after`, or written `ลับ<span class=w>ก</span>
มาก` with `.w{display:none}` (or white, 1px, off-screen) was read glued to the text
beside it, or broken: a ลับที่สุด letter was taken in with 250 and a ลับมาก one filed
in plain text. Outlook's conditional comments (`<!--[if mso]>`), which Outlook shows,
were not read at all. A braille pattern blank (U+2800) between ลับ and มาก showed as a
space and was read as a letter of a word. rules/markings.py `_styled_readings`,
`_MSO_CONDITIONAL`, `_OTHER_SPACE`; docs/secrecy.md "HTML"."""
from __future__ import annotations

import base64

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import assert_sealed_nowhere_plain, db_rows, sealing_daemon
from tests.letters import make_pdf

COVER = make_pdf("cover letter")
LINES = ("<p>ที่ กท ๐๕๐๘/๒๐๕๙</p><p>เรื่อง แผนรักษาความปลอดภัย {marker}</p>"
         "<p>เรียน ผู้อำนวยการเขตลาดกระบัง</p><p>เนื้อความ {marker}</p>")
SHAPES = {
    "flex row": '<div style="display:flex;justify-content:space-between"><span>สำนักงานเขตบางรัก</span>'
                "<span>{m}</span></div>",
    "float": '<div><span style="float:right">{m}</span>สำนักงานเขตบางรัก</div>',
    "display block": '<div>สำนักงานเขตบางรัก<span style="display:block;text-align:right">{m}</span></div>',
    "absolute": '<div>สำนักงานเขตบางรัก<span style="position:absolute;right:0">{m}</span></div>',
    "class floated": '<style>.r{{float:right}}</style><div>สำนักงานเขตบางรัก<span class="r">{m}</span></div>',
    "mso conditional": "<!--[if mso]><p>{m}</p><![endif]-->",
    "class hidden inside": '<style>.w{{display:none}}</style><p>{a}<span class="w">ก</span>{b}</p>',
    "white inside": '<p>{a}<font color="#ffffff">ก</font>{b}</p>',
    "1px inside": '<p>{a}<span style="font-size:1px">ก</span>{b}</p>',
    "off-screen inside": '<p>{a}<span style="position:absolute;left:-9999px">กข</span>{b}</p>',
    "two hidden inside": '<style>.w{{color:#fff}}</style><p><span>{a}</span><span class="w">ก</span>'
                         '<span>{b}</span><i class="w">x</i></p>',
    "hidden before": '<style>.w{{display:none}}</style><p><span class="w">ก</span>{m}</p>',
    "hidden after": '<style>.w{{display:none}}</style><p>{m}<span class="w">ก</span></p>',
    # Variations of the review (session 36): a hidden block or line break, or a picture's
    # alt text, between the syllables.
    "hidden block inside": '<style>.h{{display:none}}</style><div>{a}<div class="h">x</div>{b}</div>',
    "hidden paragraph inside": '<style>.h{{display:none}}</style><div>{a}<p class="h">x</p>{b}</div>',
    "hidden br inside": '<p>{a}<br style="display:none">{b}</p>',
    "picture inside": '<p>{a}<img src="cid:dot" width="1" height="1" alt="x">{b}</p>',
}
SPLIT = {"ลับมาก": ("ลับ", "มาก"), "ลับที่สุด": ("ลับ", "ที่สุด")}
LEVEL = {"ลับมาก": "secret", "ลับที่สุด": "top_secret"}


def html_letter(body: str, marker: str = "S36HTML", plain: str | None = None) -> bytes:
    """An HTML body (no plain alternative unless given) and an unmarked cover PDF."""
    html = f'<html><head><meta charset="utf-8"></head><body>{body}{LINES.format(marker=marker)}</body></html>'
    parts = []
    if plain is not None:
        parts.append(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + base64.encodebytes(plain.encode()).replace(b"\n", b"\r\n"))
    parts.append(b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 + base64.encodebytes(html.encode()).replace(b"\n", b"\r\n"))
    parts.append(b'Content-Type: application/pdf; name="2569_dds_0403_57.pdf"\r\n'
                 b'Content-Disposition: attachment; filename="2569_dds_0403_57.pdf"\r\n'
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(COVER).replace(b"\n", b"\r\n"))
    subject = base64.b64encode(f"แผนรักษาความปลอดภัย {marker}".encode()).decode()
    out = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
           b"Date: Fri, 04 Dec 2026 10:00:00 +0700\r\n"
           + f"Message-ID: <{abs(hash(marker))}@dds.bangkok.go.th>\r\nSubject: =?utf-8?B?{subject}?=\r\n".encode()
           + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n")
    for part in parts:
        out += b"--BB\r\n" + part + b"\r\n"
    return out + b"--BB--\r\n"


def shape(name: str, marking: str) -> str:
    a, b = SPLIT[marking]
    return SHAPES[name].format(m=marking, a=a, b=b)


@pytest.mark.parametrize("marking", ["ลับมาก", "ลับที่สุด"])
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_marking_a_style_sets_apart_or_keeps_whole_is_read(name, marking):
    assert classify_raw(html_letter(shape(name, marking))).level == LEVEL[marking]


def test_a_string_an_after_rule_adds_completes_the_marking():
    sheet = '<style>.m::after{content:"าก"} p#t:before{content:"ลับ"}</style>'
    assert classify_raw(html_letter(sheet + '<p><span class="m">ลับม</span></p>')).level == "secret"
    assert classify_raw(html_letter(sheet + '<p id="t">ที่สุด</p>')).level == "top_secret"


@pytest.mark.parametrize("body", [
    # A Word page splits its runs into spans anywhere; the phrase "การรักษาความลับ"
    # (keeping official secrets) is no marking however it is split.
    '<p class="MsoNormal"><span lang="TH">เรื่อง การรักษาความ</span><span class="SpellE">ลับของทางราชการ</span></p>',
    '<p><b>ข้อมูลความ</b>ลับ ของหน่วยงาน</p>',
    '<div style="display:flex"><span>สำนักงานเขตบางรัก</span><span>โทร ๐ ๒๓๒๖ ๗๙๔๕</span></div>',
    '<p>สลับ<span class="x">ตำแหน่ง</span>มากขึ้น</p>',
    '<p>ลับxxมาก</p>',
    '<p>เป็นความลับ</p><p>ที่สุดแล้วแต่กรณี</p>',
    '<div><p>ข้อมูลลับ</p><p>มาก</p></div>',
])
def test_ordinary_html_split_into_spans_stays_ordinary(body):
    assert classify_raw(html_letter(body)).level == "none"


@pytest.mark.parametrize("blank, level", [("\u2800", "secret"), ("\u3164", "secret"), (" ", "secret")])
def test_a_blank_drawn_between_the_syllables_is_a_space(blank, level):
    plain = f"ลับ{blank}มาก\r\nที่ กท ๐๕๐๘/๒๐๕๙\r\nเรื่อง แผน\r\n"
    assert classify_raw(html_letter("<p>ดูไฟล์แนบ</p>", plain=plain)).level == level


def test_the_daemon_seals_a_letter_a_style_sets_apart_and_refuses_one_it_hides_inside(tmp_path):
    with sealing_daemon(tmp_path / "gw") as d:
        code, text = d.data_reply(html_letter(shape("class hidden inside", "ลับที่สุด"), marker="S36TSHIDE"))
        assert code == 550 and b"top-secret" in text
        queued = {}
        for n, name in enumerate(("flex row", "two hidden inside", "mso conditional")):
            # The letter's number early in its marker: files_containing looks for it
            # base64-encoded at three alignments, and "S36SEAL{n}X" shared the window
            # "36SEAL" between the three letters, so another letter's spool file, not yet
            # shredded, was taken for this one's (full run E of session 50, under load).
            marker = f"S36{n}SEALX"
            code, text = d.data_reply(html_letter(shape(name, "ลับมาก"), marker=marker))
            assert code == 250, text
            queued[name] = text.split()[-1].decode()
        d.wait_for(lambda: db_rows(d, "select count(*) from letters")[0][0] == len(queued), timeout=120,
                   what="letters registered")
        assert db_rows(d, "select book, secrecy from letters order by number") == [("secret", "secret")] * 3
        for n in range(3):
            assert_sealed_nowhere_plain(d, {f"{n}": list(queued.values())[n]}, marker=f"S36{n}SEALX")


@pytest.mark.parametrize("head, level", [
    ("ลับ ม า ก", "secret"),  # each cluster drawn apart: the text layer of a tracked heading
    ("ลั บ ม า ก", "secret"),
    ("ลั บ ที่ สุ ด", "top_secret"),
    ("ที่ นี่ มี ข่าว", "none"),
    ("ข่ า ว ส า ร", "none"),  # letter-spaced, no marking
])
def test_a_letter_spaced_marking_in_a_text_layer_is_read_whole(head, level):
    from rules.markings import secrecy_in_letter

    assert secrecy_in_letter(f"{head}\nที่ กท 0403/ว 276\nเรื่อง ขอเชิญประชุม\nเรียน ผู้อำนวยการเขตลาดกระบัง\n") == level


def test_hostile_conditional_comments_and_spans_read_in_linear_time():
    """Conditional comments without their end, or thousands of them between two ends,
    and 100,000 spans around ล: each read once (a search from each opening to the end,
    or a pass over the line from each ล, was minutes)."""
    import time

    from rules.markings import html_readings, secrecy_in_letter

    shapes = ["<p>x</p>" + "<!--[if mso]>" * 50_000,
              "<!--[if mso]><p>a</p><![endif]-->" + "<!--[if mso]>" * 50_000 + "<![endif]-->",
              "<p>" + "<span>ล</span>" * 100_000 + "</p>",
              "<p>" + ("<span>ล</span><span>" + "x" * 1999 + "</span>") * 500 + "</p>"]
    started = time.process_time()
    for markup in shapes:
        assert {secrecy_in_letter(r) for r in html_readings(markup)} == {"none"}
    assert time.process_time() - started < 30
    nested = "<!--[if mso]><!--[if gte mso 9]><p>ลับมาก</p><![endif]--><![endif]-->"
    assert "secret" in {secrecy_in_letter(r) for r in html_readings(nested)}
