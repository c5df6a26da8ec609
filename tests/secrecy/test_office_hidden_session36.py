"""Markings an Office application shows that the gateway did not read (red team of session 36).

Three shapes, each read as no marking until session 36, so that a marked letter went into
the general register as ordinary, in plain text (gateway/pipeline/file_texts.py;
docs/secrecy.md "Where in the letter"):

1. what an OpenDocument master page draws (a text box, a shape on the master slide of an
   Impress presentation or the master page of a Draw drawing: shown on every slide);
2. a document embedded in an office file (Insert > Object: a DOCX or an XLSX in a DOCX,
   an object in an ODT or ODS, an OLE object), read as the enclosure it is;
3. the literal text of an Excel number format (`"ลับมาก"` shown in every cell that has
   it), and of an OpenDocument one.

Each case is read through the DATA check's reading, which is the pipeline's
(`classify_raw` -> parse_mail -> file_texts.read_texts); one goes through the daemon."""
from __future__ import annotations

import struct

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.test_unreadable_files import word
from tests.letters import letter, make_pdf
from tests.secrecy.test_encrypted_files_fail_closed import cfb
from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _docx, _zip, file_part, mixed, text_part

LAT = "saraban.latkrabang@bangkok.go.th"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
          'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
          'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
          'xmlns:xlink="http://www.w3.org/1999/xlink"')


def reading(*files: tuple[str, bytes]) -> tuple[str, bool]:
    found = classify_raw(mixed(text_part(), *(file_part("application/octet-stream", n, d) for n, d in files)))
    return found.level, found.certain


# --------------------------------------------------------------------------- builders

def rels(*targets: tuple[str, str]) -> bytes:
    """A relationships part: (type's last word, target) each."""
    body = "".join(f'<Relationship Id="rId{n}" Type="{REL}/{kind}" Target="{target}"/>'
                   for n, (kind, target) in enumerate(targets, start=10))
    return (f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships">{body}</Relationships>').encode()


def docx_with(lines: list[str], parts: dict[str, bytes], targets: tuple[tuple[str, str], ...] = ()) -> bytes:
    paras = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)
    members = {"[Content_Types].xml": b"<Types/>",
               "_rels/.rels": rels(("officeDocument", "word/document.xml")),
               "word/document.xml": f"<w:document {W}><w:body>{paras}</w:body></w:document>".encode(),
               **parts}
    if targets:
        members["word/_rels/document.xml.rels"] = rels(*targets)
    return _zip(members)


def xlsx(cells: list[str] = (), styles: str = "", sheet: str = "") -> bytes:
    strings = "".join(f"<si><t>{c}</t></si>" for c in cells)
    members = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": f"<workbook {S}/>".encode(),
               "xl/sharedStrings.xml": f"<sst {S}>{strings}</sst>".encode(),
               "xl/worksheets/sheet1.xml": f"<worksheet {S}><sheetData>{sheet}</sheetData></worksheet>".encode()}
    if styles:
        members["xl/styles.xml"] = styles.encode()
    return _zip(members)


def formatted(*codes: str) -> bytes:
    """A workbook whose cell A1 (the number 1) has the first custom format of `codes`."""
    fmts = "".join(f'<numFmt numFmtId="{164 + n}" formatCode="{code}"/>' for n, code in enumerate(codes))
    styles = (f'<styleSheet {S}><numFmts count="{len(codes)}">{fmts}</numFmts><cellXfs count="2"><xf numFmtId="0"/>'
              f'<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>')
    return xlsx(["รายชื่อผู้เข้าประชุม"], styles, '<row r="1"><c r="A1" s="1"><v>1</v></c></row>')


def pptx_with(lines: list[str], parts: dict[str, bytes]) -> bytes:
    paras = "".join(f"<a:p><a:r><a:t>{line}</a:t></a:r></a:p>" for line in lines)
    return _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p:presentation/>",
                 "ppt/slides/slide1.xml": f"<p:sld><p:txBody>{paras}</p:txBody></p:sld>".encode(), **parts})


