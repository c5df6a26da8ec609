"""A photo of the letter's page in HEIC or AVIF is said unread (secrecy red team of
session 56).

An iPhone's camera saves HEIC (since iOS 11), which Windows' Photos and macOS' Preview
show and PIL cannot open (no HEVC or AV1 decoder here). A page-shaped JPEG or PNG is read
by OCR for the stamp at its head and foot; a HEIC one was no picture at all, and the
letter was certain it was ordinary: a photographed ลับมาก letter sent as IMG_0001.HEIC
was held in plain, its subject and photo unsealed. Its size is read from the file's
`ispe` property: a page-shaped one makes the letter at least ลับ, uncertain (sealed for
the secret registrar, who opens it), a photo of another shape stays what a photo is."""
from __future__ import annotations

import struct

import pytest

from gateway.pipeline import scanned_pages
from gateway.pipeline.unread_words import thai_phrase
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งภาพถ่ายหนังสือตามไฟล์แนบ\n"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(kind: bytes, payload: bytes) -> bytes:
    return _box(kind, b"\x00\x00\x00\x00" + payload)


def heif(width: int, height: int, brand: bytes = b"heic") -> bytes:
    """An ISO base media file as an iPhone writes a photo: its brands, then `meta` with
    the picture's properties (the grid's size and a 512-pixel tile's), then the data."""
    sizes = _full(b"ispe", struct.pack(">II", 512, 512)) + _full(b"ispe", struct.pack(">II", width, height))
    meta = _full(b"meta", _full(b"hdlr", b"\x00\x00\x00\x00pict" + b"\x00" * 13) + _box(b"iprp", _box(b"ipco", sizes)))
    return _box(b"ftyp", brand + b"\x00\x00\x00\x00mif1" + brand) + meta + _box(b"mdat", bytes(range(256)) * 40)


def _reading(name: str, data: bytes) -> tuple[str, str, bool]:
    found = classify_raw(letter(subject="ขอส่งภาพถ่ายหนังสือ", body=BODY, files=[COVER, (name, data)]))
    return found.level, found.where, found.certain


@pytest.mark.parametrize(("name", "data"), [
    ("IMG_0001.HEIC", heif(3024, 4032)),  # an iPhone's 4:3 photo, upright
    ("IMG_0002.heic", heif(4032, 3024)),  # sideways
    ("scan.heif", heif(2480, 3508, b"mif1")),  # A4 at 300 dpi
    ("scan.avif", heif(1240, 1754, b"avif")),
    ("photo.jpg", heif(3024, 4032)),  # named anything: read by its bytes
])
def test_a_page_shaped_heic_or_avif_photo_is_said_unread(name, data):
    level, where, certain = _reading(name, data)
    assert (level, certain) == ("confidential", False)
    assert scanned_pages.HEIF_NOT_READ in where


def test_the_reason_is_in_thai_too():
    assert thai_phrase(f"file 2: {scanned_pages.HEIF_NOT_READ}") == \
        "ไฟล์ที่ 2: ภาพสแกนหรือภาพถ่ายหน้าหนังสือในรูปแบบที่ระบบอ่านไม่ได้ (HEIC หรือ AVIF จากกล้องโทรศัพท์)"


@pytest.mark.parametrize(("data", "size"), [
    (heif(1000, 1000), (1000, 1000)),  # a square photo: no page, as a JPEG's
    (heif(4000, 1000), (4000, 1000)),  # a panorama
    (heif(450, 600), (450, 600)),  # too small to read a page in (a JPEG's longer side 800 or more)
])
def test_a_photo_of_another_shape_stays_a_photo(data, size):
    assert scanned_pages.heif_size(data) == size
    assert _reading("IMG_0003.HEIC", data) == ("none", "", True)


def test_other_iso_media_files_are_no_heic():
    mp4 = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + _box(b"mdat", b"\x00" * 64)
    assert scanned_pages.heif_size(mp4) is None and not scanned_pages.is_picture(mp4)
    assert _reading("clip.mp4", mp4) == ("none", "", True)


def test_over_smtp_a_photographed_letter_in_heic_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, assert_sealed_nowhere_plain, sealing_daemon

    with sealing_daemon(tmp_path / "gw") as d:
        raw = letter(subject=f"ขอส่งภาพถ่ายหนังสือ {MARKER}", body=f"{BODY}{MARKER}\n",
                     files=[COVER, ("IMG_0001.HEIC", heif(3024, 4032))])
        qid = d.send(raw, LAT)
        d.wait_idle()
        assert_sealed_nowhere_plain(d, {"heic": qid})
