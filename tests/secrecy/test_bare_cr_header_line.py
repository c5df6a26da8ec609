"""A header line that begins with a bare CR (red team of 7 Dec 2026).

Python's parser ends a line at a bare CR as at LF, so a line of `\\r` followed by more
text, or a second CR at a line's end (`X-A: 1\\r\\r\\n`), ends a header block for it:
the Subject, the Content-Type after it were body text. Dovecot ends lines at LF only:
the CR is part of a field's name or value, and the fields after it are headers (checked with Dovecot 2.3: SEARCH SUBJECT found the ลับมาก of the
Subject after `\\r\\n\\rX-A: 1`, and its BODYSTRUCTURE showed the PDF). Such a letter,
and a PDF part behind such a line, was read as ordinary and filed in plaintext. What
comes after such a line is not read as the clerk's client shows it, so the letter is at
least ลับ, uncertain."""
from __future__ import annotations

import base64

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import db_rows, maildir, sealing_daemon
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def _marked_subject_after(line: bytes) -> bytes:
    raw = letter(subject="ลับมาก แผนรักษาความปลอดภัย")
    at = raw.find(b"Subject:")
    return raw[:at] + line + raw[at:]


def test_a_subject_after_a_line_of_a_bare_cr_is_not_lost():
    assert _reading(_marked_subject_after(b"\rX-Mailer: 1\r\n")) == ("confidential", False)
    assert _reading(b"\r" + letter(subject="ลับมาก แผนรักษาความปลอดภัย")) == ("confidential", False)
    assert _reading(_marked_subject_after(b"\r")) == ("confidential", False)  # the PDF's Content-Type after it
    # A second CR at a line's end: "X-A: 1\r", then "\r\n", an empty line to Python alone.
    assert _reading(_marked_subject_after(b"X-A: 1\r\r\n")) == ("confidential", False)
    assert _reading(b"X-A: 1\r\r\n" + letter(subject="ลับมาก แผนรักษาความปลอดภัย")) == ("confidential", False)


def test_a_pdf_part_behind_such_a_line_is_not_lost():
    pdf = base64.encodebytes(thai_pdf(top="ลับมาก")).replace(b"\n", b"\r\n")
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: plan\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
           b"--BB\r\nX-Attachment-Id: 1\r\n\rX-B: 2\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"\r\n--BB--\r\n")
    assert _reading(raw) == ("confidential", False)


def test_a_bare_cr_elsewhere_changes_nothing():
    """In a body, or where no header field follows it before the empty line."""
    body = (b"From: saraban.dds@bangkok.go.th\r\nSubject: meeting\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\nDear director,\r\n\rNote: the agenda\r\nDate: tomorrow\r\n")
    assert _reading(body) == ("none", True)
    assert _reading(b"\r\n" + letter(subject="แจ้งการประชุม")) == ("none", True)


def test_over_smtp_such_a_letter_is_sealed_not_filed_in_plaintext(tmp_path):
    with sealing_daemon(tmp_path / "gw") as d:
        qid = d.send(_marked_subject_after(b"\rX-Mailer: 1\r\n"), LAT)
        d.wait_idle(timeout=120)
        assert db_rows(d, "select secrecy, book from letters where queue_id = ?", qid) == [("confidential", "secret")]
        assert maildir(d, "latkrabang") == []


def test_the_quick_look_for_a_bare_cr_line_misses_none_the_expression_finds():
    """`_has_bare_cr_line` (bytes.find) stands before `_BARE_CR_LINE` (an expression that
    looks at every byte of the letter): wherever the expression or a leading bare CR would
    start the search, the quick look says so."""
    import random

    from gateway.pipeline.parse import _BARE_CR_LINE, _has_bare_cr_line

    rng = random.Random(52)
    for _ in range(20_000):
        raw = bytes(rng.choice(b"\r\n\r\na: ") for _ in range(rng.randint(0, 24)))
        could_start = bool(_BARE_CR_LINE.search(raw)) or (raw[:1] == b"\r" and raw[1:2] != b"\n")
        assert _has_bare_cr_line(raw) or not could_start, raw
