"""Session 17: Outlook's containers. winmail.dat (TNEF) unpacked into the letter's files;
an attached signed file (`letter.pdf.p7m`, CAdES) verified and its PDF read as a file of
the letter. Pure parts here (no daemon); what the clerk is shown through the real daemon
is in tests/signatures/test_pipeline_signatures.py ("Session 17")."""
from __future__ import annotations

import time

import pytest

from gateway.pipeline.outlook import read_tnef
from gateway.pipeline.parse import parse_mail
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf, outlook_letter, tnef_file
from tests.signatures.test_archives_session16 import zipped
from tests.thai_pdfs import thai_pdf


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(["ลับมาก", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน"])


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def test_a_winmail_dat_is_read_as_the_files_and_body_outlook_shows():
    """On main the letter was sealed as ลับ, uncertain: its files were never read."""
    tnef = tnef_file([("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("สิ่งที่ส่งมาด้วย.txt", "บัญชีรายชื่อ".encode())],
                     body="เรียน ผู้อำนวยการเขตลาดกระบัง")
    found = read_tnef(tnef)
    assert [name for name, _ in found.files] == ["2569_dds_0403_57.pdf", "สิ่งที่ส่งมาด้วย.txt"]
    assert found.texts == ["เรียน ผู้อำนวยการเขตลาดกระบัง"] and found.problem is None
    mail = parse_mail(outlook_letter(tnef))
    assert [(a.filename, a.sniffed_type) for a in mail.attachments] == [
        ("winmail.dat", "application/vnd.ms-tnef"), ("2569_dds_0403_57.pdf", "application/pdf"),
        ("สิ่งที่ส่งมาด้วย.txt", "text/plain")]
    assert mail.attachments[1].pdf_page_texts == ("cover letter page 1",)
    assert mail.unread == () and reading(outlook_letter(tnef)) == ("none", True)
    # Without the long (Unicode) name, the 8.3 title in the sender's code page (874).
    assert [n for n, _ in read_tnef(tnef_file([("ลับ.pdf", b"%PDF-1.4 x")], long_names=False)).files] == ["ลับ.pdf"]


def test_a_marking_inside_a_winmail_dat_is_found(secret_pdf):
    """A ลับ file name, a ลับมาก page, a ลับ body, and a winmail.dat inside a ZIP."""
    assert reading(outlook_letter(tnef_file([("ลับ_2569.pdf", make_pdf("x"))]))) == ("confidential", True)
    assert reading(outlook_letter(tnef_file([("2569.pdf", secret_pdf)]))) == ("secret", True)
    assert reading(outlook_letter(tnef_file([], body="ลับมาก\r\nเรียน ผอ."))) == ("secret", True)
    zipped_tnef = zipped([("winmail.dat", tnef_file([("2569.pdf", secret_pdf)]))])
    assert reading(letter(files=[("ส่งมา.zip", zipped_tnef)])) == ("secret", True)
    # Outlook's rich text (PR_RTF_COMPRESSED in the message's MAPI properties), Thai in
    # code page 874: "ลับมาก" as Word writes it.
    from compressed_rtf import compress

    rtf = compress(b"{\\rtf1\\ansi\\ansicpg874 \\'c5\\'d1\\'ba\\'c1\\'d2\\'a1\\par \\'e0\\'c3\\'d5\\'c2\\'b9}")
    rtf += b"\0" * (-len(rtf) % 4)
    props = (1).to_bytes(4, "little") + b"\x02\x01\x09\x10" + (1).to_bytes(4, "little") \
        + len(rtf).to_bytes(4, "little") + rtf
    assert reading(outlook_letter(tnef_file([]) + _object(1, 0x9003, props))) == ("secret", True)


def test_a_winmail_dat_that_cannot_be_read_whole_keeps_the_letter_uncertain():
    tnef = tnef_file([("2569.pdf", make_pdf("x"))])
    for broken in (tnef[:-40], tnef[:-1], tnef + b"junk", tnef.replace(b"%PDF", b"%PDX")):  # cut, bad checksum
        mail = parse_mail(outlook_letter(broken))
        assert any("Outlook TNEF file (winmail.dat)" in u for u in mail.unread), mail.unread
        assert reading(outlook_letter(broken)) == ("confidential", False)


def _object(level: int, name: int, data: bytes, checksum: bool = True) -> bytes:
    return (bytes([level]) + name.to_bytes(2, "little") + b"\x06\x00" + len(data).to_bytes(4, "little") + data
            + ((sum(data) & 0xFFFF) if checksum else 0).to_bytes(2, "little"))


def test_counts_and_lengths_a_winmail_dat_claims_are_bounded():
    """tnefparse loops as often as a file says (4,000,000,000 properties, values or
    recipients) and copies the rest of the file for each object: each bounded, the
    letter uncertain, within a few seconds on this machine."""
    tnef = tnef_file([("2569.pdf", make_pdf("x"))], long_names=False)
    n = (4_000_000_000).to_bytes(4, "little")
    hostile = {
        "4e9 properties": tnef + _object(2, 0x9005, n + b"\x03\x00\x00\x30" + b"\0" * 8),
        "4e9 values of one property": tnef + _object(2, 0x9005, (1).to_bytes(4, "little") + b"\x02\x10\x00\x30" + n),
        "1e9 recipients": tnef + _object(1, 0x9004, (10 ** 9).to_bytes(4, "little") + b"\0" * 8),
        "a length of 4 GB": tnef + bytes([2]) + (0x800F).to_bytes(2, "little") + b"\x06\x00" + b"\xff" * 4 + b"x" * 20,
        "300,000 objects": tnef[:6] + _object(1, 0x0010, b"a") * 300_000,
    }
    for case, data in hostile.items():
        started = time.monotonic()
        found = read_tnef(data)
        assert found.problem, case
        assert time.monotonic() - started < 3, case
        assert reading(outlook_letter(data)) == ("confidential", False), case


def test_a_hundred_files_at_most_are_read():
    found = read_tnef(tnef_file([(f"{n}.pdf", b"%PDF-1.4 x") for n in range(101)]))
    assert len(found.files) == 100 and found.problem == "files past the first 100"


def test_an_outlook_item_inside_a_winmail_dat_keeps_the_letter_uncertain():
    """Outlook's "attach item" packs a whole message inside (MAPI PR_ATTACH_DATA_OBJ, an
    IMessage): not unpacked here, so not said to be ordinary."""
    from tnefparse.mapi import IMESSAGE_SIG

    item = IMESSAGE_SIG + tnef_file([("2569.pdf", make_pdf("x"))])
    item += b"\0" * (-len(item) % 4)
    props = ((1).to_bytes(4, "little") + b"\x0d\x00\x01\x37" + (1).to_bytes(4, "little")
             + len(item).to_bytes(4, "little") + item)
    tnef = tnef_file([]) + _object(2, 0x9002, b"\xff" * 4 + b"\0" * 10) + _object(2, 0x9005, props)
    assert read_tnef(tnef).problem == "an Outlook item inside it"
    assert reading(outlook_letter(tnef)) == ("confidential", False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    from tests.pki import build_pki

    return build_pki(tmp_path_factory.mktemp("pki"))


def test_a_signed_p7m_file_is_unwrapped_into_its_pdf(pki, secret_pdf):
    """letter.pdf.p7m (CAdES) sent as application/octet-stream: the .p7m is the PDF's
    envelope (its signature, not a file of the letter for the rules) and the PDF inside a
    file of its own, the cover letter; a ลับมาก page inside it is read."""
    from rules.files import letter_files
    from tests.pki import make_p7m

    raw = letter(files=[("2569_dds_0403_57.pdf.p7m", make_p7m(pki, make_pdf("cover letter")))])
    mail = parse_mail(raw)
    assert [(a.filename, a.sniffed_type, a.unpacked, a.signature_envelope) for a in mail.attachments] == [
        ("2569_dds_0403_57.pdf.p7m", "application/octet-stream", True, True),
        ("2569_dds_0403_57.pdf", "application/pdf", False, False)]
    assert mail.attachments[1].pdf_page_texts == ("cover letter page 1",)
    assert [a.filename for a in letter_files(mail)] == ["2569_dds_0403_57.pdf"]
    assert reading(letter(files=[("x.pdf.p7m", make_p7m(pki, secret_pdf))])) == ("secret", True)
    # A .p7m that is no signed data is not read, and said so (as before).
    assert reading(letter(files=[("x.pdf.p7m", b"\x30\x03\x02\x01\x00")])) == ("confidential", False)


def test_a_signed_p7m_file_inside_a_zip_is_read(pki, secret_pdf):
    """On main a .p7m inside a ZIP was read as no text: a ลับมาก PDF signed (CAdES) and
    zipped left the letter ordinary, certain. One that cannot be opened is said so."""
    from tests.pki import make_p7m

    packed = zipped([("2569_dds_0403_57.pdf.p7m", make_p7m(pki, secret_pdf))])
    assert reading(letter(files=[("ส่งมา.zip", packed)])) == ("secret", True)
    broken = zipped([("2569_dds_0403_57.pdf.p7m", b"\x30\x03\x02\x01\x00")])
    assert reading(letter(files=[("ส่งมา.zip", broken)])) == ("confidential", False)
