"""Where Word, Excel and PowerPoint show a marking that the gateway did not read, or read
with its certainty kept when it had read only part of the file (red team of session 38).

Each case was read as no marking, certain, before session 38: a ลับมาก letter so marked
went into the general register and was filed in plain text
(gateway/pipeline/file_texts.py; docs/secrecy.md "Since session 38"):

1. Excel's header and footer colour codes (`&KFF0000`, what Excel writes for a red
   header, and a theme colour `&K01+000`) read as part of the text ("FF0000ลับที่สุด");
2. parts past the first 100 of a kind were dropped silently (slide 101, a master after
   100 slides and notes, sheet 101, a diagram after 102 chart parts); now a file's
   parts are read to MAX_PARTS (what every slide shows first), and past it the file is
   not certain (at least ลับ);
3. parts found only by their usual names (a layout or notes page named otherwise, a
   macro sheet), or whose stored name differs in case from the relationship's target;
4. a chart's title kept as a value (`c:strCache`), a content control showing the
   document's title (docProps/core.xml), a sheet saved as UTF-16, a formula saved with
   no value;
5. two parts of one name (which one is opened is the application's choice): not certain.

Each case is read through the DATA check's reading (`classify_raw` -> parse_mail ->
file_texts.read_texts); two go through the daemon (tests/hostile/markings_cases.py)."""
from __future__ import annotations

import io
import time
import warnings
import zipfile

from gateway.pipeline import file_texts
from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _zip
from tests.secrecy.test_office_hidden_session36 import S, W, reading, rels
from tests.secrecy.test_office_visible_session37 import paragraphs, word_comments, word_file

P = ('xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
     'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"')
C = ('xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
     'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"')
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TOP = ("top_secret", True)
ORDINARY = ("none", True)
UNCERTAIN = ("confidential", False)


# --------------------------------------------------------------------------- builders

def slide(lines: list[str], root: str = "sld") -> str:
    runs = "".join(f"<a:p><a:r><a:t>{line}</a:t></a:r></a:p>" for line in lines)
    return f"<p:{root} {P}><p:cSld><p:spTree><p:sp><p:txBody>{runs}</p:txBody></p:sp></p:spTree></p:cSld></p:{root}>"


def deck(parts: dict[str, str | bytes]) -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": f"<p:presentation {P}/>".encode(),
                 **{n: d if isinstance(d, bytes) else d.encode() for n, d in parts.items()}})


def sheet(cells: str = "", head: str = "") -> str:
    foot = f"<headerFooter><oddHeader>{head}</oddHeader></headerFooter>" if head else ""
    return f"<worksheet {S}><sheetData>{cells}</sheetData>{foot}</worksheet>"


def inline(text: str) -> str:
    return f'<row r="1"><c r="A1" t="inlineStr"><is><t>{text}</t></is></c></row>'


def book(first: str | bytes, parts: dict[str, str | bytes] | None = None) -> bytes:
    strings = "".join(f"<si><t>{line}</t></si>" for line in LETTER_LINES)
    members = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": f"<workbook {S}/>",
               "xl/sharedStrings.xml": f"<sst {S}>{strings}</sst>", "xl/worksheets/sheet1.xml": first, **(parts or {})}
    return _zip({n: d if isinstance(d, bytes) else d.encode() for n, d in members.items()})


def chart(title: str, kind: str = "strCache") -> str:
    return (f'<c:chartSpace {C}><c:chart><c:title><c:tx><c:strRef><c:f>Sheet1!$A$1</c:f><c:{kind}>'
            f'<c:ptCount val="1"/><c:pt idx="0"><c:v>{title}</c:v></c:pt></c:{kind}></c:strRef></c:tx></c:title>'
            f'</c:chart></c:chartSpace>')


def docx_file(lines: list[str], parts: dict[str, bytes] | None = None,
              targets: tuple[tuple[str, str], ...] = ()) -> bytes:
    return word_file(paragraphs(lines), parts, targets)


# --------------------------------------------------------------------------- 1. header codes

