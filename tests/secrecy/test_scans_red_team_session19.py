"""Red team of the scanned-page OCR (session 19, gateway/pipeline/scanned_pages.py).

Leaks (a stamped scan that came out ordinary, filed in plain text): a scanner that
writes its page as strips of pictures (none a quarter of the page), a re-writer that
wraps the scan in a Form XObject (PDFium gives the picture its place in the form's
space), a page scanned upside down or sideways, a fax's TIFF at 204 x 98 dpi (its pixels half as
tall as the page). Hangs: a page-shaped GIF of many frames (Pillow's `n_frames`
decodes every one, ~30 ms each: a 400 KB GIF held the letter for seconds, thousands of
frames for minutes, in the pipeline's own process) and a letter of several pictures
Tesseract is slow on."""
from __future__ import annotations

import io
import time

import pytest

from gateway.pipeline import scanned_pages
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, sealing_daemon
from tests.letters import letter
from tests.thai_pdfs import scanned_pdf

LINES = ["ที่ กท ๐๔๐๗/๕๗", "สำนักงานเขตลาดกระบัง", "๒๒ ธันวาคม ๒๕๖๘", "เรื่อง ขอส่งแผนการปฏิบัติงาน",
         "เรียน ผู้อำนวยการเขต", *["ตามที่ได้มีการประชุมคณะกรรมการ เมื่อวันที่ ๑ ธันวาคม"] * 8]
W, H = 595, 842  # A4, points


@pytest.fixture(scope="module")
def page():
    """A scanned A4 page stamped ลับมาก at its head and foot, as pixels (200 dpi)."""
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(scanned_pdf(LINES, "ลับมาก"))[0].render(scale=200 / 72).to_pil().convert("RGB")


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def _stream(head: bytes, data: bytes) -> bytes:
    return b"<< " + head + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _picture(image) -> bytes:
    return _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8"
                   b" /Filter /DCTDecode" % image.size, _jpeg(image))


def _pdf(content: bytes, xobjects: bytes, objects: list[bytes], size: tuple[int, int] = (W, H)) -> bytes:
    """One page (A4) drawing `content` with `xobjects` (objects 5 on)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /XObject << %s >> >>"
               b" /Contents 4 0 R >>" % (*size, xobjects), _stream(b"", content), *objects]
    out = io.BytesIO(b"%PDF-1.5\n")
    out.seek(0, 2)
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def in_strips(image, n: int) -> bytes:
    """The page as `n` pictures one above the other, as scanners write it."""
    w, h = image.size
    step = h // n
    content, names, objects = b"", b"", []
    for i in range(n):
        content += b"q %d 0 0 %.3f 0 %.3f cm /S%d Do Q\n" % (W, H / n, H - (i + 1) * H / n, i)
        names += b"/S%d %d 0 R " % (i, 5 + i)
        objects.append(_picture(image.crop((0, i * step, w, h if i == n - 1 else (i + 1) * step))))
    return _pdf(content, names, objects)


def in_forms(image, depth: int) -> bytes:
    """The page's picture inside `depth` Form XObjects, each of a unit box."""
    forms = [_stream(b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /F %d 0 R >> >>"
                     % (6 + d), b"/F Do") for d in range(depth)]
    return _pdf(b"q %d 0 0 %d 0 0 cm /F Do Q" % (W, H), b"/F 5 0 R", [*forms, _picture(image)])


def test_a_scan_written_as_strips_or_inside_a_form_is_read_for_its_stamp(page):
    """On main each was ('none', True): no one picture covered a quarter of the page
    (strips), or the picture's box was the form's unit square."""
    for name, pdf in (("8 strips", in_strips(page, 8)), ("40 strips", in_strips(page, 40)),
                      ("a form", in_forms(page, 1)), ("5 forms deep", in_forms(page, 5))):
        assert reading(letter(files=[("scan.pdf", pdf)])) == ("secret", True), name


