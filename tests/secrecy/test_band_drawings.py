"""A marking a typed page draws without text, read by OCR (scanned_pages.band_drawings).

Session 33 left these as known limits, each read as no marking, certain, though every
viewer shows it: a ลับมาก stamp pasted into the page as a picture (or an Acrobat picture
stamp flattened into it), the word converted to outlines, a tiling pattern's cell, a
picture as the face of a pushbutton, a Square or a FreeText. What a typed page's head
and foot draw besides text is now drawn again without the text and read; a template's
drawing (the Garuda emblem, a logo) is read once a process, not once a letter."""
from __future__ import annotations

import io
import math
import zlib

import pytest

from gateway.pipeline import scanned_pages
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.thai_pdfs import FONT, thai_pdf, with_picture_stamp

LINES = ["", "", "ที่ กท ๐๔๐๗/๕๗", "สำนักงานเขตลาดกระบัง", "เรื่อง ขอส่งแผนการปฏิบัติงาน", "เรียน ผู้อำนวยการเขต",
         *["ตามที่ได้มีการประชุมคณะกรรมการ เมื่อวันที่ ๑ ธันวาคม"] * 6]


def reading(pdf: bytes) -> tuple[str, bool]:
    found = classify_raw(letter(files=[("2569_dds_0403_57.pdf", pdf)]))
    return found.level, found.certain


@pytest.fixture(autouse=True)
def _nothing_remembered(monkeypatch):
    """Each test reads its crops afresh: what another test read is not remembered."""
    monkeypatch.setattr(scanned_pages, "_crops_read", {}, raising=False)


# ------------------------------------------------------------------ how the drawings are made

def _picture(word: str, size=(420, 160), frame: bool = True) -> "Image":
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    if frame:
        d.rectangle((4, 4, size[0] - 5, size[1] - 5), outline=(200, 0, 0), width=6)
    if word:
        d.text((size[0] // 2, size[1] // 2), word, font=ImageFont.truetype(str(FONT), 90), fill=(200, 0, 0), anchor="mm")
    return img


def _emblem() -> "Image":
    """A stand-in for the Garuda emblem: a bird's outline, wings and a crown, no letters."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (300, 330), "white")
    d = ImageDraw.Draw(img)
    d.polygon([(150, 20), (175, 80), (260, 60), (200, 140), (230, 300), (150, 240), (70, 300), (100, 140),
               (40, 60), (125, 80)], outline=(0, 0, 0), fill=(90, 90, 90))
    for k in range(8):
        d.arc((60 + 6 * k, 100 + 6 * k, 240 - 6 * k, 280 - 6 * k), 200, 340, fill=(0, 0, 0), width=3)
    d.ellipse((130, 30, 170, 70), outline=(0, 0, 0), width=4)
    return img


def with_drawing(pdf: bytes, ops: bytes, xobjects: dict | None = None, patterns: dict | None = None,
                 rotate: int = 0) -> bytes:
    """`pdf` with `ops` drawn last on page 1 (after its own content, its state saved),
    `xobjects` ({name: PIL image, or (image, alpha)}) and `patterns` ({name: (cell ops,
    bbox, matrix)}) in its resources."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, IndirectObject,
                               NameObject, NumberObject, StreamObject)

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    page = w.pages[0]

    def stream(data: bytes) -> object:
        s = DecodedStreamObject()
        s.set_data(data)
        return w._add_object(s)

    def image(img, gray: bool = False) -> object:
        s = StreamObject()
        s._data = zlib.compress(img.tobytes())
        s.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
                  NameObject("/Width"): NumberObject(img.width), NameObject("/Height"): NumberObject(img.height),
                  NameObject("/ColorSpace"): NameObject("/DeviceGray" if gray else "/DeviceRGB"),
                  NameObject("/BitsPerComponent"): NumberObject(8), NameObject("/Filter"): NameObject("/FlateDecode")})
        return s

    resources = page["/Resources"].get_object()
    if xobjects:
        table = resources.get("/XObject", DictionaryObject()).get_object()
        for name, img in xobjects.items():
            if isinstance(img, tuple):
                img, alpha = img
                s = image(img)
                s[NameObject("/SMask")] = w._add_object(image(alpha, gray=True))
            else:
                s = image(img)
            table[NameObject(name)] = w._add_object(s)
        resources[NameObject("/XObject")] = table
    if patterns:
        table = DictionaryObject()
        for name, (cell, bbox, matrix) in patterns.items():
            s = DecodedStreamObject()
            s.set_data(cell)
            s.update({NameObject("/Type"): NameObject("/Pattern"), NameObject("/PatternType"): NumberObject(1),
                      NameObject("/PaintType"): NumberObject(1), NameObject("/TilingType"): NumberObject(1),
                      NameObject("/BBox"): ArrayObject([FloatObject(v) for v in bbox]),
                      NameObject("/XStep"): FloatObject(2000), NameObject("/YStep"): FloatObject(2000),
                      NameObject("/Matrix"): ArrayObject([FloatObject(v) for v in matrix]),
                      NameObject("/Resources"): DictionaryObject()})
            table[NameObject(name)] = w._add_object(s)
        resources[NameObject("/Pattern")] = table
    contents = page["/Contents"]
    own = list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents]
    own = [part if isinstance(part, IndirectObject) else w._add_object(part) for part in own]
    page[NameObject("/Contents")] = ArrayObject([stream(b"q"), *own, stream(b"Q"), stream(b"q " + ops + b" Q")])
    if rotate:
        page[NameObject("/Rotate")] = NumberObject(rotate)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def outline_ops(word: str, x: float, y: float, size: float) -> bytes:
    """`word` in the Garuda font as paths (the text converted to curves), its baseline
    starting at (x, y)."""
    from fontTools.pens.basePen import BasePen
    from fontTools.ttLib import TTFont

    font = TTFont(str(FONT))
    glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
    scale = size / font["head"].unitsPerEm
    ops: list[str] = []

    class Pen(BasePen):
        def at(self, p):
            return f"{x + p[0] * scale:.2f} {y + p[1] * scale:.2f}"

        def _moveTo(self, p):
            ops.append(self.at(p) + " m")

        def _lineTo(self, p):
            ops.append(self.at(p) + " l")

        def _curveToOne(self, a, b, c):
            ops.append(f"{self.at(a)} {self.at(b)} {self.at(c)} c")

        def _closePath(self):
            ops.append("h")

    for ch in word:
        glyph = glyphs[cmap[ord(ch)]]
        glyph.draw(Pen(glyphs))
        x += glyph.width * scale
    return "\n".join(ops).encode()


