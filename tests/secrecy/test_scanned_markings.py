"""A secrecy stamp on a scanned page, read by OCR (gateway/pipeline/scanned_pages.py).

Paper letters reach e-mail as scans: each page one picture, no text layer. Until
session 19 the ลับ / ลับมาก stamp on such a page was pixels the gateway did not read:
the letter was registered as ordinary and filed in plain text (a documented limit).
Now the head and foot of a scanned page are read by Tesseract (Thai): the stamp found
seals the letter (ลับที่สุด is refused before the 250), an unmarked scan stays
ordinary, and a scan that cannot be read makes the letter ลับ, uncertain."""
from __future__ import annotations

import io

import pytest

from gateway.pipeline import scanned_pages
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.markings import markings_read_by_ocr
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, log_lines_containing, maildir, \
    sealing_daemon
from tests.cli_fork import run_gateway
from tests.letters import letter, make_pdf
from tests.test_containers_session18 import deflated
from tests.thai_pdfs import scanned_pdf, thai_pdf, with_picture_stamp

LINES = ["ที่ กท ๐๔๐๗/๕๗", "สำนักงานเขตลาดกระบัง", "๒๒ ธันวาคม ๒๕๖๘", "เรื่อง ขอส่งแผนการปฏิบัติงาน",
         "เรียน ผู้อำนวยการเขต", *["ตามที่ได้มีการประชุมคณะกรรมการ เมื่อวันที่ ๑ ธันวาคม"] * 8]


@pytest.fixture(scope="module")
def scans() -> dict[str, bytes]:
    return {stamp or "none": scanned_pdf(LINES, stamp) for stamp in ("ลับ", "ลับมาก", "ลับที่สุด", "")}


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def test_the_stamps_words_are_known_without_the_vowels_ocr_drops():
    """What Tesseract reads of a large stamped word (vowels above and below lost), and
    prose that shares the consonants, which is no marking."""
    assert markings_read_by_ocr("๑4\nลบ\nฮ่\nที กท ๐๕๐๕๕๓") == ["ลับ"]
    assert markings_read_by_ocr("ลบมาก\nที่ กท") == ["ลับมาก"]
    assert markings_read_by_ocr("๑ สซ่\n\nลบทสุด") == ["ลับที่สุด"]
    assert markings_read_by_ocr("( ลับ มาก )") == ["ลับมาก"]
    assert markings_read_by_ocr("ลบ ข้อความ ทั้งหมด ออกจาก ระบบ") == []
    assert markings_read_by_ocr("สำนักงานเขตลาดกระบัง\nเรื่อง ขอส่งแผน") == []
    assert markings_read_by_ocr("ดวนทสุด\nลบ") == ["ด่วนที่สุด", "ลับ"]
    assert markings_read_by_ocr("ดวน ลบมาก") == ["ด่วน", "ลับมาก"]


def test_a_scanned_page_is_read_for_its_stamp_and_a_typed_one_is_not_drawn(scans):
    for stamp in ("ลับ", "ลับมาก", "ลับที่สุด"):
        info = inspect_pdf(scans[stamp])
        assert stamp in info.other_texts[0].splitlines() and info.error is None, (stamp, info)
    assert inspect_pdf(scans["none"]).other_texts == ()



def test_a_typed_page_is_never_read_by_ocr(monkeypatch):
    """A text layer, however short (one line beside the Garuda emblem), is the page's
    text: drawing and reading it by OCR would cost every letter ~0.3 s."""
    def no_ocr(_page):
        raise AssertionError("OCR of a typed page")

    monkeypatch.setattr(scanned_pages, "marking_lines", no_ocr)
    assert inspect_pdf(make_pdf("cover letter")).error is None
    # Nor a typed Thai page with a photo over half of it, between its head and foot.
    assert inspect_pdf(_typed_with_photo()).error is None


