"""Thai letters as PDFs from the producers senders use, with the text layers they make.

- "plain": fpdf2 without shaping: the text layer is the text.
- "shaped": fpdf2 with HarfBuzz shaping, as LibreOffice and other shaping producers
  lay Thai out: SARA AM (ำ) becomes two glyphs and only one maps back, so the text
  layer reads "ผู้อำ$นวยการ".
- "word": the tone marks mapped to the Thai Private Use Area glyphs (U+F70A...) as
  Word does with the shifted marks of Windows Thai fonts: the text layer reads
  "ผู\uf70bอำนวยการ".
"""
from __future__ import annotations

import io
import re
import subprocess
import tempfile
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
PRODUCERS = ("plain", "shaped", "word")


def thai_pdf(lines: list[str], producer: str = "shaped") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("thai", "", str(FONT))
    if producer == "shaped":
        pdf.set_text_shaping(True)
    pdf.set_font("thai", size=14)
    for line in lines:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    data = bytes(pdf.output())
    return _word_style(data) if producer == "word" else data


def _word_style(data: bytes) -> bytes:
    # ่ ้ ๊ ๋ ์ -> their low/left-shifted PUA forms
    marks = {"\u0e48": "\uf70a", "\u0e49": "\uf70b", "\u0e4a": "\uf70c", "\u0e4b": "\uf70d", "\u0e4c": "\uf70e"}
    return remap_text_layer(data, marks, producer="Microsoft® Word 2016")


def remap_text_layer(data: bytes, mapping: dict[str, str], producer: str | None = None) -> bytes:
    """`data` with the first page's ToUnicode maps changed: each glyph that read as a key
    of `mapping` reads as its value (one character each), the page drawn as before. What
    a producer (or an attacker) can make a text layer say: "~" read as U+202E."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for font in writer.pages[0]["/Resources"]["/Font"].values():
        cmap = font.get_object()["/ToUnicode"].get_object()
        text = cmap.get_data().decode("latin-1")
        for char, replacement in mapping.items():
            text = re.sub(rf"> <{ord(char):04X}>", f"> <{ord(replacement):04X}>", text)
        cmap.set_data(text.encode("latin-1"))
    if producer:
        writer.add_metadata({NameObject("/Producer"): TextStringObject(producer)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pypdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(data)).pages[0].extract_text()


def pdftotext(data: bytes, layout: bool = True) -> str:
    """poppler's reading of the same file: the second extractor to cross-check with.
    Without layout, a table's cells come out column by column, each cell whole."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        return subprocess.run(["pdftotext", *(["-layout"] if layout else []), f.name, "-"], capture_output=True, text=True,
                              check=True, timeout=60).stdout