def odf(kind: str, body: str, styles: str = "", parts: dict[str, bytes] | None = None) -> bytes:
    """An OpenDocument package of `kind` (text, spreadsheet, presentation, graphics)."""
    return _zip({"mimetype": f"application/vnd.oasis.opendocument.{kind}".encode(),
                 "META-INF/manifest.xml": b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                                          b'opendocument:xmlns:manifest:1.0"/>',
                 "content.xml": f"<office:document-content {ODF_NS}><office:body>{body}</office:body>"
                                f"</office:document-content>".encode(),
                 "styles.xml": f"<office:document-styles {ODF_NS}>{styles}</office:document-styles>".encode(),
                 **(parts or {})})


def odt_content(lines: list[str]) -> bytes:
    paras = "".join(f"<text:p>{line}</text:p>" for line in lines)
    return (f"<office:document-content {ODF_NS}><office:body><office:text>{paras}</office:text></office:body>"
            f"</office:document-content>").encode()


def slide_show(master: str, slide: str = "แผนการปฏิบัติงาน", kind: str = "presentation",
               pages: str | None = None) -> bytes:
    """An Impress presentation (or, `kind` graphics, a Draw drawing) whose one master
    page holds `master` (its drawn objects), its one slide `slide`; or whose master
    pages are `pages`, the office:master-styles' content."""
    holder = "presentation" if kind == "presentation" else "drawing"
    body = (f'<office:{holder}><draw:page draw:name="p1" draw:master-page-name="M"><draw:frame><draw:text-box>'
            f'<text:p>{slide}</text:p></draw:text-box></draw:frame></draw:page></office:{holder}>')
    if pages is None:
        pages = f'<style:master-page style:name="M">{master}</style:master-page>'
    styles = f"<office:master-styles>{pages}</office:master-styles>"
    return odf(kind, body, styles)


def frame(text: str) -> str:
    return f'<draw:frame svg:x="1cm" svg:y="1cm"><draw:text-box><text:p>{text}</text:p></draw:text-box></draw:frame>'


def packaged(name: str, data: bytes, label: str) -> bytes:
    """An OLE object made by Windows' Packager (a file shown as an icon in a Word file):
    its `\\x01Ole10Native` stream (MS-OLEDS 2.3.6)."""
    body = (b"\x02\x00" + label.encode("cp874") + b"\0" + f"C:\\docs\\{name}".encode("cp874") + b"\0"
            + b"\x00\x00\x03\x00" + struct.pack("<I", 20) + b"C:\\Temp\\x\\" + name.encode("cp874") + b"\0"
            + struct.pack("<I", len(data)) + data)
    return cfb({"\x01Ole10Native": struct.pack("<I", len(body)) + body, "\x01CompObj": b"\x01\x00\xfe\xff"})


# --------------------------------------------------------------------------- 1 master pages

def test_what_a_master_slide_draws_is_read():
    # Impress: a text box on the master slide, shown on every slide.
    assert reading(("2569_0403_57.odp", slide_show(frame("ลับมาก")))) == ("secret", True)
    # Draw: a shape with text on the master page; a prefix other than draw:/style:.
    drawing = slide_show('<draw:custom-shape draw:style-name="gr1"><text:p>ลับที่สุด</text:p></draw:custom-shape>',
                         slide="แผนผังอาคาร", kind="graphics")
    assert reading(("2569_0403_57.odg", drawing)) == ("top_secret", True)
    renamed = slide_show("", pages=f'<s0:master-page xmlns:s0="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
                                   f's0:name="M">{frame("ลับมาก")}</s0:master-page>')
    assert reading(("renamed.odp", renamed)) == ("secret", True)


def test_an_ordinary_master_slide_leaves_the_presentation_ordinary():
    master = ('<draw:frame presentation:class="title" presentation:placeholder="true"><draw:text-box/></draw:frame>'
              + frame("สำนักการระบายน้ำ กรุงเทพมหานคร")
              + '<draw:frame presentation:class="page-number"><draw:text-box><text:p><text:page-number>'
                '&lt;number&gt;</text:page-number></text:p></draw:text-box></draw:frame>'
              + '<presentation:notes><draw:page-thumbnail/><draw:frame><draw:text-box><text:p>บันทึกผู้บรรยาย'
                '</text:p></draw:text-box></draw:frame></presentation:notes>')
    assert reading(("2569_0403_57.odp", slide_show(master))) == ("none", True)
    assert reading(("empty.odp", slide_show("", pages='<style:master-page style:name="M"/>'))) == ("none", True)


