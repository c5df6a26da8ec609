"""A header block whose first line has no colon (red team of 7 Dec 2026, SMTP intake).

Python's parser ends a header block at its first line that is no header field; when
that is the block's first line, the message (or the MIME part) has no headers at all to
it, and everything is read as plain text. Dovecot reads on past such a line (a field
with no value) and shows the fields after it: checked with Dovecot 2.3's
BODYSTRUCTURE and ENVELOPE, a part opened by `garbage` and then
`Content-Type: application/pdf` is a PDF attachment in the clerk's folder, and a
message opened by such a line has its Subject and its files. Such a ลับมาก PDF, or a
Subject ลับมาก, was read as ordinary text: registered in plaintext, filed to the unit's
folder, where the clerk's client showed the marked PDF. The header block after such a
line is not read, so the letter is at least ลับ, uncertain (as for a line with no colon
after some headers, tests/secrecy/test_mime_hidden_markings.py)."""
from __future__ import annotations

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import db_rows, maildir, sealing_daemon
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def _reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def _with_bad_first_line(raw: bytes, before: bytes, line: bytes = b"garbage\r\n") -> bytes:
    at = raw.rfind(before)
    return raw[:at] + line + raw[at:]


def _pdf_part_opened_by(line: bytes = b"garbage\r\n") -> bytes:
    marked = thai_pdf(top="ลับมาก")
    raw = letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("2569_dds_0403_58.pdf", marked)])
    return _with_bad_first_line(raw, b"Content-Type: application/pdf", line)


def test_a_part_opened_by_a_line_with_no_colon_is_not_read_as_text_alone():
    assert _reading(_pdf_part_opened_by()) == ("confidential", False)
    # Any line Dovecot takes for a field and Python does not: an 8-bit name, ">From".
    assert _reading(_pdf_part_opened_by(b"X-N\xe0me: 1\r\n")) == ("confidential", False)
    assert _reading(_pdf_part_opened_by(b">From dds\r\n")) == ("confidential", False)


def test_a_message_opened_by_a_line_with_no_colon_is_at_least_confidential():
    raw = b"garbage\r\n" + letter(subject="ลับมาก แผนรักษาความปลอดภัย")
    assert _reading(raw) == ("confidential", False)
    bare_lf = b"garbage\n" + letter(subject="ลับมาก แผนรักษาความปลอดภัย").replace(b"\r\n", b"\n")
    assert _reading(bare_lf) == ("confidential", False)


def test_a_part_without_headers_is_still_plain_text():
    """What every reader takes for text stays ordinary: a part opened by its empty line
    (no headers), or by a text line with no header field after it before its empty line."""
    no_headers = letter(subject="แจ้งการประชุม").replace(
        b"Content-Type: text/plain", b"\r\nContent-Type: text/plain", 1)
    assert _reading(no_headers) == ("none", True)
    text_first = _with_bad_first_line(letter(subject="แจ้งการประชุม"), b"Content-Type: application/pdf",
                                      "เรียน ผู้อำนวยการ\r\n\r\n".encode())
    assert _reading(text_first) == ("none", True)


def test_over_smtp_such_a_letter_is_sealed_not_filed_in_plaintext(tmp_path):
    with sealing_daemon(tmp_path / "gw") as d:
        qid = d.send(_pdf_part_opened_by(), LAT)
        d.wait_idle(timeout=120)
        assert db_rows(d, "select secrecy, book from letters where queue_id = ?", qid) == [("confidential", "secret")]
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        assert maildir(d, "latkrabang") == []  # nothing in the unit's ordinary folder
