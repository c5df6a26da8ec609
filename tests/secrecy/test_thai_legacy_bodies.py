"""A mail body in Thai's legacy encoding is read as the reader's client shows it (leak
red team, 30 Nov 2026).

mail-parser decodes a body with its label and, when that fails, with UTF-8 and U+FFFD
for every byte that is not UTF-8. A body in windows-874 (what Thai Windows and old
Thai mail clients write) sent with no charset, or labelled us-ascii, failed that way:
its Thai, a ลับมาก at the top included, read as a row of U+FFFD, and the letter was
ordinary and certain, registered in plain text. A Thai reader's client shows it:
Thunderbird falls back on (and its detector picks) windows-874, Outlook uses the
Windows code page; an HTML body declares it in its <meta> tag, which browsers follow.

A UTF-8 body with one stray byte keeps its UTF-8 reading (its marking is still read), and
a body labelled tis-620 is read as before (CPython's codec reads Thai, its quotes as C1
controls)."""
from __future__ import annotations

import base64

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.letters import make_pdf
from tests.secrecy.test_mime_hidden_markings import HEAD, file_part, mixed, subject

# What Word on Thai Windows types: “quoted” words, a dash and an ellipsis (0x80-0x9F).
TYPED = "ลับมาก\r\nเรียน ผู้อำนวยการเขตลาดกระบัง\r\nขอส่ง “แผนรักษาความปลอดภัย” – ตามแนบ …\r\n"


def single(content_type: str, body: bytes, cte: str = "8bit") -> bytes:
    return (HEAD + subject("ขอส่งแผนการปฏิบัติงาน") + f"Content-Type: {content_type}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode() + body)


CASES = {
    "tis-620 label, Windows quotes": ("text/plain; charset=TIS-620", TYPED.encode("cp874"), "8bit"),
    "no charset, quoted-printable": (
        "text/plain",
        "".join(f"={b:02X}" if b > 127 else chr(b) for b in TYPED.encode("cp874")).encode(), "quoted-printable"),
    "no charset": ("text/plain", TYPED.encode("cp874"), "8bit"),
    "us-ascii label": ("text/plain; charset=us-ascii", TYPED.encode("cp874"), "8bit"),
    "html, no charset, base64": ("text/html", base64.encodebytes(
        ("<html><body><p>" + TYPED.replace("\r\n", "</p><p>") + "</p></body></html>").encode("cp874")), "base64"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_legacy_thai_body_is_read_and_its_marking_counts(case):
    ctype, body, cte = CASES[case]
    raw = single(ctype, body, cte)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True), case
    mail = parse_mail(raw)
    shown = mail.body_text or mail.body_html
    assert "ผู้อำนวยการเขตลาดกระบัง" in shown and "\ufffd" not in shown


def test_a_utf8_body_with_a_stray_byte_keeps_its_utf8_reading():
    body = TYPED.encode("utf-8") + b"\xff tail\r\n"
    for ctype in ("text/plain; charset=utf-8", "text/plain"):
        raw = single(ctype, body)
        assert classify_raw(raw).level == "secret"
        assert "ผู้อำนวยการเขตลาดกระบัง" in parse_mail(raw).body_text


def test_over_smtp_a_windows_874_letter_marked_secret_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, db_rows, files_containing, maildir, sealing_daemon

    with sealing_daemon(tmp_path / "gw") as d:
        legacy = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                  + (TYPED + MARKER + "\r\n").encode("cp874"))
        raw = mixed(legacy, file_part("application/pdf", "2569_dds_0403_57.pdf", make_pdf("cover letter")))
        qid = d.send(raw, "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        assert db_rows(d, "select secrecy, book from letters where queue_id = ?", qid) == [("secret", "secret")]
        assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