def picture_ops(name: str, x: float, y: float, w: float, h: float, turn: float = 0.0) -> bytes:
    """`name` drawn w x h with its lower left at (x, y), turned `turn` degrees about its centre."""
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    cx, cy = x + w / 2, y + h / 2
    return (f"q 1 0 0 1 {cx:.2f} {cy:.2f} cm {c:.4f} {s:.4f} {-s:.4f} {c:.4f} 0 0 cm "
            f"{w:.2f} 0 0 {h:.2f} {-w / 2:.2f} {-h / 2:.2f} cm /{name} Do Q").encode()


TYPED = thai_pdf(LINES)


# ------------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("word, level", [("ลับ", "confidential"), ("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"),
                                         ("ได้รับแล้ว", "none")])
def test_a_stamp_pasted_into_the_page_as_a_picture_is_read(word, level):
    """A picture in the page's own content (how a flattened Acrobat stamp, or a stamp
    picture pasted by an e-saraban system, lands): at the head, and at the foot."""
    head = with_drawing(TYPED, picture_ops("Stamp", 230, 770, 140, 55), {"/Stamp": _picture(word)})
    assert reading(head) == (level, True), word
    foot = with_drawing(TYPED, picture_ops("Stamp", 230, 20, 140, 55), {"/Stamp": _picture(word)})
    assert reading(foot) == (level, True), word


