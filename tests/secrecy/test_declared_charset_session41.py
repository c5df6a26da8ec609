"""An HTML, SVG or XML text is read by the encoding it declares for itself too (a
`<meta charset>`, a `<meta http-equiv>` content type, an XML declaration), as a browser
and Thunderbird read it when no MIME charset says otherwise.

Thai has two encodings a browser knows besides UTF-8 and Windows-874: UTF-16 (read by
its bytes already) and GB18030, which every GBK label (`gbk`, `gb2312`, `x-gbk`,
`chinese`) names in WHATWG's table. Until session 41 a ลับมาก page written in GB18030
and declared so inside the document, attached as .html, .svg or .xml or sent as an
HTML body without a MIME charset, was read by its bytes as Windows-874 mojibake: no
marking, filed as an ordinary letter. An XML file declared `tis-620` or `gbk` was also
decoded twice by its XML reading (mojibake)."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.charsets import DECLARED_WITHIN, THAI_CAPABLE, declared_codecs, declared_readings
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

SECRET = "ลับมาก"


def _with_file(name: str, data: bytes) -> bytes:
    return letter(subject="แผนงาน", body="ส่งแผนงานมาเพื่อทราบ",
                  files=[("2569_dds_0403_57.pdf", make_pdf("cover")), (name, data)])


def _html(meta: str, text: str = f"{SECRET} แผนรักษาความปลอดภัย", encoding: str = "gb18030", pad: int = 0) -> bytes:
    return (f"<html><head>{' ' * pad}{meta}</head><body><p>{text}</p></body></html>").encode(encoding)


def _svg(label: str, encoding: str = "gb18030") -> bytes:
    return (f'<?xml version="1.0" encoding="{label}"?><svg xmlns="http://www.w3.org/2000/svg">'
            f'<text x="10" y="20">{SECRET} แผนรักษาความปลอดภัย</text></svg>').encode(encoding)


@pytest.mark.parametrize("name, data", [
    ("plan.html", _html('<meta charset="gbk">')),
    ("plan.html", _html("<meta charset=GB2312>")),
    ("plan.htm", _html('<meta http-equiv="Content-Type" content="text/html; charset=gb18030">')),
    ("plan.html", _html('<meta charset="x-gbk">')),
    ("plan.html", _html('<meta charset="chinese">')),
    # Past the prescan's 1024 bytes a parser meeting the meta reads the page again.
    ("plan.html", _html('<meta charset="gbk">', pad=5000)),
    ("plan.svg", _svg("gbk")),
    ("plan.svg", _svg("GB18030")),
    ("plan.xml", _svg("gbk")),
    ("plan.xml", _svg("tis-620", "cp874")),  # its XML reading decoded it twice until session 41
    ("plan.xml", _svg("windows-874", "cp874")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_file_read_by_its_own_declaration_is_marked(name, data):
    result = classify_raw(_with_file(name, data))
    assert result.level == "secret", (name, result)


def test_a_file_declaring_two_charsets_is_read_by_each():
    """A first meta says utf-8, a later one gbk: whichever a reader's parser keeps."""
    data = _html('<meta charset="utf-8"><meta charset="gbk">')
    assert classify_raw(_with_file("plan.html", data)).level == "secret"


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=us-ascii", "text/html; charset=gbk"])
def test_an_html_body_read_by_its_meta_is_marked(content_type):
    """Thunderbird reads a text/html part with no MIME charset by its meta; with one, by
    the label (a GBK label is GB18030 there too). Both readings count here."""
    html = _html('<meta http-equiv="Content-Type" content="text/html; charset=gbk">')
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
           b"Message-ID: <declared-1@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: " + content_type.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(html))
    assert classify_raw(raw).level == "secret"


def test_an_html_body_in_a_multipart_letter_read_by_its_meta_is_marked():
    html = _html('<meta charset="gbk">')
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
           b"Message-ID: <declared-2@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "ส่งแผนงานมาเพื่อทราบ\r\n".encode()
           + b"--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(html) + b"--b1--\r\n")
    assert classify_raw(raw).level == "secret"


