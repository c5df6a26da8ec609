"""An attached HTML file's title is read (secrecy red team of session 56).

A browser shows an HTML file's <title> on its tab and in its window's title, as a PDF
viewer shows a PDF's title (read since session 39) and Word a DOCX's (session 38). The
reading left a head's <title> out as not shown, which is true of an HTML *body* (no mail
client shows it) but not of a page the clerk opens: an attached page titled ลับที่สุด
was ordinary and certain, taken with a 250."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งแผนตามไฟล์แนบ\n"


def page(title: str, head: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}<title>{title}</title></head>"
            "<body><h1>แผนการปฏิบัติงาน</h1><p>ตามที่ได้มีการประชุมหารือแนวทางการปฏิบัติงานร่วมกัน</p>"
            "</body></html>").encode("utf-8")


def _zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, data)
    return out.getvalue()


def _reading(name: str, data: bytes) -> tuple[str, bool]:
    found = classify_raw(letter(subject="ขอส่งแผน", body=BODY, files=[COVER, (name, data)]))
    return found.level, found.certain


@pytest.mark.parametrize(("title", "level"), [
    ("ลับที่สุด", "top_secret"),
    ("ลับมาก - แผนรักษาความปลอดภัย", "secret"),
    ("แผนรักษาความปลอดภัย (ลับ)", "confidential"),
    ("\n  &#3621;&#3633;&#3610;&#3617;&#3634;&#3585;  \n", "secret"),  # entities, white space
])
@pytest.mark.parametrize("wrap", ["attached", "zipped"])
def test_the_title_a_browser_shows_is_read(title, level, wrap):
    data = page(title)
    name, data = ("plan.html", data) if wrap == "attached" else ("2569_dds_0403_57_1.zip", _zipped("plan.htm", data))
    assert _reading(name, data) == (level, True)


def test_a_decoy_title_before_the_real_one_does_not_hide_it():
    # Only the first <title> a browser builds is shown; one in a comment is no element.
    assert _reading("plan.html", page("ลับมาก", head="<!-- <title>แผน</title> -->")) == ("secret", True)
    assert file_texts.html_titles("<title>a</title><TITLE lang=th>ลับ</title >") == ["a", "ลับ"]


@pytest.mark.parametrize("title", ["ระเบียบว่าด้วยการรักษาความลับของทางราชการ", "แผนการปฏิบัติงาน", "กลับบ้าน", ""])
def test_an_ordinary_title_stays_ordinary(title):
    assert _reading("plan.html", page(title)) == ("none", True)


def test_an_html_bodys_title_is_still_not_read():
    """No mail client shows it (docs/secrecy.md, "The HTML head ends where a browser ends it")."""
    import base64

    html = base64.encodebytes(page("ลับมาก")).replace(b"\n", b"\r\n")
    pdf = base64.encodebytes(COVER[1]).replace(b"\n", b"\r\n")
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\n"
           b"Message-ID: <title@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
           b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + html +
           b"\r\n--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=2569_dds_0403_57.pdf\r\n\r\n" + pdf + b"\r\n--BB--\r\n")
    assert classify_raw(raw).level == "none"


def test_hostile_titles_are_read_in_one_forward_pass(monkeypatch):
    """Bounded by counts, not by a clock: every search starts where the last one ended
    (never again from an earlier `<title`), and at most MAX_TITLES are read."""
    starts: list[int] = []

    class Counted:
        def __init__(self, pattern):
            self.pattern = pattern

        def search(self, text, at=0):
            starts.append(at)
            return self.pattern.search(text, at)

    monkeypatch.setattr(file_texts, "_TITLE_OPEN", Counted(file_texts._TITLE_OPEN))
    monkeypatch.setattr(file_texts, "_TITLE_CLOSE", Counted(file_texts._TITLE_CLOSE))
    for text in ("<title" * 200_000, "<title>" * 200_000, "<title>a</title>" * 200_000, "<title>" + "<" * 200_000):
        starts.clear()
        file_texts.html_titles(text)
        assert starts == sorted(starts) and len(starts) <= 2 * file_texts.MAX_TITLES + 1, len(starts)
    # An opening tag ends at the next "<" or ">": 200,000 unclosed ones are no title.
    assert file_texts.html_titles("<title" * 200_000) == []


def test_over_smtp_a_top_secret_title_is_refused_and_a_secret_one_sealed(tmp_path):
    """An HTML file is no enclosure the rules take (allowed_types): held either way,
    sealed when marked, in plain as before when not."""
    from tests.classified.helpers import MARKER, assert_held_sealed, db_rows, sealing_daemon

    held = "select subject, reasons from quarantine where queue_id = ?"
    with sealing_daemon(tmp_path / "gw") as d:
        code, text = d.data_reply(letter(subject="ขอส่งแผน", body=BODY, files=[COVER, ("plan.html", page("ลับที่สุด"))]),
                                  LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)

        secret = letter(subject=f"ขอส่งแผน {MARKER}", body=f"{BODY}{MARKER}\n",
                        files=[COVER, ("plan.html", page("ลับมาก แผนรักษาความปลอดภัย"))])
        qid = d.send(secret, LAT)
        assert_held_sealed(d, qid)

        qid = d.send(letter(subject="ขอส่งแผน", body=BODY, files=[COVER, ("plan.html", page("แผนการปฏิบัติงาน"))]), LAT)
        d.wait_idle()
        [(subject, reasons)] = db_rows(d, held, qid)
        assert subject == "ขอส่งแผน" and "plan.html" in reasons, reasons
        assert not (d.data_dir / "secret" / qid).exists()