@pytest.mark.parametrize("word, level", [("ลับ", "confidential"), ("ลับที่สุด", "top_secret")])
def test_a_small_framed_stamp_beside_the_garuda_emblem_is_read(word, level):
    """The emblem and a small framed stamp in one crop, and the stamp under the emblem:
    a short word in a frame ("ลับ") is read once the frame's lines are taken away."""
    beside = with_drawing(TYPED, picture_ops("Garuda", 270, 760, 55, 60) + b" " + picture_ops("Stamp", 330, 770, 70, 27),
                          {"/Garuda": _emblem(), "/Stamp": _picture(word)})
    assert reading(beside) == (level, True), word
    under = with_drawing(TYPED, picture_ops("Garuda", 270, 760, 55, 60) + b" " + picture_ops("Stamp", 250, 700, 100, 40),
                         {"/Garuda": _emblem(), "/Stamp": _picture(word)})
    assert reading(under) == (level, True), word


def test_a_pasted_stamp_turned_transparent_or_across_the_bands_edge_is_read():
    """A rubber stamp's slant (10 degrees), a transparent PNG (the word only in its alpha
    channel over a red square), and a stamp whose lower half is below the head band."""
    turned = with_drawing(TYPED, picture_ops("Stamp", 230, 760, 140, 55, turn=10), {"/Stamp": _picture("ลับมาก")})
    assert reading(turned) == ("secret", True)
    from PIL import Image, ImageOps

    alpha = ImageOps.invert(_picture("ลับมาก", frame=False).convert("L"))
    red = Image.new("RGB", alpha.size, (200, 0, 0))
    masked = with_drawing(TYPED, picture_ops("Stamp", 230, 770, 140, 55), {"/Stamp": (red, alpha)})
    assert reading(masked) == ("secret", True)
    # The head band is the top 20 % of the page (842 pt: from y 673.6); the stamp from 650 to 705.
    across = with_drawing(TYPED, picture_ops("Stamp", 230, 650, 140, 55), {"/Stamp": _picture("ลับที่สุด")})
    assert reading(across) == ("top_secret", True)


@pytest.mark.parametrize("word, level", [("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"), ("สำเนา", "none")])
def test_a_marking_drawn_as_outlines_is_read(word, level):
    """The word converted to curves, filled; and only stroked (its outline drawn)."""
    filled = with_drawing(TYPED, b"0.8 0 0 rg\n" + outline_ops(word, 230, 790, 36) + b"\nf")
    assert reading(filled) == (level, True), word
    stroked = with_drawing(TYPED, b"0.8 0 0 RG 1 w\n" + outline_ops(word, 230, 30, 36) + b"\nS")
    assert reading(stroked) == (level, True), word


def test_a_marking_drawn_in_short_strokes_is_read():
    """A plotter's or a stroke font's letters: each glyph's outline as short polylines of
    three lines each, stroked, none of them a letter on its own."""
    def strokes(word: str, y: float) -> bytes:
        out, contours = [], [[]]
        for op in outline_ops(word, 230, y, 36).decode().splitlines():
            if op == "h":
                contours.append([])
            else:
                contours[-1].append(op.split()[-3:-1])
        for points in contours:
            for k in range(0, len(points) - 1, 3):
                chunk = points[k:k + 4]
                out.append(" ".join(f"{x} {y} {'m' if i == 0 else 'l'}" for i, (x, y) in enumerate(chunk)) + " S")
        return ("0.8 0 0 RG 1.2 w\n" + "\n".join(out)).encode()

    assert reading(with_drawing(TYPED, strokes("ลับมาก", 790))) == ("secret", True)
    assert reading(with_drawing(TYPED, strokes("ลับที่สุด", 30))) == ("top_secret", True)


def test_a_marking_as_a_tiling_patterns_cell_is_read():
    """A rectangle of five segments filled with a pattern whose cell draws the word:
    nothing in the path says letters."""
    for word, level in (("ลับมาก", "secret"), ("", "none")):
        cell = b"0.8 0 0 rg\n" + outline_ops(word, 4, 12, 36) + b"\nf" if word else b"0.8 0 0 rg 0 0 160 50 re f"
        pdf = with_drawing(TYPED, b"/Pattern cs /P1 scn 230 770 160 50 re f",
                           patterns={"/P1": (cell, (0, 0, 160, 50), (1, 0, 0, 1, 230, 770))})
        assert reading(pdf) == (level, True), word


@pytest.mark.parametrize("rotate, head, middle", [
    (90, b"0 1 -1 0 60 300", b"0 1 -1 0 300 300"),
    (180, b"-1 0 0 -1 360 40", b"-1 0 0 -1 360 420"),
    (270, b"0 -1 1 0 540 500", b"0 -1 1 0 300 500")])
