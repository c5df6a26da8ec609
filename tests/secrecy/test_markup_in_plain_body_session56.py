"""A text/plain body whose text is markup (secrecy red team of session 56; a gap the
earlier sessions left open).

A sender's client that sends its HTML source as text/plain (a misconfigured mailer, a
form that mails what it was given, a letter pasted from a web editor's source view)
shows the clerk the tags as they are: Thunderbird, Outlook and webmail draw
`<p align="center"><b>ลับที่สุด</b></p>` letter for letter, and the word is there to
read. The reading took the tags for letters glued to the marking: ลับที่สุด neither
alone, nor starting nor ending its line. A ลับที่สุด letter so marked was taken with a
250, a ลับมาก one registered in the general book and filed in plaintext. A tag is now
read as decoration around a marking, as a bracket is."""
from __future__ import annotations

import pytest

from gateway.secrecy.markings import classify_raw
from rules.markings import secrecy_in_letter
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
REST = ["ที่ กท ๐๔๐๓/ว ๒๗๖", "วันที่ ๒๒ ธันวาคม ๒๕๖๖", "เรื่อง ขอส่งแผนรักษาความปลอดภัย",
        "เรียน ผู้อำนวยการเขตลาดกระบัง", *["ตามที่ได้มีการประชุมหารือแนวทางการปฏิบัติงานร่วมกัน"] * 20,
        "ขอแสดงความนับถือ"]
WORD = ("<p class=MsoNormal align=center style='text-align:center'><b><span lang=TH "
        "style='font-size:16.0pt;font-family:\"TH SarabunPSK\"'>{}<o:p></o:p></span></b></p>")


def source(marking_line: str, at: str = "head") -> str:
    """A letter's HTML source, one element a line, as a client sent it as text."""
    lines = [f"<p>{line}</p>" for line in REST]
    if at == "head":
        lines.insert(0, marking_line)
    else:
        lines.insert(len(lines) // 2, marking_line)
    return "<html><body>\n" + "\n".join(lines) + "\n</body></html>\n"


@pytest.mark.parametrize(("line", "level"), [
    ("<p>ลับที่สุด</p>", "top_secret"),
    ("<b>ลับมาก</b>", "secret"),
    (WORD.format("ลับที่สุด"), "top_secret"),
    ("<p align=center>ลับ<b>มาก</b></p>", "secret"),
    ("<!-- head -->ลับ", "confidential"),
    ("<div>ชั้นความลับ: <b>ลับมาก</b></div>", "secret"),
])
@pytest.mark.parametrize("at", ["head", "middle"])
def test_a_marking_between_tags_in_a_plain_body_is_read(line, level, at):
    assert secrecy_in_letter(source(line, at)) == level
    found = classify_raw(letter(subject="ขอส่งแผนรักษาความปลอดภัย", body=source(line, at), files=[COVER]))
    assert (found.level, found.where, found.certain) == (level, "body", True)


@pytest.mark.parametrize("line", [
    "<p>ระเบียบว่าด้วยการรักษาความลับของทางราชการ</p>",  # ลับ inside a word
    "<b>ความลับ</b>",
    "<p>ข้อมูล<b>ลับ</b>เฉพาะ</p>",
    "<b>ลับ</b> ๆ ล่อ ๆ",  # the idiom, furtively
    "<td>ลับแล</td>",  # a place
    "<p>ห้ามใช้คำว่า “ลับ” ในหัวเรื่อง</p>",  # a mention
    "a < b และ ลับแล > c",  # a comparison, no tag
])
def test_markup_that_marks_nothing_stays_ordinary(line):
    for at in ("head", "middle"):
        assert secrecy_in_letter(source(line, at)) == "none", (line, at)
    assert classify_raw(letter(subject="ขอส่งแผน", body=source(line), files=[COVER])).level == "none"


def test_a_marking_in_brackets_and_the_html_body_read_as_before():
    assert secrecy_in_letter("<ลับที่สุด>\n" + "\n".join(REST)) == "top_secret"
    assert secrecy_in_letter("\n".join(REST)) == "none"


def test_over_smtp_a_plain_body_of_markup_is_refused_or_sealed_and_an_honest_one_filed(tmp_path):
    from tests.classified.helpers import MARKER, db_rows, files_containing, maildir, sealing_daemon

    with sealing_daemon(tmp_path / "gw") as d:
        top = letter(subject="ขอส่งแผนรักษาความปลอดภัย", body=source(WORD.format("ลับที่สุด")), files=[COVER])
        code, text = d.data_reply(top, LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)

        secret = letter(subject=f"ขอส่งแผนรักษาความปลอดภัย {MARKER}",
                        body=source("<p align=center><b>ลับมาก</b></p>").replace("</body>", f"<p>{MARKER}</p></body>"),
                        files=[COVER])
        qid = d.send(secret, LAT)
        d.wait_idle()
        assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", qid) == [
            ("secret", "secret", None)]
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []

        # The honest near-miss: markup in a plain body that marks nothing is filed as before.
        honest = letter(subject="แจ้งระเบียบการรักษาความลับ",
                        body=source("<p>ระเบียบว่าด้วยการรักษาความลับของทางราชการ</p>"), files=[COVER])
        qid = d.send(honest, LAT)
        d.wait_idle()
        assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", qid) == [
            ("none", "general", "แจ้งระเบียบการรักษาความลับ")]
        assert len(maildir(d, "latkrabang")) == 1
