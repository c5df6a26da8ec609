"""The receive stamp lands on blank paper, top right of page 1, as a clerk's rubber stamp.

Letters from three producers (fpdf2, LibreOffice Writer, a scanned image) and page trees
with inherited /MediaBox, /Rotate, /CropBox and /UserUnit are stamped, then page 1 is
rendered with poppler's pdftoppm before and after. The stamp is where a reader sees it:
* under the stamp's box the original page was blank paper (nothing is covered);
* every pixel that changed lies inside the stamp's box (nothing else was touched);
* the box is in the top right quarter of the page as displayed, upright (wider than tall);
* it overlaps no annotation, above all no signature widget of the sender.
"""
from __future__ import annotations

import io
import subprocess

import pytest
from PIL import Image, ImageChops

from gateway.signatures.page_space import annotation_boxes, page_geometry
from gateway.signatures.stamp import FIELD_NAME, stamp_pdf
from tests.signatures import producers

DPI = 50
PAPER = 230  # grey level above which a rendered pixel is blank paper (scans are 245)


def render(pdf: bytes, tmp_path, name: str) -> Image.Image:
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    # -cropbox: the page as a reader shows it (pdftoppm's default is the media box).
    subprocess.run(["pdftoppm", "-r", str(DPI), "-cropbox", "-gray", "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(src), str(tmp_path / name)], check=True, timeout=60)
    return Image.open(tmp_path / f"{name}.png").convert("L")


def stamp_widget(pdf: bytes):
    """(page geometry, stamp rectangle, other annotation rectangles) of page 1."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    geometry = page_geometry(page)
    stamp, others = None, []
    for annot in page["/Annots"]:
        annot = annot.get_object()
        rect = tuple(float(v) for v in annot["/Rect"])
        if str(annot.get("/T", "")).startswith(FIELD_NAME):
            stamp = rect
        else:
            others.append(rect)
    assert stamp is not None, "no receive stamp widget on page 1"
    return geometry, stamp, others


def check_placement(original: bytes, stamped: bytes, tmp_path, name: str) -> None:
    geometry, rect, others = stamp_widget(stamped)
    before, after = render(original, tmp_path, name), render(stamped, tmp_path, name + "-stamped")
    assert before.size == after.size
    width, height = geometry.display_size
    px = before.size[0] / width  # pixels per user unit, as rendered
    x0, y0, x1, y1 = geometry.to_display(rect)
    box = (int(x0 * px), int((height - y1) * px), int(x1 * px + 0.999), int((height - y0) * px + 0.999))
    # Nothing of the letter lies beneath the stamp.
    inner = before.crop((box[0] + 1, box[1] + 1, box[2] - 1, box[3] - 1))
    assert inner.getextrema()[0] >= PAPER, f"{name}: the stamp covers content (darkest {inner.getextrema()[0]})"
    # Nothing outside the stamp changed.
    changed = ImageChops.difference(before, after).point(lambda v: 255 if v > 40 else 0).getbbox()
    assert changed is not None, f"{name}: the stamp is not visible"
    grow = 2
    assert (changed[0] >= box[0] - grow and changed[1] >= box[1] - grow
            and changed[2] <= box[2] + grow and changed[3] <= box[3] + grow), (name, changed, box)
    # Top right quarter, upright.
    assert x1 > width / 2 and y0 > height / 2, (name, (x0, y0, x1, y1), (width, height))
    assert (x1 - x0) > (y1 - y0)
    # No annotation (signature widgets above all) under it.
    for other in others:
        o = geometry.to_display(other)
        assert not (o[0] < x1 and x0 < o[2] and o[1] < y1 and y0 < o[3]), (name, other)


def test_fpdf2_letter_with_an_address_block_and_two_signature_widgets(tmp_path, seal, stamp_info):
    letter = producers.fpdf2_letter(signature_widgets=True)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "fpdf2")


def test_libreoffice_letter(tmp_path, seal, stamp_info):
    letter = producers.libreoffice_letter()
    assert letter is not None, "soffice is missing: `make test` installs libreoffice-writer-nogui"
    assert b"/DocChecksum" in letter  # LibreOffice's own trailer entry: a real Writer export
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "libreoffice")


def test_scanned_letter_gets_the_stamp_on_white_paper_beside_the_seal(tmp_path, seal, stamp_info):
    letter = producers.scanned_letter()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "scan")


def _with_page_tree(data: bytes, fresh: bool = False, **entries) -> bytes:
    """Set attributes on the /Pages node (inherited by the page) or, with page_ prefix, on
    page 1. As an incremental update (two revisions: the page is then also read by the
    second reader, page_space._pdfminer_boxes) or, `fresh`, written out again as a file
    of one revision (PDFium's reading alone)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(data))
    pages = w.root["/Pages"]
    page = pages["/Kids"][0].get_object()
    for key, value in entries.items():
        target, key = (page, key[5:]) if key.startswith("page_") else (pages, key)
        target[generic.pdf_name("/" + key)] = (
            generic.ArrayObject(generic.FloatObject(v) for v in value) if isinstance(value, tuple)
            else generic.NumberObject(value) if isinstance(value, int) else generic.FloatObject(value))
        w.update_container(target)
    out = io.BytesIO()
    w.write(out)
    return _one_revision(out.getvalue()) if fresh else out.getvalue()


def _one_revision(data: bytes) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    out = io.BytesIO()
    writer.write(out)
    assert out.getvalue().count(b"%%EOF") == 1
    return out.getvalue()


@pytest.mark.parametrize("fresh", [False, True], ids=["update", "one-revision"])
@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_inherited_rotation_keeps_the_stamp_upright_top_right(tmp_path, seal, stamp_info, rotate, fresh):
    letter = _with_page_tree(producers.fpdf2_letter(), fresh=fresh, Rotate=rotate)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, f"rotate{rotate}")


@pytest.mark.parametrize("fresh", [False, True], ids=["update", "one-revision"])
def test_inherited_crop_box_and_user_unit(tmp_path, seal, stamp_info, fresh):
    letter = _with_page_tree(producers.fpdf2_letter(), fresh=fresh, CropBox=(30.0, 40.0, 560.0, 800.0))
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "cropbox")
    _, rect, _ = stamp_widget(result.pdf)
    assert rect[2] <= 560 - 18 + 0.01 and rect[3] <= 800 - 18 + 0.01  # inside the visible area

    # /UserUnit 2: a user unit is 2 points, so the 180 pt stamp is 90 units wide.
    doubled = _with_page_tree(producers.fpdf2_letter(), page_UserUnit=2.0)
    rect = stamp_widget(stamp_pdf(doubled, stamp_info, seal).pdf)[1]
    assert abs((rect[2] - rect[0]) - 90) < 1


def test_no_free_space_gives_a_receipt_and_no_error_text(tmp_path, seal, stamp_info):
    # A small page whose top half is filled: nowhere to put 126 x 59 pt (the stamp at 70 %).
    crowded = producers.fpdf2_letter(page_size=(300.0, 200.0))
    result = stamp_pdf(crowded, stamp_info, seal)
    assert result.mode == "receipt"
    assert result.reason == "no free space at the top right of page 1 for the stamp"


def test_a_page_tree_without_a_media_box_gets_a_plain_reason(seal, stamp_info):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(producers.fpdf2_letter()))
    del w.root["/Pages"]["/MediaBox"]
    w.update_container(w.root["/Pages"])
    out = io.BytesIO()
    w.write(out)
    result = stamp_pdf(out.getvalue(), stamp_info, seal)
    assert result.mode == "receipt"
    assert "MediaBox" not in result.reason and "Error" not in result.reason
    assert result.reason == "the letter's first page could not be stamped (an unusual PDF structure)"