def test_a_page_scanned_upside_down_or_sideways_is_read_for_its_stamp(page):
    """Fed into the scanner head first, or sideways with no /Rotate: on main each was
    ('none', True), as a PDF page and as a picture. An unstamped page read so stays
    ordinary (and tests/secrecy/test_scanned_markings.py's)."""
    turned = page.rotate(180)
    assert reading(letter(files=[("scan.pdf", in_strips(turned, 1))])) == ("secret", True)
    assert reading(letter(files=[("scan.jpg", _jpeg(turned))])) == ("secret", True)
    sideways = page.rotate(-90, expand=True)
    assert reading(letter(files=[("scan.pdf", _pdf(b"q %d 0 0 %d 0 0 cm /S Do Q" % (H, W), b"/S 5 0 R",
                                                    [_picture(sideways)], (H, W)))])) == ("secret", True)
    plain = page.crop((0, int(page.size[1] * 0.2), page.size[0], int(page.size[1] * 0.85))).resize(page.size)
    assert reading(letter(files=[("scan.jpg", _jpeg(plain.rotate(90, expand=True)))])) == ("none", True)


def test_a_fax_at_204_by_98_dpi_is_read_as_the_page_it_is(page):
    """A fax's TIFF has half as many rows as the page is tall: 1728 x 1145 pixels was
    no page's shape (and its stamp squashed), so it was not read: ('none', True)."""
    fax = io.BytesIO()
    page.convert("1").resize((1728, 1145)).save(fax, "TIFF", compression="group3", dpi=(204, 98))
    assert reading(letter(files=[("fax.tif", fax.getvalue())])) == ("secret", True)


def test_a_picture_of_many_frames_is_not_walked_to_its_end():
    """A page-shaped GIF of more than MAX_FRAMES frames: said unread (ลับ, uncertain)
    at once; on main every frame was decoded to find the last (('none', True), and
    minutes for a GIF of thousands of frames)."""
    frame = [bytes([n % 250]) * (580 * 820) for n in range(70)]  # MAX_FRAMES: 64
    from PIL import Image

    frames = [Image.frombytes("L", (580, 820), f) for f in frame]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    started = time.monotonic()
    assert reading(letter(files=[("scan.gif", gif.getvalue())])) == ("confidential", False)
    assert time.monotonic() - started < 15
    # A signature's animated GIF of as many frames is no page: not walked, the letter ordinary.
    small = io.BytesIO()
    frames[0].resize((120, 60)).save(small, "GIF", save_all=True, append_images=[f.resize((120, 60)) for f in frames[1:]])
    assert reading(letter(files=[("logo.gif", small.getvalue())])) == ("none", True)


def test_a_letters_pictures_are_read_within_its_time(monkeypatch):
    """Noise Tesseract is slow on (~7 s a band here): past PICTURES_TIME for the letter's
    pictures together, the rest is said unread and the letter is ลับ, uncertain; on main
    each band had its own 20 s, four pictures 160 s."""
    import os

    from PIL import Image

    monkeypatch.setattr(scanned_pages, "PICTURES_TIME", 1.0, raising=False)
    noise = io.BytesIO()
    Image.frombytes("L", (1240, 1754), os.urandom(1240 * 1754)).save(noise, "PNG")
    started = time.monotonic()
    assert reading(letter(files=[(f"p{n}.png", noise.getvalue() + bytes([n])) for n in range(3)])) == (
        "confidential", False)
    assert time.monotonic() - started < 15


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with sealing_daemon(tmp_path_factory.mktemp("scans19") / "gw") as d:
        yield d


def test_over_smtp_a_secret_scan_written_as_strips_is_sealed(gateway, page):
    """The worst leak: on main this letter was registered ordinary and filed in plain
    text in the unit's folder."""
    d = gateway
    queue_id = d.send(letter(to=LATKRABANG, subject=f"ขอส่งแผน {MARKER}", files=[("scan.pdf", in_strips(page, 8))]),
                      LATKRABANG)
    d.wait_idle(timeout=120)
    assert db_rows(d, "select secrecy, book from letters where queue_id = ?", queue_id) == [("secret", "secret")]
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
    assert files_containing(d.data_dir, MARKER) == []
