"""Markings a mail client shows that the gateway did not read (red team, session 14).

Each letter below shows its ลับมาก (or ลับที่สุด) to the clerk in Thunderbird, and the
gateway read it as ordinary: registered in the ordinary book with its subject in plain
and filed into the unit's ordinary folder (or, ลับที่สุด, taken in with a 250):

* an HTML body whose marking is an image's `alt` (shown while remote images are
  blocked, and for a `cid:` image the letter lacks), a form field's value, a
  `<noscript>` (mail clients run no scripts and show it), or CSS generated content
  (`p::before { content: "..." }`, escapes included);
* a Word file whose document part is saved as UTF-16 (OPC allows UTF-8 or UTF-16; Word
  and LibreOffice open both), or whose marking is in a CDATA section: the reader
  decoded every part as UTF-8 and read only what lay between tags;
* a body, or a file's name, in Windows-874 under WHATWG's labels for it that Python
  did not know (`dos-874`, `iso885911`, `ibm874`), or a body under a label nobody knows:
  read as UTF-8, U+FFFDs;
* a marking written backwards under a right-to-left override (U+202E), which every
  client draws forwards: the control was dropped as invisible and the rest read
  backwards;
* a Subject in RFC 2047 with a Thai charset label Python does not know (`dos-874`,
  `ibm874`: WHATWG's labels, which Thunderbird decodes as Thai) or an unknown one, whose
  Windows-874 bytes were read as UTF-8, i.e. U+FFFDs.

docs/secrecy.md, "Normalisation" and "Where in the letter"; rules/markings.py."""
from __future__ import annotations

import base64
import json
import uuid
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import (LATKRABANG, MARKER, db_rows, files_containing, log_lines_containing,
                                      maildir, sealing_daemon)
from tests.letters import letter, make_pdf
from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _docx

COVER = make_pdf("cover letter")
LINES = "<p>เรียน ผู้อำนวยการเขตลาดกระบัง</p><p>ขอส่งแผนการปฏิบัติงาน</p>"


def html_letter(html: str, subject: str = f"ขอส่งแผนการปฏิบัติงาน {MARKER}") -> bytes:
    """An HTML letter as Thunderbird sends it: a plain alternative without the marking
    (what the clerk does not see), the HTML the clerk sees, and an unmarked cover PDF."""
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n", "plain", "utf-8"))
    body.attach(MIMEText(f"<html><body>{html}{LINES}<p>{MARKER}</p></body></html>", "html", "utf-8"))
    msg = MIMEMultipart("mixed")
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = LATKRABANG
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    msg.attach(body)
    msg.attach(MIMEApplication(COVER, "pdf", Name="2569_dds_0403_57.pdf"))
    msg.get_payload()[-1].add_header("Content-Disposition", "attachment", filename="2569_dds_0403_57.pdf")
    return msg.as_bytes()


def encoded_subject_letter(charset: str, text: str) -> bytes:
    """A letter whose Subject is one RFC 2047 Q-word of Windows-874 bytes under `charset`."""
    word = "".join(f"={b:02X}" for b in text.encode("cp874"))
    raw = html_letter("", subject="x").replace(b"Subject: x", f"Subject: =?{charset}?Q?{word}?= {MARKER}".encode())
    return raw


HIDDEN_HTML = {
    "img alt": '<p><img src="cid:stamp@dds" alt="ลับมาก"></p>',
    "area alt": '<map name="m"><area shape="rect" coords="0,0,9,9" alt="ลับมาก"></map>',
    "input value": '<p><input type="text" value="ลับมาก" readonly></p>',
    "input placeholder": '<p><input placeholder="ลับมาก"></p>',
    "noscript": "<noscript>ลับมาก</noscript>",
    "css ::before": '<style>p.head::before { content: "ลับมาก"; }</style><p class="head"></p>',
    "css escapes": r'<style>.h:after{content:"\E25\E31\E1A" "\0E21 \0E32\0E01"}</style><p class="h"></p>',
    "style attribute": '<p style="content: \'ลับมาก\'">x</p>',
}