def test_signature_widgets_are_never_covered(seal, stamp_info):
    letter = producers.fpdf2_letter(signature_widgets=True)
    stamped = stamp_pdf(letter, stamp_info, seal).pdf
    geometry, rect, _ = stamp_widget(stamped)
    from pyhanko.pdf_utils.reader import PdfFileReader

    page = PdfFileReader(io.BytesIO(stamped)).root["/Pages"]["/Kids"][0].get_object()
    widgets = [box for box, is_sig in annotation_boxes(page) if is_sig and box != rect]
    assert len(widgets) == 2
    for w in widgets:
        assert not (w[0] < rect[2] and rect[0] < w[2] and w[1] < rect[3] and rect[1] < w[3]), (w, rect)


def _blank_page(width: float, height: float) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(width, height))
    pdf.add_page()
    return bytes(pdf.output())


def test_the_stamp_shrinks_within_limits_then_gives_way_to_a_receipt(tmp_path, seal, stamp_info):
    # 260 pt wide: the right 65 % less the margin leaves 151 pt, so 80 % of 180 pt.
    page = _blank_page(260, 300)
    result = stamp_pdf(page, stamp_info, seal)
    assert result.mode == "stamped"
    rect = stamp_widget(result.pdf)[1]
    assert (round(rect[2] - rect[0]), round(rect[3] - rect[1])) == (144, 67)
    check_placement(page, result.pdf, tmp_path, "shrunk")
    # 200 pt wide leaves 112 pt: below 70 % (126 pt) the text would be too small to read.
    assert stamp_pdf(_blank_page(200, 300), stamp_info, seal).mode == "receipt"


