"""A PDF typed in an old 8-bit Thai font without a /ToUnicode map is read as the Thai
a viewer draws (session 41's red team).

Pre-Unicode Thai fonts put each glyph at its TIS-620 code; a PDF that embeds such a
font with no /ToUnicode map draws Thai in every viewer while its text layer holds the
Latin-1 letters of the same codes ("ÅÑºÁÒ¡" for ลับมาก): the copy-paste garbage Thai
users know. Not control characters, so the page was no candidate for OCR either, and
a ลับมาก letter so typed was filed ordinary and certain. A line whose characters are
mostly those letters is now read as TIS-620 too (`pdf_inspect.legacy_thai_reading`)."""
from __future__ import annotations

import io

import pypdfium2
import pytest
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._c_m_a_p import cmap_format_4

from gateway.pipeline.pdf_inspect import legacy_thai_reading
from gateway.secrecy.markings import classify_raw
from tests.letters import assemble_pdf, letter
from tests.thai_pdfs import FONT


def _legacy_font() -> tuple[bytes, bytes]:
    """(a TrueType font whose glyphs sit at 0xF000 + their TIS-620 code, as pre-Unicode
    Thai fonts were built; its /Widths from 32 to 255)."""
    font = TTFont(str(FONT))
    best = font.getBestCmap()
    mapping = {}
    for code in range(0x20, 0x100):
        try:
            char = bytes([code]).decode("cp874")
        except UnicodeDecodeError:
            continue
        if ord(char) in best:
            mapping[0xF000 + code] = best[ord(char)]
    table = cmap_format_4(4)
    table.platformID, table.platEncID, table.language, table.cmap = 3, 0, 0, mapping
    font["cmap"].tables = [table]
    for layout in ("GSUB", "GPOS"):
        if layout in font:
            del font[layout]
    out = io.BytesIO()
    font.save(out)
    units, metrics = font["head"].unitsPerEm, font["hmtx"]
    widths = b" ".join(b"%d" % (metrics[mapping[0xF000 + c]][0] * 1000 // units if 0xF000 + c in mapping else 0)
                       for c in range(32, 256))
    return out.getvalue(), widths


def _pdf(lines: list[tuple[str, str, int, int, int]]) -> bytes:
    """(text, font F1 legacy / F2 Helvetica, size, x, y) per line."""
    font, widths = _legacy_font()

    def shown(text: str, name: str) -> bytes:
        raw = text.encode("cp874" if name == "F1" else "latin-1")
        return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    ops = b"".join(b"BT /%s %d Tf %d %d Td (" % (name.encode(), size, x, y) + shown(text, name) + b") Tj ET\n"
                   for text, name, size, x, y in lines)
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 8 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream",
        b"<< /Type /Font /Subtype /TrueType /BaseFont /LegacyThai /FirstChar 32 /LastChar 255 /Widths ["
        + widths + b"] /FontDescriptor 6 0 R >>",
        b"<< /Type /FontDescriptor /FontName /LegacyThai /Flags 4 /FontBBox [-500 -500 1500 1200] /ItalicAngle 0 "
        b"/Ascent 1000 /Descent -300 /CapHeight 700 /StemV 80 /FontFile2 7 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(font) + font + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"], header=b"%PDF-1.4\n")


def _classified(pdf: bytes):
    return classify_raw(letter(subject="แผนงาน", body="ส่งแผนงานมาเพื่อทราบ", files=[("letter.pdf", pdf)]))


def test_a_letter_typed_in_a_legacy_font_is_read_as_its_thai():
    pdf = _pdf([("ลับมาก", "F1", 28, 250, 790), ("ที่ กท ๐๔๐๗", "F1", 16, 60, 740),
                ("เรื่อง การประชุมคณะกรรมการ", "F1", 16, 60, 715), ("ลับมาก", "F1", 28, 250, 40)])
    layer = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "ÅÑºÁÒ¡" in layer and "ลับ" not in layer  # what the viewer's text layer holds
    found = _classified(pdf)
    assert (found.level, found.certain) == ("secret", True), found


def test_only_the_stamp_in_a_legacy_font_on_an_english_page():
    pdf = _pdf([("ลับมาก", "F1", 28, 250, 790), ("Meeting of the district committee, agenda attached", "F2", 12, 60, 740),
                ("Please find the minutes of the last meeting enclosed.", "F2", 12, 60, 715)])
    assert _classified(pdf).level == "secret"


def test_a_page_in_german_or_french_is_not_read_as_thai():
    pdf = _pdf([("Sehr geehrte Damen und Herren, für Ihre Bestätigung danken wir.", "F2", 12, 60, 790),
                ("Cañón à la française: élève été déjà", "F2", 12, 60, 740)])
    assert (_classified(pdf).level, _classified(pdf).certain) == ("none", True)


@pytest.mark.parametrize("text, expected", [
    ("ÅÑºÁÒ¡\nDear Sir", "ลับมาก\nDear Sir"),
    ("Sehr geehrte Damen und Herren, für Ihre Bestätigung", None),
    ("été", None),  # fewer than three such letters on the line
    ("plain ASCII", None),
])
def test_legacy_thai_reading(text, expected):
    assert legacy_thai_reading(text) == expected