def test_a_marking_on_a_turned_page_is_read_at_the_head_it_is_shown_with(rotate, head, middle):
    """/Rotate: the head as shown is another edge of the page in its own space (90: the
    left, 180: the bottom, 270: the right), the word drawn upright as shown."""
    def drawn(matrix: bytes) -> bytes:
        return b"q " + matrix + b" cm 0.8 0 0 rg\n" + outline_ops("ลับมาก", 0, 0, 36) + b"\nf Q"

    assert reading(with_drawing(TYPED, drawn(head), rotate=rotate)) == ("secret", True)
    # In the middle of the turned page: no head or foot, not read there.
    assert reading(with_drawing(TYPED, drawn(middle), rotate=rotate)) == ("none", True)


@pytest.mark.parametrize("subtype", ["/Square", "/FreeText", "/Widget"])
def test_a_picture_as_the_face_of_another_annotation_is_read(subtype):
    """A pushbutton field's image, a Square, a FreeText drawn from a picture: PDFium
    lists the objects of a Stamp's or an Ink's appearance only; flattened, they are the
    page's and read with it."""
    assert reading(with_picture_stamp(TYPED, "ลับมาก", subtype=subtype)) == ("secret", True)
    assert reading(with_picture_stamp(TYPED, "ลับที่สุด", rect=(230, 20, 370, 75), subtype=subtype)) \
        == ("top_secret", True)


def test_a_templates_emblem_logo_and_bars_stay_ordinary_and_are_read_once():
    """The Garuda emblem, a letterhead picture with the office's name, a coloured bar and
    table rules in the head: no marking; and the next letter from the same template,
    other text under the same drawings, costs no OCR."""
    runs = []
    ocr = scanned_pages._ocr

    def counted(*args, **kwargs):
        runs.append(args[1].size)
        return ocr(*args, **kwargs)

    template = (picture_ops("Garuda", 270, 760, 55, 60) + b" " + picture_ops("Name", 60, 700, 200, 40)
                + b" 0.2 0.3 0.6 rg 40 815 515 12 re f 0 G 0.5 w 40 690 m 555 690 l S 40 686 m 555 686 l S")
    pictures = {"/Garuda": _emblem(), "/Name": _picture("สำนักงานเขตลาดกระบัง", (900, 160), frame=False)}
    first = with_drawing(TYPED, template, pictures)
    other = with_drawing(thai_pdf(["", "", "ที่ กท ๐๔๐๗/๙๙", "เรื่อง ขอเชิญประชุม", "เรียน ผู้อำนวยการเขต"]), template, pictures)
    scanned_pages_ocr = pytest.MonkeyPatch()
    scanned_pages_ocr.setattr(scanned_pages, "_ocr", counted)
    try:
        assert reading(first) == ("none", True)
        assert runs, "the template's drawings were not read"
        read = len(runs)
        assert reading(other) == ("none", True)
        assert len(runs) == read, "the same template read again"
    finally:
        scanned_pages_ocr.undo()


def test_a_plain_typed_letter_draws_nothing_to_read(monkeypatch):
    """A page with only text (and thin rules) is not drawn: no cost on ordinary letters."""
    def no_ocr(*_args, **_kwargs):
        raise AssertionError("OCR of a page that draws only text")

    monkeypatch.setattr(scanned_pages, "_ocr", no_ocr)
    ruled = with_drawing(TYPED, b"0 G 0.5 w 40 700 m 555 700 l S 40 60 m 555 60 l S")
    assert reading(ruled) == ("none", True)
    assert inspect_pdf(TYPED).error is None