@pytest.mark.parametrize("html", HIDDEN_HTML.values(), ids=HIDDEN_HTML.keys())
def test_html_text_a_client_draws_from_attributes_scripts_off_and_css_is_read(html):
    found = classify_raw(html_letter(html))
    assert (found.level, found.where, found.certain) == ("secret", "html", True)


def test_html_that_shows_no_marking_stays_ordinary():
    for html in ('<p><img src="cid:logo" alt="ตราสัญลักษณ์ กรุงเทพมหานคร"></p>',
                 '<input value="กลับ">', "<noscript>เปิด JavaScript</noscript>",
                 '<style>p::before{content:"ความลับ"} p{color:red}</style><p>x</p>'):
        assert classify_raw(html_letter(html)).level == "none", html


@pytest.mark.parametrize("charset", ["dos-874", "ibm874", "x-thai-unknown"])
def test_a_subject_in_a_thai_label_python_does_not_know_is_read_as_thai(charset):
    found = classify_raw(encoded_subject_letter(charset, "ลับมาก แผนรักษาความปลอดภัย"))
    assert (found.level, found.where) == ("secret", "header Subject")


def word_letter(docx: bytes) -> bytes:
    return letter(subject=f"ขอส่งแผนการปฏิบัติงาน {MARKER}", body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                  files=[("2569_dds_0403_57.pdf", COVER), ("2569_dds_0403_57_1.docx", docx)])


WORD = {
    "utf-16": _docx(["ลับมาก", *LETTER_LINES, MARKER], encoding="utf-16"),
    "utf-16-le without BOM": _docx(["ลับมาก", *LETTER_LINES, MARKER], encoding="utf-16-le"),
    "cdata": _docx(["<![CDATA[ลับมาก]]>", *LETTER_LINES, MARKER]),
    "cdata in the page header": _docx(LETTER_LINES, header="<![CDATA[ลับมาก]]>"),
}


@pytest.mark.parametrize("docx", WORD.values(), ids=WORD.keys())
def test_a_word_part_in_utf16_or_cdata_is_read(docx):
    found = classify_raw(word_letter(docx))
    assert (found.level, found.certain) == ("secret", True)


def legacy_letter(label: str, body: str = "ลับมาก\r\nเรียน ผู้อำนวยการเขตลาดกระบัง\r\n", ctype: str = "text/plain",
                  filename: str = "2569_dds_0403_57.pdf") -> bytes:
    """A letter whose body (and, RFC 2231, its PDF's name) are Windows-874 bytes labelled `label`."""
    name = "".join(f"%{b:02X}" for b in filename.encode("cp874"))
    pdf = base64.encodebytes(COVER).replace(b"\n", b"\r\n")
    return (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: {MARKER}\r\n"
            f"Date: {formatdate(localtime=True)}\r\nMessage-ID: <{uuid.uuid4()}@dds.bangkok.go.th>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
            f"--BB\r\nContent-Type: {ctype}; charset={label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + (
            f"{body}{MARKER}\r\n".encode("cp874") + b"--BB\r\nContent-Type: application/pdf\r\n"
            + f"Content-Disposition: attachment; filename*={label}''{name}\r\n".encode()
            + b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"--BB--\r\n")


@pytest.mark.parametrize("label", ["dos-874", "iso885911", "ibm874", "x-thai-unknown"])
def test_a_body_in_windows_874_under_a_label_python_did_not_know_is_read(label):
    found = classify_raw(legacy_letter(label))
    assert (found.level, found.where) == ("secret", "body")


@pytest.mark.parametrize("label", ["dos-874", "iso885911", "x-thai-unknown"])
def test_an_html_body_in_windows_874_under_a_label_python_did_not_know_is_read(label):
    html = classify_raw(legacy_letter(label, "<p>ลับมาก</p><p>เรียน</p>", ctype="text/html"))
    assert (html.level, html.where) == ("secret", "html")
    # Alone (no multipart), mail-parser guessed a charset for an unknown label: Cyrillic.
    alone = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
             f"Content-Type: text/html; charset={label}\r\n\r\n<p>").encode() + "ลับมาก</p>".encode("cp874")
    assert classify_raw(alone).level == "secret"