def _typed_with_photo() -> bytes:
    from fpdf import FPDF
    from PIL import Image

    from tests.thai_pdfs import FONT

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.add_font("thai", "", str(FONT))
    pdf.set_font("thai", size=16)
    for line in LINES[:5]:
        pdf.cell(0, 9, line, new_x="LMARGIN", new_y="NEXT")
    pdf.image(Image.new("RGB", (800, 600), (90, 140, 60)), x=20, y=75, w=170, h=150)
    pdf.set_y(250)
    pdf.cell(0, 9, "จึงเรียนมาเพื่อโปรดทราบ ขอแสดงความนับถือ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_a_scanning_apps_text_layer_without_thai_does_not_hide_the_picture():
    """Adobe Scan's OCR of a Thai page writes Latin garbage over the picture; other apps
    write "Scanned with CamScanner": a text layer, but not the letter's words."""
    pdf = scanned_pdf(LINES, "ลับมาก", text_layer="Scanned with CamScanner  ffi dsu 2h,Jn 0t'u")
    info = inspect_pdf(pdf)
    assert "Scanned with CamScanner" in info.text and "ลับมาก" in info.other_texts[0].splitlines()


def test_a_typed_note_over_the_middle_of_a_scan_does_not_hide_its_head():
    """A clerk forwards a scan with a typed line laid over it (a text layer in Thai):
    the head and foot are still the scan's pixels, and read."""
    pdf = scanned_pdf(LINES, "ลับมาก", note="สำเนาเรียน ผู้อำนวยการเขต เพื่อโปรดทราบและพิจารณาดำเนินการต่อไป")
    info = inspect_pdf(pdf)
    assert "ผู้อำนวยการเขต" in info.text and "ลับมาก" in info.other_texts[0].splitlines()


def test_a_stamp_put_on_a_typed_letter_as_a_picture_is_read(monkeypatch):
    """Acrobat's Stamp tool with a custom image: a ลับมาก stamp made as a picture, in a
    frame, put on a typed letter. Its words are only pixels; on main the letter was
    ordinary. A picture stamp that says something else, or a hidden one, is no marking."""
    typed = thai_pdf(["", "", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน", "เรียน ผู้อำนวยการเขต"])
    for word, level in (("ลับ", "confidential"), ("ลับมาก", "secret"), ("ได้รับแล้ว", "none")):
        pdf = with_picture_stamp(typed, word)
        assert reading(letter(files=[("2569_dds_0403_57.pdf", pdf)])) == (level, True), word
    calls = []
    monkeypatch.setattr(scanned_pages, "_ocr", lambda *args: calls.append(args) or "")
    assert reading(letter(files=[("2569_dds_0403_57.pdf", with_picture_stamp(typed, "ลับมาก", hidden=True))])) \
        == ("none", True)
    assert calls == []


def test_a_scanned_letter_is_classified_by_its_stamp(scans):
    """On main each was ('none', True): registered ordinary, filed in plain text."""
    assert reading(letter(files=[("2569_dds_0403_57.pdf", scans["ลับ"])])) == ("confidential", True)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", scans["ลับมาก"])])) == ("secret", True)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", scans["ลับที่สุด"])])) == ("top_secret", True)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", scans["none"])])) == ("none", True)


def test_a_scan_that_cannot_be_read_keeps_the_letter_uncertain(scans, monkeypatch):
    """No Tesseract on the machine (or it fails, or runs out of time): the stamp could
    not be looked at, so the letter is at least ลับ, uncertain; the register's reason
    says which file, and the file is not called damaged."""
    monkeypatch.setattr(scanned_pages.shutil, "which", lambda _name: None)
    info = inspect_pdf(scans["none"])
    assert info.error.startswith("a scanned page was not read") and "no OCR" in info.error
    assert reading(letter(files=[("2569_dds_0403_57.pdf", scans["none"])])) == ("confidential", False)


def _picture(pdf: bytes, kind: str, size: tuple[int, int] | None = None) -> bytes:
    import io

    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(pdf)[0].render(scale=150 / 72).to_pil().convert("RGB")
    if size:
        page = page.resize(size)
    out = io.BytesIO()
    if kind == "TIFF":  # a fax: several pages in one file, the stamp on the first
        first = page.convert("L")
        blank = first.point(lambda _v: 255)
        first.save(out, "TIFF", save_all=True, append_images=[blank, blank])
    else:
        page.save(out, kind)
    return out.getvalue()