def test_drawings_past_the_pdfs_time_or_count_leave_it_uncertain(monkeypatch):
    """A PDF drawing something new in the head of every page: past MAX_DRAWINGS crops
    (or DRAWINGS_TIME of OCR) it is said not read, and the letter is at least ลับ."""
    from pypdf import PdfReader, PdfWriter

    pages = PdfWriter()
    for n in range(6):
        one = with_drawing(TYPED, b"0.8 0 0 rg\n" + outline_ops("ก" * (n + 1), 230, 790, 36) + b"\nf")
        pages.append(PdfReader(io.BytesIO(one)))
    out = io.BytesIO()
    pages.write(out)
    monkeypatch.setattr(scanned_pages, "MAX_DRAWINGS", 4)
    info = inspect_pdf(out.getvalue())
    assert info.error and "drawings" in info.error
    monkeypatch.setattr(scanned_pages, "_crops_read", {})
    level, certain = reading(out.getvalue())
    assert level != "none" and not certain
    monkeypatch.setattr(scanned_pages, "MAX_DRAWINGS", 160)
    monkeypatch.setattr(scanned_pages, "_crops_read", {}, raising=False)
    assert reading(out.getvalue()) == ("none", True)
    # Past the PDF's time for its drawings.
    monkeypatch.setattr(scanned_pages, "_crops_read", {})
    monkeypatch.setattr(scanned_pages, "DRAWINGS_TIME", 0.0)
    info = inspect_pdf(out.getvalue())
    assert info.error and "not read within 0 s" in info.error and "drawings" in info.error


def test_a_filled_form_of_twenty_pages_is_read_whole_and_stays_ordinary(monkeypatch):
    """EU DSS's signed, filled tax form (20 pages of boxes and shaded fields in every
    head and foot, 40 crops): all read, no marking. ~16 s of reading on a quiet machine
    (80 Tesseract runs; 160 and ~27 s before session 47, past DRAWINGS_TIME): the PDF's
    time is raised here, since the suite runs four files at once on two cores."""
    from tests.paths import shared_path

    monkeypatch.setattr(scanned_pages, "DRAWINGS_TIME", 300.0)

    data = (shared_path("corpus", "pdf", "signature-trial") / "dss_pades-signed-filled-form.pdf").read_bytes()
    info = inspect_pdf(data)
    assert info.error is None
    assert reading(data) == ("none", True)


def test_the_walks_kinds_are_pdfiums():
    import pypdfium2.raw as pdfium_c

    assert (scanned_pages._IMAGE, scanned_pages._SHADING, scanned_pages._PATH, scanned_pages._TEXT,
            scanned_pages._FORM) == (pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_SHADING,
                                     pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_TEXT, pdfium_c.FPDF_PAGEOBJ_FORM)