@pytest.mark.parametrize("name, data", [
    ("notes.html", _html('<meta charset="gbk">', text="会议通知 第三季度计划")),  # Chinese, no Thai
    ("plan.html", _html('<meta charset="utf-8">', text="แผนงานประจำปี", encoding="utf-8")),
    ("plan.svg", _svg("utf-8", "utf-8").replace(SECRET.encode(), "แผน".encode())),
])
def test_an_ordinary_declared_file_stays_ordinary(name, data):
    assert classify_raw(_with_file(name, data)).level == "none"


def test_declarations():
    assert declared_codecs(b'<?xml version="1.0" encoding="gbk"?><a/>') == ["gb18030"]
    assert declared_codecs(b'<meta http-equiv="Content-Type" content="text/html; charset=GB2312">') == ["gb18030"]
    assert declared_codecs(b"<meta charset=utf-16>") == ["utf-8"]  # WHATWG: a meta read in ASCII is not UTF-16
    assert declared_codecs(b'<meta charset="no-such-charset">') == []
    assert declared_codecs(b"<p>no declaration</p>") == []
    assert declared_codecs(b" " * DECLARED_WITHIN + b'<meta charset="gbk">') == []
    # A reading only where it differs from the one the text already had.
    page = _html('<meta charset="gbk">')
    assert declared_readings(page, "gbk") == [] and declared_readings(page, "gb18030") == []
    assert SECRET in declared_readings(page, None)[0]
    assert declared_readings(b'<meta charset="gbk"><p>plain ascii</p>', None) == []


def test_many_declarations_cost_a_bounded_number_of_readings():
    """Only a codec whose text can hold a Thai letter gives a reading (THAI_CAPABLE)."""
    data = b"".join(f'<meta charset="{label}">'.encode() for label in
                    ["gbk", "big5", "shift_jis", "euc-kr", "koi8-r", "iso-8859-5", "cp1251", "cp1250"] * 1000)
    assert declared_codecs(data) == ["gb18030"]
    assert len(declared_readings(data + "ข".encode("gb18030"), None)) <= len(THAI_CAPABLE)


@pytest.mark.parametrize("head", [
    '<meta name="x>y" charset="gbk">',  # a ">" inside a quoted value does not end the tag
    '<meta content="' + "a" * 600 + '" charset="gbk">',  # a long attribute before it
    '<meta charset="x-unknown">' * 9 + '<meta charset="gbk">',  # unknown labels are skipped
    "<!--" + '<meta charset="utf-8">' * 9 + '--><meta charset="gbk">',  # comments are skipped
    "<!--" + "".join(f'<meta charset="{c}">' for c in ("shift_jis", "euc-kr", "big5", "iso-8859-2")) + '--><meta charset="gbk">',
    # Seen by the prescan and not by the parser, which changes the encoding at the real meta.
    "<script>var s = '" + "".join(f'<meta charset="{c}">' for c in ("shift_jis", "euc-kr", "big5", "iso-8859-2", "koi8-r"))
    + "';</script><meta charset=gbk>",
    "<meta http-equiv=Content-Type content='text/html; charset=\"gbk\"'>",
], ids=range(7))
def test_a_meta_found_as_the_prescan_finds_it(head):
    """Session 41's red team: each of these a browser reads as GBK (so as Thai), and the
    first scan with a regular expression did not."""
    data = _html(head)
    assert classify_raw(_with_file("plan.html", data)).level == "secret"
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
           b"Message-ID: <declared-3@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(data))
    assert classify_raw(raw).level == "secret"


def test_a_chinese_page_declared_in_four_charsets_costs_no_reading():
    """A page whose declared readings hold no Thai letter gets none (the red team's 29 MB
    page declaring four charsets took five times as long to read)."""
    page = ("<html><head>" + "".join(f'<meta charset="{c}">' for c in ("gbk", "big5", "shift_jis", "euc-kr"))
            + "</head><body>" + "<p>会议通知 第三季度计划</p>" * 200 + "</body></html>").encode("gb18030")
    assert declared_readings(page, None) == []


def test_the_prescan_is_one_pass():
    import time

    for data in (b"<meta " * 20000, b'<meta a="' * 20000, b"<!--" * 30000, b"<meta a=" + b"x" * 60000):
        started = time.process_time()
        declared_codecs(data)
        assert time.process_time() - started < 2
