"""Session 20: two files whose ลับมาก marking a person reads and the gateway did not.

* A text file saved as UTF-16 without its byte order mark (Notepad shows it as Thai by its
  bytes; the gateway read it as UTF-8, "%\\x0e1\\x0e...", no marking).
* A forwarded letter (.eml) in a PDF's attachments pane whose marking is in its Subject:
  header alone (the PDF's embedded files were read as text files: a message's header
  block was not read, and a base64 body not decoded).

Each left the letter ordinary and certain, filed in plain text. The pure cases read letters
as the DATA check does (classify_raw); one sealing daemon proves them over SMTP, through
the pipeline's PDF-reading child (which had not loaded the message reader)."""
from __future__ import annotations

import io

import pypdf
import pytest

from tests.classified.helpers import LATKRABANG, MARKER, assert_sealed_nowhere_plain, sealing_daemon
from tests.letters import letter
from tests.test_disguise_session19 import ORDINARY, SECRET, mail, part, reading
from tests.thai_pdfs import thai_pdf


def wide(lines: list[str], codec: str = "utf-16-le") -> bytes:
    return "\r\n".join(lines).encode(codec)


def cover_with(name: str, data: bytes) -> bytes:
    """An unmarked cover PDF carrying `data` in its attachments pane."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(thai_pdf(ORDINARY))))
    writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", ["memo.txt", "memo.csv", None])
def test_a_utf16_text_without_bom_is_read(codec, name):
    data = wide(SECRET, codec)
    attached = part(data, "text/plain", filename=name) if name else part(data, "application/octet-stream")
    assert reading(mail(attached)) == ("secret", True)


def test_a_utf16_text_without_bom_inside_an_archive_is_read():
    """The same file one level down, named or not (a variation the first attack did not try)."""
    import zipfile

    for name, codec in (("memo.txt", "utf-16-be"), ("memo", "utf-16-le")):
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as zf:
            zf.writestr(name, wide(SECRET, codec))
        assert reading(mail(part(packed.getvalue(), "application/zip", filename="a.zip"))) == ("secret", True), name


def test_ordinary_utf16_and_other_files_stay_ordinary():
    from gateway.pipeline.charsets import utf16_without_bom

    assert reading(mail(part(wide(ORDINARY), "text/plain", filename="memo.txt"))) == ("none", True)
    # ASCII, Thai in Windows-874 and binary bytes are not taken for UTF-16
    assert utf16_without_bom("plain ASCII text of a memo\r\n".encode()) is None
    assert utf16_without_bom("เรื่อง ขอเชิญประชุม".encode("cp874")) is None
    assert utf16_without_bom(bytes(range(256)) * 4) is None
    assert utf16_without_bom(wide(SECRET)) == "\r\n".join(SECRET)


def test_a_forwarded_letter_in_a_pdfs_attachments_pane_is_read_with_its_headers():
    forwarded = letter(subject="ลับมาก ขอส่งแผน", body="เรียน ผู้อำนวยการเขต\n", files=[])
    for name in ("fwd.eml", "x"):
        assert reading(mail(part(cover_with(name, forwarded), "application/pdf", filename="cover.pdf"))) \
            == ("secret", True), name
    # another header of the block: Keywords, encoded (ลับมาก)
    keywords = letter(subject="ขอส่งแผน", body="เรียน ผู้อำนวยการเขต\n", files=[]).replace(
        b"Subject:", b"Keywords: =?utf-8?b?4Lil4Lix4Lia4Lih4Liy4LiB?=\r\nSubject:", 1)
    assert reading(mail(part(cover_with("fwd.eml", keywords), "application/pdf", filename="cover.pdf"))) \
        == ("secret", True)
    # the same text file, as UTF-16 without a byte order mark, in the pane
    assert reading(mail(part(cover_with("note.txt", wide(SECRET)), "application/pdf", filename="cover.pdf"))) \
        == ("secret", True)
    ordinary = letter(subject="ขอเชิญประชุม", body="เรียน ผู้อำนวยการเขต\n", files=[])
    assert reading(mail(part(cover_with("fwd.eml", ordinary), "application/pdf", filename="cover.pdf"))) \
        == ("none", True)


def test_over_smtp_both_are_sealed(tmp_path):
    forwarded = letter(subject=f"ลับมาก ขอส่งแผน {MARKER}", body="เรียน ผู้อำนวยการเขต\n", files=[])
    files = {
        "utf-16 memo": part(wide([*SECRET, MARKER]), "text/plain", filename="memo.txt"),
        "eml in a pdf": part(cover_with("fwd.eml", forwarded), "application/pdf", filename="cover.pdf"),
    }
    with sealing_daemon(tmp_path / "gw") as gateway:
        queued = {name: gateway.send(mail(p, subject="ขอส่งเอกสาร"), LATKRABANG) for name, p in files.items()}
        gateway.wait_idle(timeout=120)
        assert_sealed_nowhere_plain(gateway, queued)
