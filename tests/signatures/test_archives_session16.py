"""Session 16: the PDFs inside archives found for the signature step, and the names of
their members as a person's unzip tool shows them; pure functions, no daemon. What the
clerk is told through the real daemon is in test_pipeline_signatures.py (its
module-scoped daemon: "Session 16"), which takes its archives from here. (The session's
functions are imported in the tests: this module's helpers load on main's code too.)"""
from __future__ import annotations

import io
import tarfile
import zipfile

from gateway.pipeline.file_texts import read_texts
from gateway.signatures.verdict import PdfVerdict, SignatureVerdict
from rules.model import Attachment, ParsedMail
from tests.letters import make_pdf


def zipped(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return packed.getvalue()


def tarred(members: list[tuple[str, bytes]], mode: str = "w") -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode=mode) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return packed.getvalue()


def windows_zip(name: str, data: bytes, encoding: str = "cp874") -> bytes:
    """A ZIP as Windows' "compressed folder" writes it on a Thai Windows: the member's
    name in the OEM code page, without the UTF-8 flag (the stdlib writer would set it
    for a name that is not ASCII, so an ASCII stand-in of the same length is replaced)."""
    raw = name.encode(encoding)
    stand_in = "x" * len(raw)
    packed = zipped([(stand_in, data)])
    assert packed.count(stand_in.encode()) == 2  # the local and the central header
    return packed.replace(stand_in.encode(), raw)


SIGNED_LOOKING = make_pdf("x").replace(b"/Type /Catalog", b"/Type /Catalog /ByteRange [0 1 2 3]")


def test_a_member_name_without_the_utf8_flag_is_read_as_thai():
    from gateway.pipeline.file_texts import member_name

    for encoding in ("cp874", "utf-8"):  # Windows' own zip; 7-Zip and macOS (no flag either)
        [info] = zipfile.ZipFile(io.BytesIO(windows_zip("ลับมาก_2569.pdf", b"x", encoding))).infolist()
        assert not info.flag_bits & 0x800 and info.filename != "ลับมาก_2569.pdf"  # the stdlib's CP437
        assert member_name(info) == "ลับมาก_2569.pdf"
    # What the markings read of the archive holds the Thai name (on main: "┼╤║┴╥í 2569 pdf").
    texts = read_texts(windows_zip("ลับมาก_2569.pdf", b"x"), None, "application/zip", "x.zip", "application/zip").texts
    assert "ลับมาก 2569 pdf" in texts


def test_a_member_name_keeps_no_line_break_or_direction_mark():
    from gateway.pipeline.file_texts import member_name

    [info] = zipfile.ZipFile(io.BytesIO(zipped([("a\r\nX-Evil: 1\u202e.pdf", b"x")]))).infolist()
    assert member_name(info) == "a??X-Evil: 1?.pdf"