# --------------------------------------------------------------------------- 2 embedded objects

def test_a_document_embedded_in_a_word_file_is_read():
    inner = _docx(["ลับมาก", *LETTER_LINES])
    by_folder = docx_with(["ดูเอกสารแนบ"], {"word/embeddings/Microsoft_Word_Document.docx": inner},
                          (("package", "embeddings/Microsoft_Word_Document.docx"),))
    assert reading(("2569_0403_57.docx", by_folder)) == ("secret", True)
    # An XLSX embedded in it, named by its relationship only (not in word/embeddings/).
    sheet = xlsx(["ลับที่สุด", "รายชื่อผู้เข้าประชุม"])
    by_relationship = docx_with(["ดูตารางแนบ"], {"word/objects/sheet.xlsx": sheet},
                                (("package", "objects/sheet.xlsx"),))
    assert reading(("2569_0403_57.docx", by_relationship)) == ("top_secret", True)
    # A DOCX embedded in a PowerPoint slide.
    assert reading(("slides.pptx", pptx_with(["แผนการปฏิบัติงาน"], {"ppt/embeddings/doc1.docx": inner}))) \
        == ("secret", True)


def test_old_ole_objects_in_a_word_file_are_read_by_what_they_hold():
    # A Word 97-2003 document embedded as an OLE object.
    old = docx_with(["ดูเอกสาร"], {"word/embeddings/oleObject1.bin": word("ลับที่สุด")},
                    (("oleObject", "embeddings/oleObject1.bin"),))
    assert reading(("2569_0403_57.docx", old)) == ("top_secret", True)
    # A file packaged as an icon (Packager): the file, and the label under its icon.
    package = docx_with(["ดูแฟ้มแนบ"], {"word/embeddings/oleObject1.bin": packaged(
        "plan.txt", "ลับมาก\nเรื่อง แผน\n".encode("cp874"), "plan.txt")})
    assert reading(("2569_0403_57.docx", package)) == ("secret", True)
    labelled = docx_with(["ดูแฟ้มแนบ"], {"word/embeddings/oleObject1.bin": packaged("a.bin", b"\x00\x01", "ลับมาก")})
    assert reading(("2569_0403_57.docx", labelled)) == ("secret", True)
    # An OLE object of another kind (an equation, a picture): its preview is what Word
    # shows; it neither marks nor makes the letter uncertain. A Visio drawing does.
    equation = docx_with(["สูตร"], {"word/embeddings/oleObject1.bin": cfb({"Equation Native": b"\x1c\x00" * 40})})
    assert reading(("2569_0403_57.docx", equation)) == ("none", True)
    visio = docx_with(["แผนผัง"], {"word/embeddings/oleObject1.bin": cfb({"VisioDocument": b"\0" * 64})})
    assert reading(("2569_0403_57.docx", visio)) == ("confidential", False)


def test_an_object_embedded_in_an_opendocument_file_is_read():
    object_ref = '<text:p><draw:frame><draw:object xlink:href="./Object 1"/></draw:frame></text:p>'
    odt = odf("text", f"<office:text><text:p>ดูเอกสาร</text:p>{object_ref}</office:text>",
              parts={"Object 1/content.xml": odt_content(["ลับมาก", *LETTER_LINES])})
    assert reading(("2569_0403_57.odt", odt)) == ("secret", True)
    # A text embedded in a spreadsheet; its marking in the object's page header.
    ods = odf("spreadsheet", '<office:spreadsheet><table:table table:name="A"><table:table-row><table:table-cell>'
                             '<text:p>รายชื่อ</text:p></table:table-cell></table:table-row></table:table>'
                             '</office:spreadsheet>',
              parts={"Object 1/content.xml": odt_content(LETTER_LINES),
                     "Object 1/styles.xml": (f'<office:document-styles {ODF_NS}><office:master-styles>'
                                             f'<style:master-page style:name="Standard"><style:header><text:p>'
                                             f'ลับที่สุด</text:p></style:header></style:master-page>'
                                             f'</office:master-styles></office:document-styles>').encode()})
    assert reading(("2569_0403_57.ods", ods)) == ("top_secret", True)
    # An OLE object LibreOffice keeps as a file ("Object 2"), beside its preview picture.
    ole = odf("text", "<office:text><text:p>ดูเอกสาร</text:p></office:text>",
              parts={"Object 2": word("ลับมาก"), "ObjectReplacements/Object 2": b"\x01\x00\x00\x00" * 20})
    assert reading(("2569_0403_57.odt", ole)) == ("secret", True)