def test_a_pdf_drawing_more_objects_than_are_looked_at_is_uncertain(monkeypatch):
    """58 KB of PDF: 30 pages sharing one content stream of 20,000 small squares in the
    head. Past MAX_PDF_OBJECTS looked at (1,000,000: ~2.6 s of paths; 400,000 here) the
    PDF is said not read; before session 34 such a PDF of 70 pages took ~4 s to walk
    and was read as ordinary. (100,000 and 8 pages here: with 400,000 and 30 pages,
    CI's loaded machine reached the 20 s reading deadline first, session 44.)"""
    monkeypatch.setattr(scanned_pages, "MAX_PDF_OBJECTS", 100_000)
    from tests.letters import assemble_pdf, stream_object

    ops = b"".join(b"%d %d 1 1 re f\n" % (20 + (i % 500), 700 + (i // 500) % 100) for i in range(20_000))
    pages = 8
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    pdf = assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
                        stream_object(zlib.compress(ops), b"/Filter /FlateDecode "),
                        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages])
    info = inspect_pdf(pdf)
    assert info.error and "100,000 objects" in info.error
    level, certain = reading(pdf)
    assert level != "none" and not certain


# ------------------------------------------------- session 34's red team over this reading

def test_a_marking_painted_through_its_outlines_by_one_wide_stroke_is_read():
    """The word's outlines as a clipping path, painted by one line of two points 40 pt
    wide: a stroked path of two segments, taken for a rule."""
    head = with_drawing(TYPED, outline_ops("ลับมาก", 230, 790, 36) + b"\nW n\n0.8 0 0 RG 40 w 200 800 m 420 800 l S")
    assert reading(head) == ("secret", True)
    foot = with_drawing(TYPED, outline_ops("ลับที่สุด", 230, 30, 36) + b"\nW n\n0.8 0 0 RG 40 w 200 40 m 420 40 l S")
    assert reading(foot) == ("top_secret", True)


@pytest.mark.parametrize("turn, word, level", [(15, "ลับมาก", "secret"), (45, "ลับที่สุด", "top_secret"),
                                               (90, "ลับที่สุด", "top_secret"), (-30, "ลับ", "confidential")])
def test_a_stamp_put_on_askew_is_read_turned_back(turn, word, level):
    """A rubber stamp's picture put on askew, or standing in the corner: Tesseract bears
    a few degrees; ลับที่สุด was read as nothing from 10."""
    pdf = with_drawing(TYPED, picture_ops("Stamp", 380, 740, 140, 55, turn=turn), {"/Stamp": _picture(word)})
    assert reading(pdf) == (level, True), turn


def test_a_stamp_on_the_row_of_a_letterhead_picture_is_read_alone():
    """A letterhead picture with the office's name and the stamp on one row: one crop
    read one line "สำนักงานเขตลาดกระบัง ลับมาก", no marking alone. Each picture of a
    band is read alone too."""
    logo = _picture("สำนักงานเขตลาดกระบัง", (900, 160), frame=False)
    ops = picture_ops("Logo", 40, 775, 170, 30) + b" " + picture_ops("Stamp", 330, 770, 140, 55)
    assert reading(with_drawing(TYPED, ops, {"/Logo": logo, "/Stamp": _picture("ลับมาก")})) == ("secret", True)
    assert reading(with_drawing(TYPED, ops, {"/Logo": logo, "/Stamp": _picture("สำเนา")})) == ("none", True)


def test_a_small_pages_marking_is_drawn_as_large_as_a_viewer_shows_it():
    """An A7 page (210 x 298 pt) with a 6 pt marking: a viewer fits the page to its
    window; at 150 dpi its letters were 12 pixels and OCR read nothing."""
    from fpdf import FPDF

    pdf = FPDF(format=(74, 105))
    pdf.add_page()
    pdf.add_font("thai", "", str(FONT))
    pdf.set_text_shaping(True)
    pdf.set_font("thai", size=5)
    pdf.set_y(12)
    for line in LINES[2:]:
        pdf.cell(0, 3, line, new_x="LMARGIN", new_y="NEXT")
    small = with_drawing(bytes(pdf.output()), b"0.8 0 0 rg\n" + outline_ops("ลับมาก", 80, 275, 6) + b"\nf")
    assert reading(small) == ("secret", True)


def test_what_the_walk_does_not_look_at_leaves_the_pdf_uncertain(monkeypatch):
    """A stamp after more objects than a page's walk looks at, or in a form nested past
    FORM_DEPTH: not seen, and the PDF was read as ordinary. Now said not read."""
    monkeypatch.setattr(scanned_pages, "MAX_PAGE_OBJECTS", 2_000)
    filler = b"1 g\n" + b"".join(b"%d %d 0.5 0.5 re f\n" % (100 + (i % 400), 300 + (i // 400) % 200)
                                 for i in range(2_500))
    crowded = with_drawing(TYPED, filler + picture_ops("Stamp", 230, 770, 140, 55), {"/Stamp": _picture("ลับมาก")})
    assert "objects on the page" in (inspect_pdf(crowded).error or "")
    level, certain = reading(crowded)
    assert level != "none" and not certain

    assert reading(_nested_stamp(scanned_pages.FORM_DEPTH)) == ("secret", True)
    deep = _nested_stamp(scanned_pages.FORM_DEPTH + 1)
    assert "nested" in (inspect_pdf(deep).error or "")
    level, certain = reading(deep)
    assert level != "none" and not certain


def _nested_stamp(depth: int) -> bytes:
    """TYPED with a ลับมาก stamp picture drawn by `depth` forms, each drawing the next."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(with_drawing(TYPED, b"", {"/Stamp": _picture("ลับมาก")}))))
    page = w.pages[0]
    table = page["/Resources"].get_object()["/XObject"].get_object()
    inner, body, name = table.raw_get("/Stamp"), b"q 140 0 0 55 230 770 cm /Stamp Do Q", "/Stamp"
    for _ in range(depth):
        form = DecodedStreamObject()
        form.set_data(body)
        form.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                     NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (0, 0, 595, 842)]),
                     NameObject("/Resources"): DictionaryObject({NameObject("/XObject"): DictionaryObject(
                         {NameObject(name): inner})})})
        inner, body, name = w._add_object(form), b"/F Do", "/F"
    table[NameObject("/F")] = inner
    last = DecodedStreamObject()
    last.set_data(b"q /F Do Q")
    page[NameObject("/Contents")] = ArrayObject([*page["/Contents"].get_object(), w._add_object(last)])
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_annotations_past_those_read_and_invisible_flags_do_not_hide_a_stamp():
    """200 links, then a Square drawing a ลับมาก picture: those past 200 were taken off
    the page before flattening, in silence. And a Square flagged Invisible, which
    viewers draw (the flag is for kinds they do not know), was left out of flattening."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, NumberObject

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(TYPED)))
    links = [w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (10, 10 + i, 20, 11 + i)]),
        NameObject("/Border"): ArrayObject([NumberObject(0)] * 3)})) for i in range(200)]
    w.pages[0][NameObject("/Annots")] = ArrayObject(links)
    out = io.BytesIO()
    w.write(out)
    linked = out.getvalue()
    assert reading(linked) == ("none", True)  # links alone: nothing a viewer draws past them
    past = with_picture_stamp(linked, "ลับมาก", subtype="/Square", keep=True)
    level, certain = reading(past)
    assert level != "none" and not certain
    assert reading(with_picture_stamp(TYPED, "ลับมาก", subtype="/Square", invisible=True)) == ("secret", True)
    assert reading(with_picture_stamp(TYPED, "ลับมาก", subtype="/Square", hidden=True)) == ("none", True)