def test_a_scan_sent_as_a_picture_is_read_for_its_stamp(scans):
    """A JPEG or PNG per page, a fax's TIFF, named anything: on main read as nothing,
    the letter ordinary. A picture without a page's shape (a photo, an emblem) is not
    read; a page-shaped one without a stamp leaves the letter ordinary."""
    secret = scans["ลับมาก"]
    for name, kind in (("scan.jpg", "JPEG"), ("scan.png", "PNG"), ("fax.tif", "TIFF"), ("scan.bin", "JPEG")):
        assert reading(letter(files=[(name, _picture(secret, kind))])) == ("secret", True), name
    assert reading(letter(files=[("scan.jpg", _picture(scans["none"], "JPEG"))])) == ("none", True)
    assert reading(letter(files=[("a.zip", deflated([("scan.png", _picture(secret, "PNG"))]))])) == ("secret", True)


def test_pictures_that_are_no_page_are_not_drawn_and_too_many_are_not_all_read(scans, monkeypatch):
    calls = []
    real = scanned_pages._ocr
    monkeypatch.setattr(scanned_pages, "_ocr",
                        lambda binary, band, *until: calls.append(band.size) or real(binary, band, *until))
    # A small picture and a wide one (a banner, the Garuda emblem): no OCR at all.
    assert reading(letter(files=[("emblem.png", _picture(scans["ลับมาก"], "PNG", (300, 420))),
                                 ("banner.jpg", _picture(scans["ลับมาก"], "JPEG", (1800, 400)))])) == ("none", True)
    assert calls == []
    # Past MAX_PICTURES page-shaped pictures in one letter, the rest are not drawn.
    page = _picture(scans["none"], "JPEG")
    many = [(f"p{n}.jpg", page + bytes([n])) for n in range(scanned_pages.MAX_PICTURES + 2)]
    assert reading(letter(files=many)) == ("none", True)
    assert len(calls) == 3 * scanned_pages.MAX_PICTURES  # a head and a foot each, and both upside down