def test_ordinary_embedded_objects_leave_the_letter_ordinary():
    inner = _docx(LETTER_LINES)
    chart = ('<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart"><c:chart><c:title>'
             '<c:tx><c:rich><a:p><a:r><a:t>งบประมาณ</a:t></a:r></a:p></c:rich></c:tx></c:title></c:chart>'
             '</c:chartSpace>').encode()
    docx = docx_with(["ดูเอกสาร"], {"word/embeddings/Microsoft_Word_Document.docx": inner,
                                    "word/charts/chart1.xml": chart,
                                    "word/charts/_rels/chart1.xml.rels": rels(
                                        ("package", "../embeddings/Microsoft_Excel_Worksheet.xlsx")),
                                    "word/embeddings/Microsoft_Excel_Worksheet.xlsx": xlsx(["ไตรมาส 1", "100"])},
                     (("package", "embeddings/Microsoft_Word_Document.docx"), ("chart", "charts/chart1.xml")))
    assert reading(("2569_0403_57.docx", docx)) == ("none", True)
    odt = odf("text", "<office:text><text:p>ดูแผนภูมิ</text:p></office:text>",
              parts={"Object 1/content.xml": odt_content(["งบประมาณ", "ไตรมาส 1"]),
                     "ObjectReplacements/Object 1": b"\x01\x00\x00\x00" * 20})
    assert reading(("2569_0403_57.odt", odt)) == ("none", True)


def test_embeddings_past_the_depth_read_make_the_letter_uncertain_but_chart_data_does_not():
    """A DOCX three levels down (a ZIP in a ZIP): what it embeds is past MAX_DEPTH. A
    document embedded there is not read, so the letter is at least ลับ, uncertain; a
    chart's own workbook (its data, which the chart part shows) is no reason to be."""
    embedding = docx_with(["ดูเอกสาร"], {"word/embeddings/a.docx": _docx(LETTER_LINES)})
    assert reading(("deep.zip", _zip({"inner.zip": _zip({"letter.docx": embedding})}))) == ("confidential", False)
    charted = docx_with(["ดูแผนภูมิ"], {"word/charts/chart1.xml": b"<c:chartSpace/>",
                                        "word/charts/_rels/chart1.xml.rels": rels(("package", "../embeddings/b.xlsx")),
                                        "word/embeddings/b.xlsx": xlsx(["100"])})
    assert reading(("deep.zip", _zip({"inner.zip": _zip({"letter.docx": charted})}))) == ("none", True)
    # Within the depth: read (a DOCX in a ZIP, embedding a marked one).
    marked = docx_with(["ดูเอกสาร"], {"word/embeddings/a.docx": _docx(["ลับมาก", *LETTER_LINES])})
    assert reading(("letters.zip", _zip({"letter.docx": marked}))) == ("secret", True)


# --------------------------------------------------------------------------- 3 number formats

def test_the_literal_text_of_an_excel_number_format_is_read():
    assert reading(("2569_0403_57.xlsx", formatted("&quot;ลับมาก&quot;"))) == ("secret", True)
    escaped = "".join("\\" + ch for ch in "ลับที่สุด")
    assert reading(("2569_0403_57.xlsx", formatted(escaped))) == ("top_secret", True)
    assert reading(("2569_0403_57.xlsx", formatted('@&quot;&quot;;@&quot;ลับมาก&quot;'))) == ("secret", True)
    # Shown for a negative number only: a section of its own is still read.
    assert reading(("2569_0403_57.xlsx", formatted("#,##0;&quot;ลับที่สุด&quot;"))) == ("top_secret", True)


