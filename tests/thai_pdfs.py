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
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for font in writer.pages[0]["/Resources"]["/Font"].values():
        cmap = font.get_object()["/ToUnicode"].get_object()
        text = cmap.get_data().decode("latin-1")
        # ่ ้ ๊ ๋ ์ -> their low/left-shifted PUA forms
        for mark, pua in (("0E48", "F70A"), ("0E49", "F70B"), ("0E4A", "F70C"), ("0E4B", "F70D"), ("0E4C", "F70E")):
            text = re.sub(rf"> <{mark}>", f"> <{pua}>", text)
        cmap.set_data(text.encode("latin-1"))
    writer.add_metadata({NameObject("/Producer"): TextStringObject("Microsoft® Word 2016")})
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