def _marking_through_nested_forms() -> bytes:
    """A page whose only ink at the top right is a drawn mark (a frame and bars, as a
    scanned seal or a logo's vectors are) inside a Form XObject inside a Form XObject,
    each placed by a matrix (0.5 then 2: it lands at its own size, at 330-560 x
    725-800 pt); the body text is at the left. A reader that took the inner shapes' boxes
    without the matrices that placed their forms would look for them at 10-240 x 5-80
    pt, find the top right empty and stamp over the mark. (Text would not tell: its
    glyphs are measured on the page itself.)"""
    from tests.letters import one_page_pdf, stream_object

    page = (b"BT /F1 11 Tf 40 600 Td (Body of the letter, on the left half only.) Tj ET\n"
            b"q 0.5 0 0 0.5 320 720 cm /Outer Do Q")
    outer = b"q 2 0 0 2 0 0 cm /Inner Do Q"
    inner = b"0 0 0 RG 3 w 10 5 230 75 re S 0 0 0 rg 25 20 200 12 re f 25 45 200 12 re f"
    return one_page_pdf(page, b"/Font << /F1 5 0 R >> /XObject << /Outer 6 0 R >>", (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream_object(outer, b"/Type /XObject /Subtype /Form /BBox [0 0 600 200] "
                             b"/Resources << /XObject << /Inner 7 0 R >> >> "),
        stream_object(inner, b"/Type /XObject /Subtype /Form /BBox [0 0 300 100] "),
    ))


def test_a_mark_drawn_through_nested_forms_is_not_covered(tmp_path, seal, stamp_info):
    letter = _marking_through_nested_forms()
    assert letter.count(b"%%EOF") == 1  # one revision: PDFium's reading alone decides
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "nested-forms")
    _, rect, _ = stamp_widget(result.pdf)
    assert rect[3] <= 725  # below the mark, not over it


def _uncovered_ink(data: bytes, tmp_path, name: str) -> tuple[int, int]:
    """(inked pixels poppler draws on page 1 at DPI, how many of them lie outside every
    box the placement keeps clear of: the page's content boxes and annotations, each
    grown by the placement's padding)."""
    import pypdf

    from gateway.signatures.page_space import PAD, content_boxes

    page = pypdf.PdfReader(io.BytesIO(data), strict=False).pages[0]
    geometry = page_geometry(page)
    boxes = content_boxes(data, 0) + [box for box, _ in annotation_boxes(page)]
    clear = [geometry.to_display((b[0] - PAD, b[1] - PAD, b[2] + PAD, b[3] + PAD)) for b in boxes]
    image = render(data, tmp_path, name)
    width, height = geometry.display_size
    px = image.size[0] / width
    pixels, inked, outside = image.load(), 0, 0
    for y in range(image.size[1]):
        for x in range(image.size[0]):
            if pixels[x, y] < PAPER:
                inked += 1
                u, v = (x + 0.5) / px, height - (y + 0.5) / px
                outside += not any(b[0] <= u <= b[2] and b[1] <= v <= b[3] for b in clear)
    return inked, outside