def test_an_opendocument_number_format_text_is_read():
    styles = ('<office:styles><number:number-style style:name="N1"><number:text>ลับมาก</number:text>'
              '</number:number-style></office:styles>')
    ods = odf("spreadsheet", '<office:spreadsheet><table:table table:name="A"/></office:spreadsheet>', styles)
    assert reading(("2569_0403_57.ods", ods)) == ("secret", True)


def test_ordinary_number_formats_leave_the_workbook_ordinary():
    codes = ["#,##0.00&quot; บาท&quot;", "[$฿-41E]#,##0.00", "[$-D07041E]d mmmm bbbb", "[$-th-TH,107]d/m/yyyy",
             '_-* #,##0.00_-;\\-* #,##0.00_-;_-* &quot;-&quot;??_-;_-@_-', "[Red][&lt;0]0.00;[Blue]0.00",
             "0.00%", "hh:mm &quot;น.&quot;", "@"]
    assert reading(("2569_0403_57.xlsx", formatted(*codes))) == ("none", True)
    styles = ('<office:styles><number:currency-style style:name="N1"><number:number number:decimal-places="2"/>'
              '<number:text> </number:text><number:currency-symbol>บาท</number:currency-symbol>'
              '</number:currency-style></office:styles>')
    ods = odf("spreadsheet", '<office:spreadsheet><table:table table:name="A"/></office:spreadsheet>', styles)
    assert reading(("2569_0403_57.ods", ods)) == ("none", True)


# --------------------------------------------------------------------------- through the daemon

def test_over_smtp_a_word_file_embedding_a_secret_one_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, assert_one_letter_sealed, sealing_daemon

    inner = _docx(["ลับมาก", *LETTER_LINES, MARKER])
    outer = docx_with(["เรียน ผู้อำนวยการเขตลาดกระบัง", "ขอส่งเอกสารตามที่แนบ"],
                      {"word/embeddings/Microsoft_Word_Document.docx": inner},
                      (("package", "embeddings/Microsoft_Word_Document.docx"),))
    with sealing_daemon(tmp_path / "gw") as d:
        raw = letter(body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                     files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("2569_dds_0403_57_1.docx", outer)])
        qid = d.send(raw, LAT)
        d.wait_idle()
        assert_one_letter_sealed(d, qid)


# --------------------------------------------------------------------------- hostile sizes

def test_hostile_shapes_cost_little_and_past_the_limits_fail_closed():
    import time

    pages = "".join(f'<style:master-page style:name="M{n}">{frame("สำนักการระบายน้ำ")}'
                    f"<presentation:notes><text:p>x</text:p></presentation:notes></style:master-page>"
                    for n in range(20_000))
    many_masters = slide_show("", pages=pages)
    last_marked = slide_show("", pages=pages + f'<style:master-page style:name="Z">{frame("ลับมาก")}</style:master-page>')
    # A master page's notes are not shown on a slide (each is read with the slides'
    # own notes in content.xml, not here).
    unclosed = slide_show("", pages=f'<style:master-page style:name="M">{frame("แผน")}'
                                    + "<presentation:notes><draw:frame>" * 20_000 + "</style:master-page>")
    formats = formatted(*[f"0.{'0' * (n % 9)}&quot;{n}&quot;" for n in range(50_000)], "&quot;" + "x" * 300_000 + "&quot;")
    formats_marked = formatted(*[f"0&quot;{n}&quot;" for n in range(50_000)], "&quot;ลับมาก&quot;")
    embeddings = docx_with(["ดูเอกสาร"], {f"word/embeddings/d{n}.docx": _docx(["ข้อความ"]) for n in range(120)})
    started = time.process_time()  # this process's CPU: the suite's other workers do not count
    assert reading(("a.odp", many_masters)) == ("none", True)
    assert reading(("a.odp", last_marked)) == ("secret", True)  # the 20,001st master page
    assert reading(("a.odp", unclosed)) == ("none", True)
    assert reading(("a.xlsx", formats)) == ("none", True)
    assert reading(("a.xlsx", formats_marked)) == ("secret", True)  # the 50,001st format
    # Past the first 100 embedded objects (the file's members), the letter is uncertain.
    assert reading(("a.docx", embeddings)) == ("confidential", False)
    assert time.process_time() - started < 20  # a quadratic reading took minutes
