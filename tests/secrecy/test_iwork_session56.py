"""An Apple Pages, Numbers or Keynote document is said unread (secrecy red team of
session 56).

Since 2013 iWork keeps a document's text in Snappy-packed protocol buffers
(`Index/Document.iwa` inside the file's ZIP), which nothing the gateway holds unpacks.
The ZIP's members were read as holding no text, and the letter was *certain* it was
ordinary: a ลับมาก letter written in Pages was registered in the general book and filed in
plaintext, a ลับที่สุด one taken and filed too. Like a 7z archive or an Outlook item, it is
now at least ลับ, uncertain (sealed for the secret registrar, who opens it), with a
reason the registrar can read in Thai and English."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.pipeline.unread_words import thai_phrase
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf
from tests.thai_pdfs import thai_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งแผนตามไฟล์แนบ\n"


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def pages(folder: str = "") -> bytes:
    """What Pages saves (a package, zipped when mailed): the text Snappy-packed in .iwa
    chunks (a chunk header, then packed bytes), metadata, a preview picture."""
    return _zip([(f"{folder}Index/Document.iwa", b"\x00\x1c\x00\x00\x6c\xf0\x6b\x08\x01\x12\x66\x0a\x03" + b"\x9a" * 24),
                 (f"{folder}Index/Metadata.iwa", b"\x00\x06\x00\x00\x10\x3c\x08\x01\x10\x01"),
                 (f"{folder}Metadata/DocumentIdentifier", b"6F1A2C3E-0000-4000-8000-000000000000"),
                 (f"{folder}Metadata/Properties.plist", b"bplist00\xd1\x01\x02")])


def _reading(name: str, data: bytes) -> tuple[str, str, bool]:
    found = classify_raw(letter(subject="ขอส่งแผน", body=BODY, files=[COVER, (name, data)]))
    return found.level, found.where, found.certain


@pytest.mark.parametrize(("name", "data"), [
    ("plan.pages", pages()), ("sheet.numbers", pages()), ("slides.key", pages()),
    ("2569_dds_0403_57_1.zip", _zip([("plan.pages/Index/Document.iwa", b"\x00\x01\x00\x00\x00")])),  # a bundle zipped
    ("plan.zip", _zip([("nested.zip", pages())])),
], ids=["pages", "numbers", "keynote", "bundle in a zip", "in a nested zip"])
def test_an_iwork_document_is_said_unread(name, data):
    level, where, certain = _reading(name, data)
    assert (level, certain) == ("confidential", False)
    assert file_texts.IWORK_NOT_READ in where


def test_the_reason_is_in_thai_too():
    assert thai_phrase(f"file 2: {file_texts.IWORK_NOT_READ}") == \
        "ไฟล์ที่ 2: เอกสาร Apple Pages, Numbers หรือ Keynote ซึ่งระบบอ่านข้อความในไฟล์ไม่ได้"


def test_what_else_the_package_holds_is_still_read():
    # A PDF pasted into the document (Data/), which Pages keeps as it came.
    data = _zip([("Index/Document.iwa", b"\x00\x01\x00\x00\x00"),
                 ("Data/annex-12.pdf", thai_pdf(["ลับที่สุด", "เรื่อง แผนรักษาความปลอดภัย"]))])
    assert _reading("plan.pages", data)[::2] == ("top_secret", True)


def test_an_archive_without_one_reads_as_before():
    data = _zip([("2569_dds_0403_57_1.pdf", make_pdf("annex")), ("notes.txt", "กลับบ้าน".encode())])
    assert _reading("2569_dds_0403_57_1.zip", data) == ("none", "", True)


def test_over_smtp_a_pages_letter_is_sealed_not_filed(tmp_path):
    from tests.classified.helpers import MARKER, assert_sealed_nowhere_plain, sealing_daemon

    with sealing_daemon(tmp_path / "gw") as d:
        raw = letter(subject=f"ขอส่งแผน {MARKER}", body=f"{BODY}{MARKER}\n", files=[COVER, ("plan.pages", pages())])
        qid = d.send(raw, LAT)
        d.wait_idle()
        # Sealed, its subject in no book, no copy in the unit's folder, the marker nowhere.
        assert_sealed_nowhere_plain(d, {"pages": qid})