def _trial_files() -> list[str]:
    from tests.paths import shared_dir

    base = shared_dir()
    folder = base / "corpus" / "pdf" / "signature-trial" if base else None
    # dss_pdf-spoofing-attack: unreadable to pypdf as well (its /Encrypt is no dictionary).
    return sorted(p.name for p in folder.glob("*.pdf") if p.name != "dss_pdf-spoofing-attack.pdf") if folder and folder.exists() else []


@pytest.mark.parametrize("name", _trial_files() or ["(shared corpus absent)"])
def test_every_inked_pixel_poppler_draws_is_kept_clear_of(tmp_path, name):
    """Whatever reader measures the page, what another reader (poppler) draws on it lies
    inside the boxes the stamp keeps clear of: on every file of the signature trial
    (EU DSS, PDF-Insecurity, pyHanko, the Shadow Attack demos). pdfminer's reading, the
    placement's until 2026-11-29, left ink of 4 of them outside (in three, a font whose
    letters claim to be tabs and line breaks)."""
    from tests.paths import shared_path

    data = (shared_path("corpus", "pdf", "signature-trial") / name).read_bytes()
    inked, outside = _uncovered_ink(data, tmp_path, name[:-4])
    assert outside == 0, f"{outside} of {inked} inked pixels outside every box"


@pytest.mark.parametrize("make", ["libreoffice", "fpdf2", "scan", "nested-forms"])
def test_every_inked_pixel_of_our_producers_letters_is_kept_clear_of(tmp_path, make):
    letter = {"libreoffice": producers.libreoffice_letter, "fpdf2": producers.fpdf2_letter,
              "scan": producers.scanned_letter, "nested-forms": _marking_through_nested_forms}[make]()
    assert letter is not None, "soffice is missing: `make test` installs libreoffice-writer-nogui"
    inked, outside = _uncovered_ink(letter, tmp_path, make)
    assert inked > 0 and outside == 0, (inked, outside)


def _darkest_beneath_stamp(original: bytes, stamped: bytes, tmp_path, name: str) -> int:
    import pypdf  # lenient where pyHanko's reader stops at these files' broken objects

    page = pypdf.PdfReader(io.BytesIO(stamped), strict=False).pages[0]
    geometry = page_geometry(page)
    rect = next(tuple(float(v) for v in a.get_object()["/Rect"]) for a in page["/Annots"]
                if str(a.get_object().get("/T", "")).startswith(FIELD_NAME))
    before = render(original, tmp_path, name)
    width, height = geometry.display_size
    px = before.size[0] / width
    x0, y0, x1, y1 = geometry.to_display(rect)
    box = (int(x0 * px) + 1, int((height - y1) * px) + 1, int(x1 * px + 0.999) - 1, int((height - y0) * px + 0.999) - 1)
    return before.crop(box).getextrema()[0]


SHADOW_FILES = ["shadow-hide-v1_manipulated-a.pdf", "shadow-hide-v1_manipulated-b.pdf", "shadow-hide-v1_signed.pdf",
                "shadow-hide-and-replace-v1_manipulated.pdf", "shadow-hide-and-replace-v2_manipulated.pdf",
                "shadow-hide-form-via-form_manipulated.pdf", "shadow-hide-text-via-form_manipulated.pdf",
                "shadow-replace-overlay_manipulated.pdf", "shadow-replace-overwrite_manipulated.pdf"]


@pytest.mark.parametrize("name", SHADOW_FILES)
def test_shadow_attack_files_get_no_stamp_over_what_poppler_shows(tmp_path, seal, stamp_info, name):
    """The Shadow Attack demos show different pages in different readers: "hide-v1
    manipulated-a" is one text in PDFium, another in poppler, a page-sized image in
    pdfminer. Whatever the stamp does, it never lands on what poppler (another reader
    than the one that placed it) draws: a stamp on blank paper, or a receipt."""
    from tests.paths import shared_path

    letter = (shared_path("corpus", "pdf", "signature-trial") / name).read_bytes()
    result = stamp_pdf(letter, stamp_info, seal)
    if result.mode == "stamped":
        assert _darkest_beneath_stamp(letter, result.pdf, tmp_path, name[:-4]) >= PAPER
    else:
        assert result.mode == "receipt" and "Error" not in result.reason
