"""A scanned letter whose image is placed turned or mirrored gets its stamp on the blank
top right, as an upright one does (sig red team, session 55).

A scan's ink is read off its pixels (`page_space._image_ink`), which the placement read
only for an image drawn upright (`a 0 0 d e f` with a and d positive). Scanning and
copier software place a page turned as often (a landscape original turned by 90
degrees, a bitmap stored top-down and drawn with a negative height): every other way a
scan may be placed counted as ink all over, and a letter whose top right is blank paper
got a receipt, "no free space at the top right of page 1 for the stamp", instead of its
stamp; PDFium, pdfminer and poppler show the same page whichever way it is stored. Now
the pixels are turned as the placement turns them, for the eight ways a multiple of 90
degrees allows; an image at any other angle still counts whole.

Checked as a person sees it: each page is first rendered by poppler and must look like
the upright one; then the stamp must lie on blank paper with nothing else changed
(`check_placement`) and where the upright scan's lies; signed (a second revision: the
pdfminer reading too) and through the real daemon's folder copy.
"""
from __future__ import annotations

import io
import subprocess
import zlib

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from gateway.signatures.stamp import stamp_pdf
from gateway.signatures.verify import verify_pdf
from tests.letters import one_page_pdf, stream_object
from tests.pki import GARUDA, sign_letter
from tests.signatures.producers import LETTER_LINES
from tests.signatures.test_stamp_outlined_text import stamped_folder_copy
from tests.signatures.test_stamp_placement import check_placement, stamp_widget

DPI = 60
T = Image.Transpose


def _page() -> Image.Image:
    """An A4 scan: Thai text top left and below, the sender's round seal in the top
    right corner and a rule below it, blank paper between (where a stamp fits)."""
    w, h = int(8.27 * DPI), int(11.69 * DPI)
    img = Image.new("L", (w, h), 245)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(GARUDA), int(DPI * 0.2))
    y = int(DPI * 0.6)
    for line in LETTER_LINES[:3]:
        draw.text((int(DPI * 0.9), y), line, fill=20, font=font)
        y += int(DPI * 0.32)
    y = int(DPI * 3.6)
    for line in LETTER_LINES * 4:
        draw.text((int(DPI * 0.9), y), line, fill=20, font=font)
        y += int(DPI * 0.32)
    r = int(DPI * 0.3)
    cx, cy = w - int(DPI * 0.6), int(DPI * 0.5)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=40, width=3)
    draw.rectangle((int(w * 0.55), int(DPI * 2.3), w - int(DPI * 0.3), int(DPI * 2.4)), fill=30)
    return img


# How the pixels are stored, and the matrix that shows them as the upright page.
ORIENTATIONS = {
    "upright": (None, b"595 0 0 842 0 0"),
    "stored top-down": (T.FLIP_TOP_BOTTOM, b"595 0 0 -842 0 842"),
    "mirrored": (T.FLIP_LEFT_RIGHT, b"-595 0 0 842 595 0"),
    "turned 180": (T.ROTATE_180, b"-595 0 0 -842 595 842"),
    "turned 90": (T.ROTATE_90, b"0 -842 595 0 0 842"),
    "turned 270": (T.ROTATE_270, b"0 842 -595 0 595 0"),
    "transposed": (T.TRANSPOSE, b"0 -842 -595 0 595 842"),
    "transversed": (T.TRANSVERSE, b"0 842 595 0 0 0"),
}


def scan(orientation: str) -> bytes:
    op, matrix = ORIENTATIONS[orientation]
    img = _page() if op is None else _page().transpose(op)
    image = stream_object(zlib.compress(img.tobytes()),
                          b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                          b"/BitsPerComponent 8 /Filter /FlateDecode " % img.size)
    return one_page_pdf(b"q " + matrix + b" cm /Im1 Do Q", b"/XObject << /Im1 5 0 R >>", (image,))


def _render(pdf: bytes, tmp_path, name: str) -> Image.Image:
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "30", "-gray", "-png", "-singlefile", str(src), str(tmp_path / name)],
                   check=True, timeout=60)
    return Image.open(tmp_path / f"{name}.png").convert("L")


@pytest.fixture(scope="module")
def upright_rect(seal, stamp_info):
    result = stamp_pdf(scan("upright"), stamp_info, seal)
    assert result.mode == "stamped", result.reason
    return stamp_widget(result.pdf)[1]


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_a_turned_scan_is_stamped_where_the_upright_one_is(tmp_path, seal, stamp_info, upright_rect, orientation):
    pdf = scan(orientation)
    # The same page to a reader, whichever way its pixels are stored: compared in 4-pixel
    # cells, so that resampling's half-pixel shifts do not count (the right page: at most
    # 27 levels apart; the pixels of "turned 90" under the matrix of "turned 270": 134).
    upright = _render(scan("upright"), tmp_path, "upright").reduce(4)
    assert ImageChops.difference(upright, _render(pdf, tmp_path, "turned").reduce(4)).getextrema()[1] <= 60
    result = stamp_pdf(pdf, stamp_info, seal)
    assert result.mode == "stamped", result.reason  # before: receipt, "no free space at the top right of page 1"
    check_placement(pdf, result.pdf, tmp_path, "turned")
    assert [round(v) for v in stamp_widget(result.pdf)[1]] == [round(v) for v in upright_rect]


@pytest.mark.parametrize("orientation", ["turned 90", "stored top-down"])
def test_a_signed_turned_scan_is_stamped_and_keeps_its_signature(tmp_path, pki, trust, seal, stamp_info,
                                                                 upright_rect, orientation):
    signed = sign_letter(scan(orientation), pki)
    result = stamp_pdf(signed, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(signed, result.pdf, tmp_path, "signed-turned")
    assert [round(v) for v in stamp_widget(result.pdf)[1]] == [round(v) for v in upright_rect]
    sender = {s.field: s for s in verify_pdf(result.pdf, trust).signatures}["Signature1"]
    assert (sender.indication, sender.modifications, sender.review) == ("TOTAL_PASSED", "signatures_added", False)


def test_an_image_at_another_angle_still_counts_whole(seal, stamp_info):
    """Turned by 30 degrees, its ink is not read: the whole image is content, so the page
    (the image over all of it) gets a receipt rather than a guess."""
    img = _page()
    image = stream_object(zlib.compress(img.tobytes()),
                          b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                          b"/BitsPerComponent 8 /Filter /FlateDecode " % img.size)
    pdf = one_page_pdf(b"q 515.3 297.5 -421 729.2 200 -100 cm /Im1 Do Q", b"/XObject << /Im1 5 0 R >>", (image,))
    result = stamp_pdf(pdf, stamp_info, seal)
    assert result.mode == "receipt" and "no free space" in result.reason


def test_the_daemons_folder_copy_of_a_turned_scan(tmp_path, pki):
    pdf = scan("turned 90")
    check_placement(pdf, stamped_folder_copy(tmp_path, pki, pdf, "2569_dds_0403_93.pdf"), tmp_path, "daemon-turned")