def test_a_band_too_heavy_to_draw_is_said_not_read_at_once():
    """One dashed path of 50,000 segments across the head and foot: PDFium took ~1 s a
    page to draw each crop, with no bound (72 KB of PDF, 10 pages: 25 s)."""
    from tests.letters import assemble_pdf, stream_object

    points = b" ".join(b"%d %d l" % (30 + (i * 7) % 530, (700 + (i * 13) % 130) if i % 2 else (20 + (i * 11) % 100))
                       for i in range(50_000))
    ops = b"0 G 0.3 w [0.01 0.01] 0 d 30 700 m " + points + b" S"
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(10))
    pdf = assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count 10 >>",
                        stream_object(zlib.compress(ops), b"/Filter /FlateDecode "),
                        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * 10])
    info = inspect_pdf(pdf)
    assert info.error and "too heavy" in info.error


def test_the_clerk_is_told_a_drawn_stamp_was_not_read_in_words_that_fit_a_typed_page(monkeypatch):
    """The warning said "a scanned page" for a typed letter whose drawn stamp was not
    read; it now names both."""
    from gateway.pipeline.parse import parse_mail
    from rules.checks.unreadable_pdf import UnreadablePdf
    from rules.model import LetterFacts, RuleSettings

    monkeypatch.setattr(scanned_pages, "DRAWINGS_TIME", 0.0)
    pdf = with_drawing(TYPED, picture_ops("Stamp", 230, 770, 140, 55), {"/Stamp": _picture("ลับมาก")})
    mail = parse_mail(letter(files=[("2569_dds_0403_57.pdf", pdf)]))
    warned = [f for f in UnreadablePdf().check(mail, LetterFacts(), RuleSettings()) if f.verdict == "warn"]
    assert warned and "drawn as a picture" in warned[0].message_en and "ตราที่เป็นภาพ" in warned[0].message_th


# ------------------------------------------------- the second red team of session 34

def _photo():
    from PIL import Image, ImageFilter

    photo = Image.new("RGB", (600, 300))
    pixels = photo.load()
    for y in range(300):
        for x in range(600):
            pixels[x, y] = (100 + (x * 7 + y * 3) % 100, 90 + (x * y) % 80, 120 + (y * 5) % 90)
    return photo.filter(ImageFilter.GaussianBlur(3))