def test_excel_header_colour_and_font_codes_are_codes_not_text():
    for head in ("&amp;C&amp;KFF0000ลับที่สุด", "&amp;C&amp;K01+000ลับที่สุด", "&amp;C&amp;K0e-050ลับที่สุด",
                 '&amp;C&amp;"TH SarabunPSK,Bold"&amp;20&amp;KFF0000ลับที่สุด&amp;R&amp;P'):
        assert reading(("a.xlsx", book(sheet(head=head)))) == TOP, head
    # A code inside a word is formatting on the same line, not a new line (review of session 38).
    for head in ("&amp;C&amp;K000000ลั&amp;Kffffffบที่สุด", "&amp;Cลับ&amp;Bที่สุด&amp;B", "&amp;Lลับ&amp;14ที่สุด"):
        assert reading(("a.xlsx", book(sheet(head=head)))) == TOP, head
    # A red page number is ordinary.
    assert reading(("a.xlsx", book(sheet(head="&amp;C&amp;KFF0000หน้า &amp;P จาก &amp;N")))) == ORDINARY


# --------------------------------------------------------------------------- 2. caps

def test_parts_past_the_first_hundred_are_read():
    slides = {f"ppt/slides/slide{n}.xml": slide(LETTER_LINES if n < 101 else ["ลับที่สุด", *LETTER_LINES])
              for n in range(1, 102)}
    assert reading(("a.pptx", deck(slides))) == TOP
    noted = {f"ppt/slides/slide{n}.xml": slide(LETTER_LINES) for n in range(1, 51)}
    noted |= {f"ppt/notesSlides/notesSlide{n}.xml": slide(["หมายเหตุผู้บรรยาย"], "notes") for n in range(1, 51)}
    assert reading(("a.pptx", deck(noted | {"ppt/slideMasters/slideMaster1.xml": slide(["ลับที่สุด"], "sldMaster")}))) == TOP
    sheets = {f"xl/worksheets/sheet{n}.xml": sheet() for n in range(2, 101)}
    assert reading(("a.xlsx", book(sheet(), sheets | {"xl/worksheets/sheet101.xml": sheet(inline("ลับที่สุด"))}))) == TOP
    charts = {f"ppt/charts/{k}{n}.xml": f"<c:chartSpace {C}/>" for n in range(1, 35) for k in ("chart", "colors", "style")}
    smart = ('<dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" '
             'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst><dgm:pt><dgm:t><a:p><a:r>'
             '<a:t>ลับที่สุด</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>')
    assert reading(("a.pptx", deck({"ppt/slides/slide1.xml": slide(LETTER_LINES), **charts,
                                    "ppt/diagrams/data1.xml": smart}))) == TOP
    # The same, ordinary, read whole: ordinary and certain.
    assert reading(("a.pptx", deck({f"ppt/slides/slide{n}.xml": slide(LETTER_LINES) for n in range(1, 102)}))) \
        == ORDINARY


def test_parts_past_the_cap_make_the_file_not_certain():
    many = {f"ppt/slides/slide{n}.xml": slide(["แผนการปฏิบัติงาน"]) for n in range(1, file_texts.MAX_PARTS + 2)}
    started = time.process_time()
    assert reading(("a.pptx", deck(many))) == UNCERTAIN
    assert time.process_time() - started < 10
    out = file_texts.read_texts(deck(many), None, "application/octet-stream", "a.pptx", "application/zip", what="file 2")
    assert out.unread == [f"file 2: members past the first {file_texts.MAX_PARTS}"]


# --------------------------------------------------------------------------- 3. names

def test_parts_are_found_by_relationships_by_any_name_and_by_their_root():
    layout = deck({"ppt/_rels/presentation.xml.rels": rels(("slideMaster", "slideMasters/slideMaster1.xml"),
                                                          ("slide", "slides/slide1.xml")),
                   "ppt/slides/slide1.xml": slide(LETTER_LINES),
                   "ppt/slideMasters/slideMaster1.xml": slide(["หัวเรื่อง"], "sldMaster"),
                   "ppt/slideMasters/_rels/slideMaster1.xml.rels": rels(("slideLayout", "../slideLayouts/layoutA.xml")),
                   "ppt/slides/_rels/slide1.xml.rels": rels(("slideLayout", "../slideLayouts/layoutA.xml")),
                   "ppt/slideLayouts/layoutA.xml": slide(["ลับที่สุด"], "sldLayout")})
    assert reading(("a.pptx", layout)) == TOP
    notes = deck({"ppt/slides/slide1.xml": slide(LETTER_LINES),
                  "ppt/slides/_rels/slide1.xml.rels": rels(("notesSlide", "../notes/n1.xml")),
                  "ppt/notes/n1.xml": slide(["ลับที่สุด"], "notes")})
    assert reading(("a.pptx", notes)) == TOP
    macro = (f'<xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main" {S}><sheetData>'
             f'{inline("ลับที่สุด")}</sheetData></xm:macrosheet>')
    assert reading(("a.xlsm", book(sheet(), {"xl/_rels/workbook.xml.rels": rels(("xlMacrosheet", "macrosheets/m.xml")),
                                             "xl/macrosheets/m.xml": macro}))) == TOP