@pytest.mark.parametrize("label", ["dos-874", "iso885911", "x-thai-unknown"])
def test_file_names_under_whatwg_thai_labels_are_read(label):
    name = classify_raw(legacy_letter(label, "เรียน ผู้อำนวยการเขตลาดกระบัง\r\n", filename="ลับมาก_2569_0403.pdf"))
    assert (name.level, name.where) == ("secret", "file 1 name")


def test_latin_labels_stay_latin():
    """A client shows windows-1252 bytes as Latin letters, not Thai: no marking."""
    assert classify_raw(legacy_letter("windows-1252")).level == "none"


def drawn_backwards(text: str) -> str:
    """`text` stored so that a right-to-left override draws it as written: its
    clusters (a letter and its marks) in reverse order, after U+202E."""
    clusters: list[str] = []
    for ch in text:
        if clusters and ch in "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c":
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return "\u202e" + "".join(reversed(clusters)) + "\u202c"


def test_a_marking_drawn_by_a_right_to_left_override_is_read_as_drawn():
    assert drawn_backwards("ลับมาก") == "\u202eกามบลั\u202c"
    for where, raw in (("header Subject", html_letter("", subject=f"{drawn_backwards('ลับมาก')} แผน {MARKER}")),
                       ("html", html_letter(f"<p>{drawn_backwards('ลับมาก')}</p>"))):
        found = classify_raw(raw)
        assert (found.level, found.where) == ("secret", where)
    assert classify_raw(html_letter(f"<p>{drawn_backwards('ลับที่สุด')}</p>")).level == "top_secret"
    # Not a marking drawn backwards: ลับมาก stored forwards under the override shows กามบลั.
    assert classify_raw(html_letter("<p>\u202eลับมาก\u202c</p>")).level == "none"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with sealing_daemon(tmp_path_factory.mktemp("red14") / "gw") as d:
        yield d


def test_over_smtp_hidden_top_secret_markings_are_refused_before_the_250(gateway):
    """First, so that the next test's search of the data directory and log covers it."""
    code, text = gateway.data_reply(
        html_letter('<style>p.head::before { content: "ลับที่สุด"; }</style><p class="head"></p>'))
    assert code == 550 and text.isascii()
    code, text = gateway.data_reply(html_letter("", subject=f"{drawn_backwards('ลับที่สุด')} แผน {MARKER}"))
    assert code == 550 and text.isascii()
    gateway.wait_idle()
    assert gateway.register() == []


SEALED = {
    "img alt": html_letter(HIDDEN_HTML["img alt"]),
    "noscript": html_letter(HIDDEN_HTML["noscript"]),
    "css ::before": html_letter(HIDDEN_HTML["css ::before"]),
    "dos-874 subject": encoded_subject_letter("dos-874", "ลับมาก แผนรักษาความปลอดภัย"),
    "word utf-16": word_letter(WORD["utf-16"]),
    "word cdata": word_letter(WORD["cdata"]),
    "dos-874 body": legacy_letter("dos-874"),
    "right-to-left override": html_letter(f"<p>{drawn_backwards('ลับมาก')}</p>"),
}


