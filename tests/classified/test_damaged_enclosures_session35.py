"""A damaged enclosure is one unread file, not an unreadable letter (red team of session 35).

A ZIP whose member's deflate (or LZMA) data is damaged raised `zlib.error` (or
`LZMAError`) through the ZIP reader, which caught only zipfile's own errors: the
whole letter failed to parse, was held as `mime_parse` ("the message could not be
parsed; please resend it from a standard mail client") and its sender was refused, for
one bad file beside a good cover letter. And the clerk's finding for a damaged gzip or
tar quoted Python's exception class ("(error)", "(ReadError)"). Now the file is what
could not be read, in plain words, and the letter goes on at least ลับ, uncertain (it
may hold a marking no one could read)."""
from __future__ import annotations

import io
import json
import os
import re
import tarfile
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.pipeline.parse import inspect_pdf, parse_mail
from gateway.pipeline.unread_words import why_unread
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, db_rows, sealing_daemon
from tests.classified.test_red_team_session15 import file_letter

# Python's words a clerk must never read in a finding.
CLASS_NAMES = re.compile(r"\b(?:error|\w+Error|\w+Exception|BadZipFile|BadGzipFile|KeyError|Traceback)\b")


def damaged_zip(method: int, members: int = 1) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for n in range(members):
            z.writestr(f"enclosure{n}.txt", "ตารางประชุมคณะทำงาน " * 400)
    data = bytearray(out.getvalue())
    data[60:80] = b"\xff" * 20  # inside the first member's compressed data
    return bytes(data)


def truncated_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("a.txt")
        info.size = 5000
        archive.addfile(info, io.BytesIO(b"x" * 5000))
    return out.getvalue()[:1200]


CASES = {
    "zip, deflate": ("2569_dds_0403_57_1.zip", damaged_zip(zipfile.ZIP_DEFLATED)),
    "zip, lzma": ("2569_dds_0403_57_1.zip", damaged_zip(zipfile.ZIP_LZMA)),
    "zip, bzip2": ("2569_dds_0403_57_1.zip", damaged_zip(zipfile.ZIP_BZIP2)),
    "gzip": ("2569_dds_0403_57_1.txt.gz", b"\x1f\x8b\x08\x00" + os.urandom(200)),
    "tar cut short": ("2569_dds_0403_57_1.tar", truncated_tar()),
}


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_enclosure_is_one_unread_file_in_plain_words(case):
    name, data = CASES[case]
    raw = file_letter(name, data)
    mail = parse_mail(raw, "", inspect_pdf)  # parsed whole: it raised for the ZIPs
    assert mail.unread and all(u.startswith("file 2") for u in mail.unread), mail.unread
    assert not any(CLASS_NAMES.search(u) for u in mail.unread), mail.unread
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("confidential", False)


def test_the_good_members_of_a_damaged_zip_are_still_read():
    """Only the damaged member is unread: a ลับมาก in the next one still counts."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "ตารางประชุมคณะทำงาน " * 400)
        z.writestr("b.txt", "ลับมาก\nบันทึกข้อความ\n")
    data = bytearray(out.getvalue())
    data[60:80] = b"\xff" * 20
    found = classify_raw(file_letter("2569_dds_0403_57_1.zip", bytes(data)))
    assert found.level == "secret", found


def test_a_reader_that_raises_anything_leaves_the_letter_read(monkeypatch):
    """Whatever a file's reader raises (here a RecursionError from a hostile nesting no
    limit caught) is that file unread, never the whole letter."""
    def boom(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(file_texts, "read_texts", boom)
    mail = parse_mail(file_letter("2569_dds_0403_57_1.zip", damaged_zip(zipfile.ZIP_DEFLATED)), "", inspect_pdf)
    assert mail.unread == ("file 2: could not be read (too large or nested too deeply to read)",)


def test_the_words_for_each_kind_of_failure():
    import lzma
    import zlib

    assert why_unread(zlib.error("Error -3 while decompressing data")) == "damaged"
    assert why_unread(lzma.LZMAError("Corrupt input data")) == "damaged"
    assert why_unread(zipfile.BadZipFile("Bad CRC-32")) == "damaged"
    assert why_unread(MemoryError()) == "too large or nested too deeply to read"
    assert why_unread(NotImplementedError("That compression method is not supported")) == \
        "packed in a way the gateway cannot unpack"
    assert why_unread(KeyError("x")) == "a part it names is missing"


def test_over_smtp_the_letter_is_registered_sealed_with_plain_words(tmp_path):
    """Through the daemon: registered (not held as unparseable, its sender not refused),
    in the secret book, the finding in plain words."""
    with sealing_daemon(tmp_path / "gw") as d:
        qid = d.send(file_letter(*CASES["zip, deflate"]), LATKRABANG)
        d.wait_idle(timeout=120)
        assert db_rows(d, "select count(*) from quarantine") == [(0,)]
        (book, findings), = db_rows(d, f"select book, findings from letters where queue_id = '{qid}'")
        assert book == "secret"
        unread = [f for f in json.loads(findings) if f["rule"] == "classified_unread"]
        assert unread and "file 2: member could not be unpacked (damaged)" in unread[0]["message_en"], unread
        assert not CLASS_NAMES.search(unread[0]["message_en"] + unread[0]["message_th"])


def test_a_pdf_its_reader_raises_on_is_that_file_unread_and_the_rest_is_read():
    """What the PDF reader raised (in its child, raised again in the runner) failed the
    whole letter's parse: held as unparseable, its other parts unread. Now that PDF is
    not read (at least ลับ, its sender told it cannot be opened) and the rest is read: a
    ลับมาก in the body still counts."""
    from gateway.pipeline.pdf_inspect import PdfInfo
    from rules.markings import read_classification

    def raising(data: bytes) -> PdfInfo:
        raise ZeroDivisionError("division by zero")

    raw = file_letter("2569_dds_0403_57_1.txt", "ลับมาก\nบันทึกข้อความ\n".encode())
    mail = parse_mail(raw, "", raising)
    [cover] = [a for a in mail.attachments if (a.filename or "").endswith(".pdf")]
    assert cover.pdf_error == "the PDF reader failed: damaged"
    found = read_classification(mail)
    assert found.level == "secret", found
    plain = parse_mail(file_letter("2569_dds_0403_57_1.txt", "ตารางประชุม\n".encode()), "", raising)
    assert (read_classification(plain).level, read_classification(plain).certain) == ("confidential", False)