@pytest.mark.parametrize("word, level", [("ลับมาก", "secret"), ("ลับ", "confidential")])
def test_a_stamp_turned_in_its_own_pixels_is_read_by_its_rows_slant(word, level):
    """A stamp cut from a scan and pasted upright: its picture is not turned by the page,
    its pixels are (12 degrees). The rows' slant turns it back."""
    turned = _picture(word).rotate(12, expand=True, fillcolor="white")
    pdf = with_drawing(TYPED, picture_ops("Stamp", 230, 750, 150, 75), {"/Stamp": turned})
    assert reading(pdf) == (level, True)


def test_a_stamp_over_the_emblem_or_beside_a_letterhead_and_one_over_a_photo_is_read():
    """A ลับมาก pasted over the Garuda emblem (top centre, where the marking goes); the
    word as outlines on the row of a letterhead picture; a framed ลับ and a turned ลับมาก
    over a photo in the head. Each drawing of a busy band is read without the others."""
    over = with_drawing(TYPED, picture_ops("Garuda", 262, 752, 70, 80) + b" " + picture_ops("Stamp", 240, 775, 115, 45),
                        {"/Garuda": _emblem(), "/Stamp": _picture("ลับมาก")})
    assert reading(over) == ("secret", True)
    logo = _picture("สำนักงานเขตลาดกระบัง", (900, 160), frame=False)
    beside = with_drawing(TYPED, picture_ops("Logo", 40, 775, 170, 30) + b" 0.8 0 0 rg\n"
                          + outline_ops("ลับมาก", 330, 780, 30) + b"\nf", {"/Logo": logo})
    assert reading(beside) == ("secret", True)
    for word, turn, level in (("ลับ", 0, "confidential"), ("ลับมาก", 12, "secret")):
        photo = with_drawing(TYPED, picture_ops("Photo", 150, 740, 300, 90) + b" "
                             + picture_ops("Stamp", 230, 760, 140, 55, turn=turn), {"/Photo": _photo(), "/Stamp": _picture(word)})
        assert reading(photo) == (level, True), word


def test_photos_in_the_head_are_read_once_each(monkeypatch):
    """A newsletter's photos, tilted a few degrees, in the head of eight pages: every
    retry (frames, turns, slants) on every photo cost 44 Tesseract runs a page and the
    PDF its 10 s. A photo is read once, and stays ordinary."""
    from pypdf import PdfReader, PdfWriter

    runs = []
    ocr = scanned_pages._ocr
    monkeypatch.setattr(scanned_pages, "_ocr", lambda *a, **k: runs.append(1) or ocr(*a, **k))
    pages = PdfWriter()
    for n in range(4):
        photo = _photo().rotate(3 + n, expand=True, fillcolor="white")
        pages.append(PdfReader(io.BytesIO(with_drawing(TYPED, picture_ops("Photo", 60, 730, 200, 100, turn=-6 + n)
                                                       + b" " + picture_ops("Other", 330, 730, 200, 100, turn=5 - n),
                                                       {"/Photo": photo, "/Other": _photo()}))))
    out = io.BytesIO()
    pages.write(out)
    info = inspect_pdf(out.getvalue())
    assert info.error is None and not any(info.other_texts)
    assert len(runs) <= 4 * 3 * 2  # a page: the band, and each photo alone; at most one retry each


def test_a_page_whose_objects_cannot_be_listed_leaves_the_pdf_uncertain(monkeypatch):
    """A failure inside the walk (a PDFium call refusing a hostile object) is no crash of
    the reading and no ordinary letter: the PDF is said not read."""
    def broken(_page, _budget=None):
        raise OSError("PDFium refused an object")

    monkeypatch.setattr(scanned_pages, "page_objects", broken)
    info = inspect_pdf(TYPED)
    assert info.error and "could not be listed" in info.error
    level, certain = reading(TYPED)
    assert level != "none" and not certain


@pytest.mark.parametrize("word, rect, level", [("ลับ", (230, 790, 300, 817), "confidential"),
                                               ("ลับมาก", (230, 400, 370, 455), "secret")])
def test_a_picture_stamp_annotation_is_read_as_a_drawing_is(word, rect, level):
    """Acrobat's picture stamps are read by the drawings' own reading (remembered, the
    frame's lines taken off, turned back): a small framed ลับ at the head, and a stamp in
    the middle of the page, where a stamp annotation is read too."""
    assert reading(with_picture_stamp(TYPED, word, rect=rect)) == (level, True)