def test_a_picture_too_large_to_draw_keeps_the_letter_uncertain():
    """A PNG that declares 20000 x 28000 pixels (a decompression bomb's header): not
    drawn, said unread: ลับ, uncertain."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 28000, 8, 0, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    assert reading(letter(files=[("scan.png", bomb)])) == ("confidential", False)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with sealing_daemon(tmp_path_factory.mktemp("scans") / "gw") as d:
        yield d


def test_over_smtp_a_scanned_secret_letter_is_sealed_and_an_ordinary_scan_is_filed(gateway, scans):
    d = gateway
    code, text = d.data_reply(letter(to=LATKRABANG, subject=f"แผน {MARKER}",
                                     files=[("2569_dds_0403_56.pdf", scans["ลับที่สุด"])]))
    assert code == 550 and text.isascii()
    secret = d.send(letter(to=LATKRABANG, subject=f"ขอส่งแผนการปฏิบัติงาน {MARKER}",
                           files=[("2569_dds_0403_57.pdf", scans["ลับมาก"])]), LATKRABANG)
    urgent = scanned_pdf(LINES, urgent="ด่วนที่สุด")
    plain = d.send(letter(to=LATKRABANG, subject="ขอเชิญประชุม", files=[("2569_dds_0403_58.pdf", urgent)]),
                   LATKRABANG)
    d.wait_idle(timeout=120)
    assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", secret) == [
        ("secret", "secret", None)]
    assert (d.data_dir / "secret" / secret / "raw.sgv").read_bytes()[:4] == b"SGV1"
    # The urgency stamp on the scan is the register's urgency too (the clerk's queue).
    assert db_rows(d, "select secrecy, book, subject, urgency from letters where queue_id = ?", plain) == [
        ("none", "general", "ขอเชิญประชุม", "most_urgent")]
    assert len(maildir(d, "latkrabang")) == 1
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def test_status_and_check_say_when_the_machine_cannot_read_scans(gateway, tmp_path):
    """A machine without Tesseract (or its Thai model) seals every scanned letter as
    ลับ: the sysadmin is told by `status` and `check`, and not otherwise."""
    import json
    import os
    import subprocess

    def cli(path: str, *args: str) -> subprocess.CompletedProcess:
        return run_gateway(["--config", str(gateway.config), *args], env=dict(os.environ, **gateway.env, PATH=path))

    assert not [w for w in gateway.status()["warnings"] if "scanned" in w]
    [warning] = [w for w in json.loads(cli(str(tmp_path), "status", "--json").stdout)["warnings"] if "scanned" in w]
    assert warning.startswith("no tesseract on this machine") and "tesseract-ocr-tha" in warning
    # A tesseract without the Thai model.
    fake = tmp_path / "tesseract"
    fake.write_text("#!/bin/sh\necho 'List of available languages (1):'\necho eng\n")
    fake.chmod(0o755)
    checked = cli(str(tmp_path), "check-config")
    assert "no tesseract's Thai model (tesseract-ocr-tha) on this machine" in checked.stderr


def test_a_scan_pasted_into_a_word_file_is_read_for_its_stamp(scans):
    """A clerk pastes the scanned paper letter into a .docx and sends that: the picture
    in word/media/ is read as a scan sent as a picture is (on main: ordinary)."""
    import io
    import zipfile

    def docx(media: bytes | None) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml", '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                        'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>สำเนาหนังสือ</w:t></w:r></w:p>'
                        '</w:body></w:document>')
            if media:
                zf.writestr("word/media/image1.jpeg", media)
        return out.getvalue()

    assert reading(letter(files=[("สำเนา.docx", docx(_picture(scans["ลับมาก"], "JPEG")))])) == ("secret", True)
    assert reading(letter(files=[("สำเนา.docx", docx(_picture(scans["none"], "JPEG")))])) == ("none", True)


# Found by an adversarial pass over the PDF reading (session 33): each read none.

def test_a_picture_stamp_acrobat_keeps_in_a_form_is_read():
    """Acrobat keeps a custom image stamp as a form inside the appearance (`/FRM Do`):
    only the appearance's own objects were looked at."""
    typed = thai_pdf(["", "", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน", "เรียน ผู้อำนวยการเขต"])
    for word, level in (("ลับมาก", "secret"), ("ได้รับแล้ว", "none")):
        pdf = with_picture_stamp(typed, word, nested=True)
        assert reading(letter(files=[("2569_dds_0403_57.pdf", pdf)])) == (level, True), word


def test_picture_stamps_past_those_read_make_the_letter_uncertain():
    """Four ordinary picture stamps then a ลับมาก one: the fifth was skipped in silence.
    Eight are read now; past them the PDF is said not read (at least ลับ)."""
    typed = thai_pdf(["", "", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน", "เรียน ผู้อำนวยการเขต"])
    pdf = typed
    for n in range(4):
        pdf = with_picture_stamp(pdf, "ได้รับแล้ว", rect=(40 + 130 * n, 700, 160 + 130 * n, 740), keep=True)
    assert reading(letter(files=[("a.pdf", with_picture_stamp(pdf, "ลับมาก", keep=True))])) == ("secret", True)
    for n in range(4):
        pdf = with_picture_stamp(pdf, "ได้รับแล้ว", rect=(40 + 130 * n, 640, 160 + 130 * n, 680), keep=True)
    level, certain = reading(letter(files=[("a.pdf", with_picture_stamp(pdf, "สำเนา", keep=True))]))
    assert level != "none" and not certain


def test_a_page_whose_font_has_no_unicode_map_is_read_from_its_pixels():
    """A font embedded without /ToUnicode: a viewer draws ลับมาก, every reader of the
    text layer gets control characters. Such a page is read by OCR, as a scan is."""
    from pypdf import PdfReader, PdfWriter

    def without_unicode(pdf: bytes) -> bytes:
        w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
        for page in w.pages:
            for _name, font in page["/Resources"]["/Font"].items():
                font = font.get_object()
                for key in ("/ToUnicode",):
                    if key in font:
                        del font[key]
                for descendant in font.get("/DescendantFonts", []):
                    descendant.get_object().pop("/ToUnicode", None)
        out = io.BytesIO()
        w.write(out)
        return out.getvalue()

    for word, level in (("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"), ("", "none")):
        pdf = without_unicode(thai_pdf(["", word, "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน", "เรียน ผู้อำนวยการเขต",
                                        "ข้อความของหนังสือ " * 3]))
        assert scanned_pages.text_unreadable(inspect_pdf(pdf).page_texts[0])
        assert reading(letter(files=[("2569_dds_0403_57.pdf", pdf)])) == (level, True), word


def test_a_searchable_scan_whose_ocr_layer_missed_the_stamp_is_read_from_its_picture():
    """A scanning program's Thai OCR, drawn invisible over the page, with Thai in the
    head and the foot but not the stamp it misread: the layer was taken for a typed
    page's text and the picture was not read. A page whose text is all invisible over
    a picture is a scan: its picture is read."""
    layer = "เรื่อง ขอเชิญประชุม เรียน ผู้อำนวยการเขตลาดกระบัง"
    for word, level in (("ลับมาก", "secret"), ("", "none")):
        pdf = scanned_pdf(LINES, word, text_layer=layer)
        assert "ผู้อำนวยการ" in inspect_pdf(pdf).text
        assert reading(letter(files=[("2569_dds_0403_57.pdf", pdf)])) == (level, True), word


def test_an_annex_marked_in_the_middle_of_a_long_bundle_is_read():
    """A 40-page bundle whose annex on page 30 is ลับมาก: only the first 20 and the last
    5 pages were read. A 100-page one marked on page 75: only the first 60 and the last
    10 (session 34). 220 pages are read whole now."""
    from tests.hostile.markings_cases import thai_pdf as marked_pdf

    bundle = marked_pdf(top="ลับมาก", bottom="ลับมาก", pages=40, marked_page=30)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", bundle)])) == ("secret", True)
    longer = marked_pdf(top="ลับที่สุด", bottom="ลับที่สุด", pages=100, marked_page=75)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", longer)])) == ("top_secret", True)
    unmarked = marked_pdf(pages=40)
    assert reading(letter(files=[("2569_dds_0403_57.pdf", unmarked)])) == ("none", True)


def test_a_tesseract_found_whole_is_not_started_again_on_every_status(tmp_path, monkeypatch):
    """`status` is polled; each answer started `tesseract --list-langs`. A tesseract that
    listed tha is believed for a while; one that did not is asked every time, so the
    model installed shows at the next status."""
    from gateway.pipeline import scanned_pages

    calls = tmp_path / "calls"
    langs = tmp_path / "langs"
    fake = tmp_path / "tesseract"
    fake.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'List of available languages:'\n/bin/cat {langs}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(scanned_pages, "_ocr_found", {}, raising=False)

    def started() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    langs.write_text("eng\n")
    assert scanned_pages.ocr_missing() == "tesseract's Thai model (tesseract-ocr-tha)"
    assert scanned_pages.ocr_missing() == "tesseract's Thai model (tesseract-ocr-tha)"
    assert started() == 2
    langs.write_text("eng\ntha\n")  # installed: said at once
    assert scanned_pages.ocr_missing() is None
    assert [scanned_pages.ocr_missing() for _ in range(5)] == [None] * 5
    assert started() == 3
    langs.write_text("eng\n")  # removed: said once the window has passed
    clock = [scanned_pages.time.monotonic()]
    monkeypatch.setattr(scanned_pages.time, "monotonic", lambda: clock[0])
    assert scanned_pages.ocr_missing() is None
    clock[0] += scanned_pages.OCR_FOUND_FOR + 1
    assert scanned_pages.ocr_missing() == "tesseract's Thai model (tesseract-ocr-tha)"
    assert started() == 4
    fake.unlink()
    assert scanned_pages.ocr_missing() == "tesseract"