def test_pdfs_are_found_in_tar_tar_gz_and_a_zip_in_a_zip_with_where_they_sit():
    from gateway.pipeline.file_texts import archived_pdfs

    pdf = make_pdf("x")
    assert archived_pdfs(tarred([("docs/a.pdf", pdf)]), "a.tar", "application/x-tar").pdfs == [("docs/a.pdf", pdf)]
    assert archived_pdfs(tarred([("b.pdf", pdf)], "w:gz"), "b.tar.gz", "application/gzip").pdfs == [("b.pdf", pdf)]
    nested = zipped([("inner.zip", zipped([("c.pdf", pdf)])), ("d.pdf", pdf)])
    assert archived_pdfs(nested, "c.zip", "application/zip").pdfs == [("inner.zip/c.pdf", pdf), ("d.pdf", pdf)]
    # A Word file is a ZIP too: not looked into for PDFs.
    assert archived_pdfs(zipped([("e.pdf", pdf)]), "x.docx",
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document").pdfs == []


def test_the_pdfs_of_an_eml_file_are_found_in_its_archives_and_the_messages_it_carries():
    from gateway.pipeline.file_texts import Budget
    from gateway.pipeline.parse import message_pdfs
    from tests.letters import letter

    pdf = make_pdf("x")
    inner = letter(files=[("a.pdf", pdf), ("x.zip", zipped([("b.pdf", pdf)]))])
    outer = letter(files=[("c.pdf", pdf), ("fwd.eml", inner)])
    assert message_pdfs(outer, Budget()) == [("c.pdf", pdf), ("fwd.eml/a.pdf", pdf), ("fwd.eml/x.zip/b.pdf", pdf)]
    assert message_pdfs(b"not a message at all", Budget()) == []


class _Pool:
    """Every PDF fails its signature check: what the checker makes of many of them."""

    def __init__(self):
        self.calls = 0

    def verify_blocking(self, data, trust, timeout):
        self.calls += 1
        failed = SignatureVerdict(kind="signature", indication="TOTAL_FAILED", sub_indication="HASH_FAILURE",
                                  signer=None, organisation=None, signed_at=None, signed_at_source=None,
                                  covers_whole_file=True, modifications="none")
        return PdfVerdict(signatures=(failed,))


def test_many_failed_pdfs_in_one_archive_are_summed_up_and_one_file_is_verified_once():
    from gateway.signatures.check import MAX_MEMBER_FINDINGS, SignatureChecker

    members = [(f"{n:02}.pdf", SIGNED_LOOKING + b"%" + bytes([65 + n])) for n in range(MAX_MEMBER_FINDINGS + 5)]
    members.append(("again.pdf", members[0][1]))
    data = zipped(members)
    mail = ParsedMail(subject="", from_address="", reply_to=None, envelope_sender="", message_id=None, date=None,
                      headers=(), body_text="", body_html="", attachments=(
                          Attachment(0, "many.zip", "application/zip", "attachment", data, "application/zip", "sha"),))
    pool = _Pool()
    report = SignatureChecker(trust=None, pool=pool, timeout=5).check(b"", mail)
    assert pool.calls == MAX_MEMBER_FINDINGS + 5  # "again.pdf" is 00.pdf: its verdict kept
    assert len(report.by_attachment[0]) == MAX_MEMBER_FINDINGS + 6
    assert len(report.findings) == MAX_MEMBER_FINDINGS + 1
    # counted, the archive named (by its place in a notice), no member's name (the register has them)
    assert report.findings[-1].message_en == (
        "the electronic signatures of 6 more PDF file(s) inside many.zip failed or could not be confirmed: "
        "see the register for their names")
    assert report.findings[-1].parts_en[0].endswith("inside ") and report.findings[-1].attachment == "many.zip"


def test_past_the_pdfs_verified_for_a_letter_the_rest_are_said_not_checked(monkeypatch):
    """500 attached ZIPs of 100 tiny signed PDFs each are within the archive limits: past
    MAX_ARCHIVED the rest are one "not checked" finding, and their archive's row reads
    as not checked, never as unsigned."""
    from gateway.signatures import check

    monkeypatch.setattr(check, "MAX_ARCHIVED", 3)
    data = zipped([(f"{n}.pdf", SIGNED_LOOKING + b"%" + bytes([65 + n])) for n in range(5)])
    mail = ParsedMail(subject="", from_address="", reply_to=None, envelope_sender="", message_id=None, date=None,
                      headers=(), body_text="", body_html="", attachments=(
                          Attachment(0, "a.zip", "application/zip", "attachment", data, "application/zip", "sha"),))
    pool = _Pool()
    report = check.SignatureChecker(trust=None, pool=pool, timeout=5).check(b"", mail)
    assert pool.calls == 3
    assert report.by_attachment[0][-1]["member"] == "2 PDF file(s)"
    assert report.by_attachment[0][-1]["indication"] == "INDETERMINATE"
    assert (report.findings[-1].verdict, report.findings[-1].message_en) == (
        "warn", "signatures not checked of 2 more PDF file(s) inside archives: open and verify them")