def test_over_smtp_each_hidden_secret_marking_is_sealed_and_leaves_no_plaintext(gateway):
    d = gateway
    queued = {name: d.send(raw, LATKRABANG) for name, raw in SEALED.items()}
    d.wait_idle()
    for name, qid in queued.items():
        assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", qid) == [
            ("secret", "secret", None)], name
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1", name
    assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def test_over_smtp_session_15_letters_are_sealed_or_refused(gateway):
    """Red team session 15 (test_red_team_session15.py): a ruby or srcdoc marking, an
    old Office file, a 7z or a RAR archive with a password. Each letter is registered in
    the secret book or, a file the unit's policy does not take, held: sealed either way,
    with no subject in plain, nothing in the ordinary book or folder."""
    from tests.classified.test_red_team_session15 import SEALED as SEALED_15, TOP_SECRET

    d = gateway
    code, text = d.data_reply(TOP_SECRET)
    assert code == 550 and text.isascii()
    queued = {name: d.send(raw, LATKRABANG) for name, raw in SEALED_15.items()}
    d.wait_idle()
    for name, qid in queued.items():
        assert db_rows(d, "select count(*) from letters where queue_id = ? and book = 'general'", qid) == [(0,)], name
        assert db_rows(d, "select subject from letters where queue_id = ? union all "
                          "select subject from quarantine where queue_id = ?", qid, qid) == [(None,)], name
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1", name
    assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def test_over_smtp_files_without_a_reader_are_sealed_and_plain_ones_are_not(gateway):
    """A .doc or a tar.gz whose ลับมาก the gateway did not read, and a 7z it cannot read
    (test_unreadable_files.py): on main each was registered in the ordinary book with its
    subject in plain and filed into the unit's folder. Now each is sealed; a letter with
    an unmarked .xls and .gz is still an ordinary one."""
    from tests.classified.test_unreadable_files import ORDINARY_FILES, SEALED as UNREAD

    d = gateway
    queued = {name: d.send(raw, LATKRABANG) for name, (raw, _) in UNREAD.items()}
    plain = d.send(letter(subject="ขอส่งงบประมาณ ปี 2569", files=[("2569_dds_0403_57.pdf", COVER), *ORDINARY_FILES]),
                   LATKRABANG)
    d.wait_idle()
    for name, qid in queued.items():
        # Registered in the secret book, at the level read (ลับ, uncertain, for the 7z).
        assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", qid) == [
            (UNREAD[name][1], "secret", None)], name
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1", name
    # Why the 7z letter is ลับ, in Thai and English, naming the file by its number.
    (findings,), = db_rows(d, "select findings from letters where queue_id = ?", queued["7z without a password"])
    reason, = [f for f in json.loads(findings) if f["rule"] == "classified_unread"]
    assert "(ไฟล์ที่ 2: แฟ้มบีบอัด 7z)" in reason["message_th"] and "ระบบอ่านเนื้อหา" in reason["message_th"]
    assert "(file 2: 7z archive), so it is treated as at least" in reason["message_en"]
    assert maildir(d, "latkrabang") and all(MARKER.encode() not in p.read_bytes() for p in maildir(d, "latkrabang"))
    assert db_rows(d, "select book, subject from letters where queue_id = ?", plain) == [
        ("general", "ขอส่งงบประมาณ ปี 2569")]
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def test_over_smtp_a_held_letter_sealed_for_a_file_not_read_says_which_file(gateway):
    """A 7z the gateway cannot read makes the letter ลับ; a program beside it holds it.
    The quarantine entry named only why it was held ("executable", its details sealed):
    the registrar opening it was not told that file 2 made it ลับ, nor which file to
    open and judge."""
    from tests.classified.test_unreadable_files import sevenz
    from tests.rules.builders import EXE

    d = gateway
    raw = letter(subject=f"ขอส่งแผนการปฏิบัติงาน {MARKER}",
                 files=[("2569_dds_0403_57.pdf", COVER), ("2569_dds_0403_57_1.7z", sevenz(False)),
                        ("setup.exe", EXE)])
    qid = d.send(raw, LATKRABANG)
    d.wait_idle()
    assert db_rows(d, "select count(*) from letters where queue_id = ?", qid) == [(0,)]
    (reasons, subject), = db_rows(d, "select reasons, subject from quarantine where queue_id = ?", qid)
    assert subject is None
    by_rule = {r["rule"]: r for r in json.loads(reasons)}
    assert set(by_rule) == {"executable", "classified_unread"}
    assert "(file 2: 7z archive)" in by_rule["classified_unread"]["message_en"]
    assert "(ไฟล์ที่ 2: แฟ้มบีบอัด 7z)" in by_rule["classified_unread"]["message_th"]  # in Thai since session 36
    assert "setup.exe" not in reasons and MARKER not in reasons