def scanned_pdf(lines: list[str], stamp: str = "", dpi: int = 200, text_layer: str = "", note: str = "",
                urgent: str = "") -> bytes:
    """A Thai letter as a scanner sends it: each page one picture (JPEG), no text layer.
    `stamp` ("ลับมาก"): the secrecy stamp, red, at the head and the foot of the page,
    as the regulation puts it; the scan slightly turned and blurred, as paper is.
    `text_layer`: invisible text over the picture, as a scanning app's OCR writes it;
    `note`: a typed Thai line laid over the middle of the scan (a forwarding note);
    `urgent` ("ด่วนที่สุด"): the urgency stamp, red, at the top left."""
    import pypdfium2 as pdfium
    from fpdf import FPDF
    from PIL import ImageFilter

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.add_font("thai", "", str(FONT))
    pdf.set_text_shaping(True)
    if urgent:
        pdf.set_font("thai", size=24)
        pdf.set_text_color(200, 0, 0)
        pdf.cell(0, 12, urgent, new_x="LMARGIN", new_y="NEXT")
    if stamp:
        pdf.set_font("thai", size=28)
        pdf.set_text_color(200, 0, 0)
        pdf.cell(0, 14, stamp, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("thai", size=16)
    for line in lines:
        pdf.cell(0, 9, line, new_x="LMARGIN", new_y="NEXT")
    if stamp:
        pdf.set_y(-30)
        pdf.set_font("thai", size=28)
        pdf.set_text_color(200, 0, 0)
        pdf.cell(0, 14, stamp, align="C")
    page = pdfium.PdfDocument(bytes(pdf.output()))[0]
    image = page.render(scale=dpi / 72).to_pil().convert("RGB")
    image = image.rotate(0.7, fillcolor="white").filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    if not (text_layer or note):
        image.save(out, "PDF", resolution=dpi, quality=70)
        return out.getvalue()
    from fpdf.enums import TextMode

    scan = FPDF()
    scan.set_auto_page_break(False)
    scan.add_page()
    scan.image(image, x=0, y=0, w=scan.w, h=scan.h)
    if note:
        scan.add_font("thai", "", str(FONT))
        scan.set_font("thai", size=14)
        scan.text(20, 150, note)
    if text_layer and re.search("[ก-๛]", text_layer):
        # A Thai OCR program's layer, in the head and the foot, where it misread the stamp.
        scan.add_font("thai", "", str(FONT))
        scan.set_font("thai", size=12)
        scan.text_mode = TextMode.INVISIBLE
        scan.text(20, 40, text_layer)
        scan.text(20, 285, text_layer)
    elif text_layer:
        scan.set_font("helvetica", size=10)
        scan.text_mode = TextMode.INVISIBLE
        scan.text(20, 40, text_layer)
    return bytes(scan.output())


def with_picture_stamp(pdf: bytes, word: str, rect=(230, 770, 370, 825), hidden: bool = False,
                       nested: bool = False, keep: bool = False, subtype: str = "/Stamp",
                       invisible: bool = False) -> bytes:
    """`pdf` with a Stamp annotation on page 1 drawn from a picture of `word` in a red
    frame, as Acrobat's Stamp tool puts a custom image stamp ("ลับ" made as a picture).
    `nested`: the picture drawn by a form the appearance draws (`/FRM Do`, as Acrobat
    keeps a custom stamp); `keep`: added to the page's annotations, not instead of them;
    `subtype`: another annotation drawn from the picture ("/Square", "/FreeText", or
    "/Widget": a pushbutton field whose face is the picture); `invisible`: flagged
    Invisible (1), which a viewer heeds only for a kind of annotation it does not know."""
    import zlib

    from PIL import Image, ImageDraw, ImageFont
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject,
                               NumberObject, StreamObject)

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    font = ImageFont.truetype(str(FONT), 90)
    img = Image.new("RGB", (420, 160), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((4, 4, 415, 155), outline=(200, 0, 0), width=6)
    d.text((210, 80), word, font=font, fill=(200, 0, 0), anchor="mm")
    image = StreamObject()
    image._data = zlib.compress(img.tobytes())
    image.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
                  NameObject("/Width"): NumberObject(img.width), NameObject("/Height"): NumberObject(img.height),
                  NameObject("/ColorSpace"): NameObject("/DeviceRGB"), NameObject("/BitsPerComponent"): NumberObject(8),
                  NameObject("/Filter"): NameObject("/FlateDecode")})
    image_ref = w._add_object(image)
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    ap = DecodedStreamObject()
    ap.set_data(f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q".encode())
    ap.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
               NameObject("/BBox"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(width), NumberObject(height)]),
               NameObject("/Resources"): DictionaryObject({NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): image_ref})})})
    ap_ref = w._add_object(ap)
    if nested:
        outer = DecodedStreamObject()
        outer.set_data(b"q 1 0 0 1 0 0 cm /FRM Do Q")
        outer.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                      NameObject("/BBox"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(width),
                                                        NumberObject(height)]),
                      NameObject("/Resources"): DictionaryObject({NameObject("/XObject"): DictionaryObject(
                          {NameObject("/FRM"): ap_ref})})})
        ap_ref = w._add_object(outer)
    annot = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject(subtype),
                              NameObject("/Rect"): ArrayObject([FloatObject(v) for v in rect]),
                              NameObject("/F"): NumberObject(4 | (2 if hidden else 0) | (1 if invisible else 0)),
                              NameObject("/AP"): DictionaryObject({NameObject("/N"): ap_ref})})
    if subtype == "/Widget":
        from pypdf.generic import TextStringObject

        annot.update({NameObject("/FT"): NameObject("/Btn"), NameObject("/Ff"): NumberObject(1 << 16),
                      NameObject("/T"): TextStringObject("stamp")})
    kept = list(w.pages[0].get("/Annots", [])) if keep else []
    annot_ref = w._add_object(annot)
    w.pages[0][NameObject("/Annots")] = ArrayObject([*kept, annot_ref])
    if subtype == "/Widget":
        w._root_object[NameObject("/AcroForm")] = DictionaryObject({NameObject("/Fields"): ArrayObject([annot_ref])})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
