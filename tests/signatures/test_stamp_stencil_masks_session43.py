"""A page painted through a 1-bit stencil mask (/ImageMask true) is read as what it paints.

Office copiers write scanned letters as "compact" (MRC) PDFs: the text is a full-page
stencil mask painted in the fill colour over white paper. PDFium hands the stamp's
placement such a mask as coverage (255 where it paints), the opposite of an image's grey
levels; read as grey, the black text was paper and the paper ink. Session 43's red team:
a black block at the top right drawn by a mask got the stamp on it, and a scanned Thai
letter with a blank top right got a receipt "no free space". Here the stamp never lands
on what poppler or PDFium draws, and the scanned letter is stamped on its blank paper.
"""
from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, ImageDraw, ImageFont

from gateway.signatures.page_space import page_geometry
from gateway.signatures.stamp import FIELD_NAME, stamp_pdf
from tests.letters import one_page_pdf, stream_object
from tests.pki import GARUDA
from tests.signatures.test_stamp_placement import PAPER, render


def _mask_page(mask: Image.Image, *, decode_inverted: bool, width_pt: float = 595, height_pt: float = 842) -> bytes:
    """An A4 page whose only content is `mask` (mode "1", 0 = paint) as a stencil mask
    stretched over the page, painted black. With `decode_inverted` the samples are
    stored the other way round and /Decode [1 0] says so: the same page is shown."""
    samples = mask.tobytes()
    if decode_inverted:
        samples = bytes(255 - b for b in samples)
    entries = (b"/Type /XObject /Subtype /Image /Width %d /Height %d /ImageMask true /BitsPerComponent 1 "
               % mask.size + (b"/Decode [1 0] " if decode_inverted else b"") + b"/Filter /FlateDecode ")
    content = b"q 0 g %g 0 0 %g 0 0 cm /Im1 Do Q" % (width_pt, height_pt)
    return one_page_pdf(content, b"/XObject << /Im1 5 0 R >>",
                        objects=(stream_object(zlib.compress(samples), entries),))


def _block_at_top_right() -> Image.Image:
    """One sample a point: a black block over the top right third of the page (where
    the stamp goes on blank paper), the rest unpainted."""
    mask = Image.new("1", (595, 842), 1)
    ImageDraw.Draw(mask).rectangle((250, 0, 594, 299), fill=0)
    return mask


def _scanned_thai_letter() -> Image.Image:
    """A letter scanned at 150 dpi as an MRC text layer: reference number top left,
    the date and body below, the top right corner blank paper."""
    dpi = 150
    mask = Image.new("1", (int(8.27 * dpi), int(11.69 * dpi)), 1)
    draw = ImageDraw.Draw(mask)
    font = ImageFont.truetype(str(GARUDA), 30)
    draw.text((120, 200), "ที่ กท 0403/ว 276", font=font, fill=0)
    draw.text((620, 420), "5 มกราคม 2569", font=font, fill=0)
    for i, line in enumerate(["เรื่อง ขอเชิญประชุมคณะกรรมการ", "เรียน ผู้อำนวยการเขตป้อมปราบศัตรูพ่าย",
                              "ด้วยสำนักการระบายน้ำ ขอเชิญประชุม ..."]):
        draw.text((120, 540 + i * 60), line, font=font, fill=0)
    return mask


def _darkest_beneath_stamp(original: bytes, stamped: bytes, tmp_path, name: str) -> dict[str, int]:
    """The darkest pixel of the ORIGINAL page under the stamp's widget, as poppler and
    as PDFium draw it (255 = white paper)."""
    import pypdfium2
    from pyhanko.pdf_utils.reader import PdfFileReader

    page = PdfFileReader(io.BytesIO(stamped), strict=False).root["/Pages"]["/Kids"][0].get_object()
    geometry = page_geometry(page)
    rect = next(tuple(float(v) for v in a.get_object()["/Rect"]) for a in page["/Annots"]
                if str(a.get_object().get("/T", "")).startswith(FIELD_NAME))
    document = pypdfium2.PdfDocument(original)
    try:
        drawn = {"poppler": render(original, tmp_path, name),
                 "pdfium": document[0].render(scale=50 / 72, grayscale=True).to_pil().convert("L")}
    finally:
        document.close()
    width, height = geometry.display_size
    x0, y0, x1, y1 = geometry.to_display(rect)
    out = {}
    for reader, image in drawn.items():
        px = image.size[0] / width
        box = (int(x0 * px) + 1, int((height - y1) * px) + 1, int(x1 * px + 0.999) - 1, int((height - y0) * px + 0.999) - 1)
        out[reader] = image.crop(box).getextrema()[0]
    return out


@pytest.mark.parametrize("decode_inverted", [False, True], ids=["decode-0-1", "decode-1-0"])
def test_a_block_painted_by_a_stencil_mask_is_never_stamped_over(tmp_path, seal, stamp_info, decode_inverted):
    letter = _mask_page(_block_at_top_right(), decode_inverted=decode_inverted)
    result = stamp_pdf(letter, stamp_info, seal)
    if result.mode == "stamped":
        darkest = _darkest_beneath_stamp(letter, result.pdf, tmp_path, "block")
        assert min(darkest.values()) >= PAPER, f"the stamp covers the painted block: {darkest}"
    else:
        assert result.mode == "receipt" and "Error" not in result.reason, result.reason


@pytest.mark.parametrize("decode_inverted", [False, True], ids=["decode-0-1", "decode-1-0"])
def test_a_scanned_mrc_letter_is_stamped_on_its_blank_top_right(tmp_path, seal, stamp_info, decode_inverted):
    letter = _mask_page(_scanned_thai_letter(), decode_inverted=decode_inverted, width_pt=595.44, height_pt=841.68)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    darkest = _darkest_beneath_stamp(letter, result.pdf, tmp_path, "mrc")
    assert min(darkest.values()) >= PAPER, f"the stamp covers the letter's text: {darkest}"
