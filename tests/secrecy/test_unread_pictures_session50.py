"""A picture the secrecy reading cannot decode is said not read (session 50's red team).

A paper letter scanned to a JPEG or PNG per page is read for its stamp by OCR
(gateway/pipeline/scanned_pages.py `picture_marking_lines`). A picture PIL opened but
could not decode, a JPEG or PNG cut short, was read as no marking, "no viewer shows it
either": but a browser, Thunderbird and an image viewer draw such a picture down to
where it ends, the head of the page and its ลับมาก stamp with it. The letter was
ordinary and certain, filed in plain text. It is now at least ลับ, uncertain, the
picture said not read."""
from __future__ import annotations

import io
import shutil

import pytest

from gateway.pipeline import scanned_pages
from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.pipeline.unread_words import thai_phrase
from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.secrecy.test_scanned_markings import LINES, _picture
from tests.thai_pdfs import scanned_pdf


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    return {f"{stamp or 'none'}.{kind}": _picture(scanned_pdf(LINES, stamp), kind)
            for stamp in ("ลับมาก", "") for kind in ("JPEG", "PNG")}


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_a_scan_cut_short_keeps_the_letter_uncertain(pictures, kind):
    from PIL import Image, ImageFile

    whole = pictures[f"ลับมาก.{kind}"]
    assert reading(letter(files=[(f"scan.{kind.lower()}", whole)])) == ("secret", True)
    cut = whole[:len(whole) * 6 // 10]
    # What a viewer shows of it: the page down to where the file ends, the stamp at its head.
    shown = Image.open(io.BytesIO(cut))
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        shown.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert shown.size == Image.open(io.BytesIO(whole)).size
    if shutil.which("tesseract"):
        head = scanned_pages._bands_read(shutil.which("tesseract"), shown.convert("L"), (True, False))
        assert "ลับมาก" in head, head
    raw = letter(files=[(f"scan.{kind.lower()}", cut)])
    assert reading(raw) == ("confidential", False)
    mail = parse_mail(raw, "", inspect_pdf)
    assert mail.unread == ("file 1: a scanned picture that could not be drawn (damaged)",), mail.unread
    assert thai_phrase(mail.unread[0]) == "ไฟล์ที่ 1: ภาพสแกนที่แสดงผลไม่ได้ (ไฟล์เสียหาย)"


def test_whole_pictures_and_what_is_no_picture_are_read_as_before(pictures):
    for kind in ("JPEG", "PNG"):
        assert reading(letter(files=[(f"scan.{kind.lower()}", pictures[f"none.{kind}"])])) == ("none", True)
    # Not a picture for PIL at all (a header and nothing after it): no viewer shows it.
    assert reading(letter(files=[("scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)])) == ("none", True)


def _text_letter(body: bytes, name: str = "บันทึก.txt") -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = "saraban.latkrabang@bangkok.go.th"
    msg["Subject"] = "ขอส่งบันทึก"
    msg.set_content("ดูไฟล์แนบ")
    msg.add_attachment(body, maintype="text", subtype="plain", filename=name, params={"charset": "tis-620"})
    return msg.as_bytes()


NOTE = "BMA ศูนย์ปฏิบัติการ\nลับมาก\nรายชื่อผู้ให้ข้อมูล\nลับมาก\n"


def test_a_thai_text_file_that_starts_like_a_bitmap_is_read_as_text():
    """Notepad's "ANSI" (TIS-620) text whose first line begins "BMA": "BM" starts a
    bitmap, and the file went down the pictures' way (PIL cannot open it: no marking)
    and its text was never read: the letter ordinary and certain. A text editor shows
    ลับมาก. Read as the text it is, the letter is ลับมาก."""
    from tests.test_containers_session18 import deflated

    body = NOTE.encode("tis-620")
    assert reading(_text_letter(NOTE[4:].encode("tis-620"))) == ("secret", True)  # without "BMA "
    assert reading(_text_letter(body)) == ("secret", True)
    assert reading(letter(files=[("notes.zip", deflated([("BMA.txt", body)]))])) == ("secret", True)


def test_a_bitmap_is_still_a_picture():
    from PIL import Image

    bmp = io.BytesIO()
    Image.new("L", (40, 56), 255).save(bmp, "BMP")
    assert scanned_pages.is_picture(bmp.getvalue())
    assert not scanned_pages.is_picture(NOTE.encode("tis-620"))