def test_part_names_are_matched_whatever_their_case():
    header = f"<w:hdr {W}>{paragraphs(['ลับที่สุด'])}</w:hdr>".encode()
    body = paragraphs(LETTER_LINES) + f'<w:sectPr><w:headerReference w:type="default" r:id="rId10" xmlns:r="{REL}"/></w:sectPr>'
    assert reading(("a.docx", word_file(body, {"word/Header1.xml": header}, (("header", "header1.xml"),)))) == TOP
    assert reading(("a.docx", docx_file(LETTER_LINES, {"word/Comments.xml": word_comments("ลับที่สุด")},
                                        (("comments", "comments.xml"),)))) == TOP


# --------------------------------------------------------------------------- 4. values

def test_chart_values_document_title_utf16_sheets_and_formulas_are_read():
    for kind in ("strCache", "strLit"):
        assert reading(("a.docx", docx_file(LETTER_LINES, {"word/charts/chart1.xml": chart("ลับที่สุด", kind).encode()}))) \
            == TOP, kind
    assert reading(("a.docx", docx_file(LETTER_LINES, {"word/charts/chart1.xml": chart("ยอดเบิกจ่าย 2569").encode()}))) \
        == ORDINARY
    core = ('<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title><dc:creator>สมชาย</dc:creator>'
            '</cp:coreProperties>')
    assert reading(("a.docx", docx_file(LETTER_LINES, {"docProps/core.xml": core.format("ลับที่สุด").encode()}))) == TOP
    assert reading(("a.docx", docx_file(LETTER_LINES, {"docProps/core.xml": core.format("บันทึกข้อความ").encode()}))) \
        == ORDINARY
    utf16 = f'<?xml version="1.0" encoding="UTF-16"?>{sheet(inline("ลับที่สุด"))}'
    assert reading(("a.xlsx", book(b"\xff\xfe" + utf16.encode("utf-16-le")))) == TOP
    formula = '<row r="1"><c r="A1" t="str"><f>{}</f></c></row>'
    assert reading(("a.xlsx", book(sheet(formula.format('"ลับ"&amp;"ที่สุด"'))))) == TOP
    assert reading(("a.xlsx", book(sheet(formula.format('IF(B1&gt;0,"ลับ","")'))))) == ("confidential", True)
    assert reading(("a.xlsx", book(sheet(formula.format('IF(B1&gt;0,"ผ่าน","ไม่ผ่าน")'))))) == ORDINARY


# --------------------------------------------------------------------------- 5. two of one name

def test_two_parts_of_one_name_make_the_file_not_certain():
    def twice(first: list[str], second: str) -> bytes:
        out = io.BytesIO()
        with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as z:
            warnings.simplefilter("ignore")
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("word/document.xml", f"<w:document {W}><w:body>{paragraphs(first)}</w:body></w:document>")
            z.writestr(second, f"<w:document {W}><w:body>{paragraphs(LETTER_LINES)}</w:body></w:document>")
        return out.getvalue()
    # Read with the last one, the first's ลับที่สุด was no marking.
    assert reading(("a.docx", twice(["ลับที่สุด", *LETTER_LINES], "word/document.xml"))) == UNCERTAIN
    # Names equal but for case: which one Word opens is Word's choice.
    assert reading(("a.docx", twice(LETTER_LINES, "Word/Document.xml"))) == UNCERTAIN
    assert reading(("a.docx", twice(["ลับที่สุด", *LETTER_LINES], "Word/Document.xml")))[0] == "top_secret"
