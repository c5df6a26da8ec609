"""What Word, Excel, PowerPoint and LibreOffice show a reader by default that the gateway
did not read (session 37).

Each shape was read as no marking before session 37, so that a letter marked ลับที่สุด
only there was taken in with 250 and filed in plain text, and one marked ลับ went into the
general register (gateway/pipeline/file_texts.py; docs/secrecy.md "Where in the letter"):

1. Word: comments (shown in the margin) and tracked deletions (shown struck through with
   "All Markup", Word's default, and by LibreOffice);
2. Excel: sheet tab names, cell comments (notes) and threaded comments;
3. PowerPoint: comments, section names; a notes or handout master no relationship
   names; Impress's handout master;
4. OpenDocument: comments (office:annotation, read glued to their author and date),
   tracked deletions (glued to theirs; Calc's previous cell contents), sheet names and
   page names.

And (0) an empty attribute value, which made an ordinary OpenDocument file unread.

Each marking so read counts as the enclosure's own text does (rules/markings.py decides):
ลับ glued after Thai letters is part of a word (a sheet named สลับ, a comment saying
ไม่ลับ), and stays ordinary. Each case is read through the DATA check's reading
(`classify_raw` -> parse_mail -> file_texts.read_texts); two go through the daemon
(tests/hostile/markings_cases.py)."""
from __future__ import annotations

import time

from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _zip
from tests.secrecy.test_office_hidden_session36 import (
    ODF_NS, S, W, frame, odf, pptx_with, reading, rels, slide_show,
)

P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'


# --------------------------------------------------------------------------- builders

def paragraphs(lines: list[str]) -> str:
    return "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)


def word_file(body: str, parts: dict[str, bytes] | None = None, targets: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A DOCX whose body is `body` (raw WordprocessingML), with `parts` beside it."""
    members = {"[Content_Types].xml": b"<Types/>", "_rels/.rels": rels(("officeDocument", "word/document.xml")),
               "word/document.xml": f"<w:document {W}><w:body>{body}</w:body></w:document>".encode(), **(parts or {})}
    if targets:
        members["word/_rels/document.xml.rels"] = rels(*targets)
    return _zip(members)


def word_comments(*texts: str) -> bytes:
    """word/comments.xml as LibreOffice and Word write it: each comment's paragraphs."""
    found = "".join(f'<w:comment w:id="{n}" w:author="สมหญิง ใจดี" w:date="2026-12-01T10:00:00Z" w:initials="สจ">'
                    f'<w:p><w:r><w:rPr><w:sz w:val="24"/></w:rPr><w:t>{text}</w:t></w:r></w:p></w:comment>'
                    for n, text in enumerate(texts))
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments {W}>{found}</w:comments>'.encode()


def commented(*texts: str, by_relationship: bool = True) -> bytes:
    body = paragraphs(LETTER_LINES[:3]) + ('<w:p><w:r><w:t>เรียน ผู้อำนวยการเขตลาดกระบัง</w:t></w:r><w:r>'
                                           '<w:commentReference w:id="0"/></w:r></w:p>')
    if by_relationship:
        return word_file(body, {"word/notes/remarks.xml": word_comments(*texts)}, (("comments", "notes/remarks.xml"),))
    return word_file(body, {"word/comments.xml": word_comments(*texts)})


def deleted(before: str, gone: str, after: str = "") -> str:
    """A paragraph with a tracked deletion (`gone`) between `before` and `after`."""
    return (f'<w:p><w:r><w:t>{before}</w:t></w:r><w:del w:id="1" w:author="สมชาย" w:date="2026-12-01T10:00:00Z">'
            f'<w:r><w:delText>{gone}</w:delText></w:r></w:del><w:r><w:t>{after}</w:t></w:r></w:p>')


def workbook(sheets: list[str], parts: dict[str, bytes] | None = None, hidden: tuple[str, ...] = ()) -> bytes:
    """An XLSX whose sheets are named `sheets` (a state="hidden" one for each in `hidden`)."""
    state = ' state="hidden"'
    tabs = "".join(f'<sheet name="{name}" sheetId="{n}"{state if name in hidden else ""} r:id="rId{n}"/>'
                   for n, name in enumerate(sheets, start=1))
    return _zip({"[Content_Types].xml": b"<Types/>",
                 "xl/workbook.xml": f'<workbook {S} xmlns:r="x"><sheets>{tabs}</sheets></workbook>'.encode(),
                 "xl/sharedStrings.xml": f"<sst {S}><si><t>รายชื่อผู้เข้าประชุม</t></si></sst>".encode(),
                 "xl/worksheets/sheet1.xml": f'<worksheet {S}><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
                                             f'</row></sheetData></worksheet>'.encode(), **(parts or {})})


def sheet_notes(*texts: str) -> bytes:
    """xl/commentsN.xml as Excel writes a note: the author in bold, then the text."""
    found = "".join(f'<comment ref="A{n}" authorId="0" shapeId="0"><text><r><rPr><b/><sz val="9"/></rPr>'
                    f'<t>สมชาย:</t></r><r><rPr><sz val="9"/></rPr><t xml:space="preserve">\n{text}</t></r></text>'
                    f'</comment>' for n, text in enumerate(texts, start=1))
    return (f'<comments {S}><authors><author>สมชาย</author></authors><commentList>{found}</commentList>'
            f'</comments>').encode()


def threaded(*texts: str) -> bytes:
    found = "".join(f'<threadedComment ref="A1" dT="2026-12-01T10:00:00.00" personId="{{P1}}" id="{{C{n}}}">'
                    f'<text>{text}</text></threadedComment>' for n, text in enumerate(texts))
    return (f'<ThreadedComments xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments">'
            f'{found}</ThreadedComments>').encode()


def slide_comments(*texts: str) -> bytes:
    """ppt/comments/comment1.xml (PowerPoint 2007-2019)."""
    found = "".join(f'<p:cm authorId="0" dt="2026-12-01T10:00:00" idx="{n}"><p:pos x="10" y="10"/>'
                    f'<p:text>{text}</p:text></p:cm>' for n, text in enumerate(texts, start=1))
    return f"<p:cmLst {P}>{found}</p:cmLst>".encode()


def modern_comments(*texts: str) -> bytes:
    """ppt/comments/modernComment_*.xml (PowerPoint 365), a reply under the first."""
    body = "".join(f'<p188:cm id="{{C{n}}}" authorId="{{A}}" created="2026-12-01T10:00:00"><p188:txBody><a:bodyPr/>'
                   f'<a:p><a:r><a:t>{text}</a:t></a:r></a:p></p188:txBody></p188:cm>' for n, text in enumerate(texts))
    return (f'<p188:cmLst xmlns:p188="http://schemas.microsoft.com/office/powerpoint/2018/8/main" {A}>{body}'
            f'</p188:cmLst>').encode()


def annotation(text: str) -> str:
    """An OpenDocument comment as LibreOffice writes it: author, date, paragraphs."""
    return (f'<office:annotation {DC}><dc:creator>สมหญิง ใจดี</dc:creator><dc:date>2026-12-01T10:00:00</dc:date>'
            f'<text:p>{text}</text:p></office:annotation>')


def tracked(gone: str, before: str = "บันทึกข้อความ", after: str = "") -> str:
    """An OpenDocument text with one tracked deletion, as LibreOffice writes it: the
    deleted paragraph in text:tracked-changes, a text:change where it stood."""
    return (f'<office:text><text:tracked-changes text:track-changes="true"><text:changed-region xml:id="ct9" '
            f'text:id="ct9"><text:deletion><office:change-info {DC}><dc:creator>สมชาย</dc:creator>'
            f'<dc:date>2026-12-01T10:00:00</dc:date></office:change-info><text:p>{gone}</text:p></text:deletion>'
            f'</text:changed-region></text:tracked-changes><text:p>{before}<text:change text:change-id="ct9"/>{after}'
            f'</text:p><text:p>เรื่อง ขอส่งแผนการปฏิบัติงาน</text:p></office:text>')


def spreadsheet(*names: str, cell: str = "") -> str:
    tables = "".join(f'<table:table table:name="{name}" table:style-name="ta1"><table:table-row><table:table-cell>'
                     f'{cell}<text:p>รายชื่อ</text:p></table:table-cell></table:table-row></table:table>'
                     for name in names)
    return f"<office:spreadsheet>{tables}</office:spreadsheet>"

# --------------------------------------------------------------------------- 0 empty values

def test_an_empty_attribute_value_is_read_not_a_crash():
    """`office:string-value=""` (an empty user field: 38 of the 120 OpenDocument
    templates and samples LibreOffice ships have one) and an empty relationship
    attribute raised TypeError: the file was "not read" and the letter ลับ, uncertain,
    though it was ordinary."""
    fields = ('<office:text><text:user-field-decls><text:user-field-decl office:value-type="string" '
              'office:string-value="" text:name="x"/></text:user-field-decls><text:p>ข้อความ</text:p></office:text>')
    assert reading(("2569_0403_57.odt", odf("text", fields))) == ("none", True)
    marked = fields.replace('office:string-value=""', 'office:string-value="ลับมาก"')
    assert reading(("2569_0403_57.odt", odf("text", marked))) == ("secret", True)
    empty_mode = _zip({"[Content_Types].xml": b"<Types/>",
                       "_rels/.rels": rels(("officeDocument", "word/document.xml")).replace(b"/>", b' TargetMode=""/>'),
                       "word/document.xml": f"<w:document {W}><w:body><w:p><w:r><w:t>ข้อความ</w:t></w:r></w:p>"
                                            f"</w:body></w:document>".encode()})
    assert reading(("2569_0403_57.docx", empty_mode)) == ("none", True)


# --------------------------------------------------------------------------- 1 Word

def test_word_comments_are_read():
    assert reading(("2569_0403_57.docx", commented("ลับที่สุด"))) == ("top_secret", True)
    assert reading(("2569_0403_57.docx", commented("ลับ", by_relationship=False))) == ("confidential", True)
    # A marking starting a comment counts, as one starting a page does.
    assert reading(("2569_0403_57.docx", commented("ตรวจแล้ว", "ลับมาก โปรดส่งนายทะเบียน"))) == ("secret", True)
    # Ordinary comments: ลับ inside a word, or glued after one (rules/markings.py).
    assert reading(("2569_0403_57.docx", commented("สลับย่อหน้า 2 กับ 3", "เรื่องนี้ไม่ลับ", "แก้คำผิด"))) \
        == ("none", True)


def test_word_tracked_deletions_are_read():
    """Word shows a deletion struck through (All Markup is its default), LibreOffice too."""
    lines = paragraphs(LETTER_LINES)
    # A deleted marking line; one glued after the text it followed ("บันทึกข้อความ" then
    # ลับที่สุด: read as the deletion apart); one whose last syllable alone was deleted.
    assert reading(("2569_0403_57.docx", word_file(deleted("", "ลับที่สุด") + lines))) == ("top_secret", True)
    assert reading(("2569_0403_57.docx", word_file(deleted("บันทึกข้อความ", "ลับที่สุด") + lines))) \
        == ("top_secret", True)
    assert reading(("2569_0403_57.docx", word_file(deleted("ลับ", "ที่สุด") + lines))) == ("top_secret", True)
    assert reading(("2569_0403_57.docx", word_file(lines + deleted("", "ลับ")))) == ("confidential", True)
    # In a page header, and in a comment.
    header = f'<w:hdr {W}>{deleted("", "ลับมาก")}</w:hdr>'.encode()
    assert reading(("2569_0403_57.docx", word_file(lines, {"word/header1.xml": header}))) == ("secret", True)
    in_comment = (f'<w:comments {W}><w:comment w:id="0" w:author="สมชาย">{deleted("", "ลับที่สุด")}</w:comment>'
                  f'</w:comments>')
    assert reading(("2569_0403_57.docx", word_file(lines, {"word/comments.xml": in_comment.encode()}))) \
        == ("top_secret", True)
    # A ลับ deleted from inside a word reads as a marking (removing one is what such an
    # edit usually is: fail closed).
    assert reading(("2569_0403_57.docx", word_file(deleted("ข้อมูล", "ลับ", "ของราชการ") + lines))) \
        == ("confidential", True)
    # Ordinary edits: a word deleted from prose, a deleted "สลับ".
    edits = deleted("ขอส่งแผน", "การปฏิบัติงาน", " ฉบับแก้ไข") + deleted("ให้", "สลับ", "เวร")
    assert reading(("2569_0403_57.docx", word_file(paragraphs(LETTER_LINES[:3]) + edits))) == ("none", True)


# --------------------------------------------------------------------------- 2 Excel

def test_excel_sheet_tab_names_are_read():
    assert reading(("2569_0403_57.xlsx", workbook(["รายชื่อ", "ลับที่สุด"]))) == ("top_secret", True)
    assert reading(("2569_0403_57.xlsx", workbook(["ลับ แผนงาน"]))) == ("confidential", True)
    # A hidden sheet's tab (Format > Hide): its cells are read, so is its name.
    assert reading(("2569_0403_57.xlsx", workbook(["รายชื่อ", "ลับมาก"], hidden=("ลับมาก",)))) == ("secret", True)
    # สลับ (to swap) holds ลับ inside a word; ไม่ลับ glues it after one.
    assert reading(("2569_0403_57.xlsx", workbook(["สลับเวร", "ไม่ลับ", "Sheet3", "ไตรมาส 1"]))) == ("none", True)


def test_excel_notes_and_threaded_comments_are_read():
    notes = workbook(["รายชื่อ"], {"xl/comments1.xml": sheet_notes("ลับที่สุด")})
    assert reading(("2569_0403_57.xlsx", notes)) == ("top_secret", True)
    # A note part by another name, found through the sheet's relationships.
    renamed = workbook(["รายชื่อ"], {"xl/notes/n1.xml": sheet_notes("ตรวจแล้ว", "ลับ"),
                                     "xl/worksheets/_rels/sheet1.xml.rels": rels(("comments", "../notes/n1.xml"))})
    assert reading(("2569_0403_57.xlsx", renamed)) == ("confidential", True)
    replies = workbook(["รายชื่อ"], {"xl/threadedComments/threadedComment1.xml": threaded("ตรวจแล้ว", "ลับมาก")})
    assert reading(("2569_0403_57.xlsx", replies)) == ("secret", True)
    ordinary = workbook(["รายชื่อ"], {"xl/comments1.xml": sheet_notes("สลับแถว 3 กับ 4", "ไม่ลับ"),
                                      "xl/threadedComments/threadedComment1.xml": threaded("ยอดรวมถูกต้อง")})
    assert reading(("2569_0403_57.xlsx", ordinary)) == ("none", True)


# --------------------------------------------------------------------------- 3 PowerPoint

def test_powerpoint_comments_and_masters_are_read():
    assert reading(("slides.pptx", pptx_with(["แผนการปฏิบัติงาน"], {"ppt/comments/comment1.xml":
                                                                      slide_comments("ลับที่สุด")}))) \
        == ("top_secret", True)
    modern = pptx_with(["แผนการปฏิบัติงาน"], {"ppt/comments/modernComment_100_1A2B.xml": modern_comments("ดี", "ลับ")})
    assert reading(("slides.pptx", modern)) == ("confidential", True)
    # A notes master or a handout master no relationship names (read when named since session 33).
    master = f"<p:notesMaster {P} {A}><p:txBody><a:p><a:r><a:t>ลับมาก</a:t></a:r></a:p></p:txBody></p:notesMaster>"
    assert reading(("slides.pptx", pptx_with(["แผน"], {"ppt/notesMasters/notesMaster1.xml": master.encode()}))) \
        == ("secret", True)
    # Impress's handout master (shown in the handout view), as its master pages are.
    handout = slide_show("", pages=f'<style:master-page style:name="M"/><style:handout-master>{frame("ลับมาก")}'
                                   f'</style:handout-master>')
    assert reading(("slides.odp", handout)) == ("secret", True)
    # A section's name, shown as a heading among the slides.
    sections = ('<p14:sectionLst xmlns:p14="http://schemas.microsoft.com/office/powerpoint/2010/main">'
                '<p14:section name="NAME" id="{S1}"><p14:sldIdLst><p14:sldId id="256"/></p14:sldIdLst></p14:section>'
                '<p14:section name="ภาคผนวก" id="{S2}"/></p14:sectionLst>')
    presentation = (f'<p:presentation {P}><p:extLst><p:ext uri="{{521415D9-36F7-43E2-AB2F-B90AF26B5E84}}">'
                    f'{sections}</p:ext></p:extLst></p:presentation>')
    marked = pptx_with(["แผน"], {"ppt/presentation.xml": presentation.replace("NAME", "ลับที่สุด").encode()})
    assert reading(("slides.pptx", marked)) == ("top_secret", True)
    plain = pptx_with(["แผน"], {"ppt/presentation.xml": presentation.replace("NAME", "สลับลำดับ").encode()})
    assert reading(("slides.pptx", plain)) == ("none", True)
    ordinary = pptx_with(["แผนการปฏิบัติงาน"], {"ppt/comments/comment1.xml": slide_comments("สลับสไลด์ 2 กับ 3"),
                                                "ppt/comments/modernComment_1.xml": modern_comments("ไม่ลับ")})
    assert reading(("slides.pptx", ordinary)) == ("none", True)


# --------------------------------------------------------------------------- 4 OpenDocument

def test_opendocument_comments_are_read():
    """A comment was read glued to its author and date ("สมหญิง ใจดี2026-12-01T10:00:00ลับที่สุด"),
    inside the paragraph it is anchored in."""
    text = (f"<office:text><text:p>บันทึกข้อความ</text:p><text:p>เรื่อง แผน{annotation('ลับที่สุด')}</text:p>"
            f"</office:text>")
    assert reading(("2569_0403_57.odt", odf("text", text))) == ("top_secret", True)
    cells = spreadsheet("รายชื่อ", cell=annotation("ลับ"))
    assert reading(("2569_0403_57.ods", odf("spreadsheet", cells))) == ("confidential", True)
    flat = (f'<?xml version="1.0"?><office:document {ODF_NS} office:mimetype="application/vnd.oasis.opendocument.text">'
            f'<office:body>{text.replace("ลับที่สุด", "ลับมาก")}</office:body></office:document>')
    assert reading(("2569_0403_57.fodt", flat.encode())) == ("secret", True)
    # Word 2003 XML's comments are aml:annotations too; its insertions, also
    # aml:annotations, stay where they stand in the text (ลับ, then ที่สุด inserted).
    w2003 = ('<?xml version="1.0"?><w:wordDocument xmlns:w="http://schemas.microsoft.com/office/word/2003/wordml" '
             'xmlns:aml="http://schemas.microsoft.com/aml/2001/core"><w:body><w:p><w:r><w:t>{}</w:t></w:r>'
             '<aml:annotation aml:id="1" w:type="Word.{}" aml:author="สมชาย"><aml:content>{}</aml:content>'
             '</aml:annotation></w:p><w:p><w:r><w:t>เรื่อง แผน</w:t></w:r></w:p></w:body></w:wordDocument>')
    comment = w2003.format("บันทึกข้อความ", "Comment", "<w:p><w:r><w:t>ลับมาก</w:t></w:r></w:p>")
    assert reading(("2569_0403_57.xml", comment.encode())) == ("secret", True)
    inserted = w2003.format("ลับ", "Insertion", "<w:r><w:t>ที่สุด</w:t></w:r>")
    assert reading(("2569_0403_57.xml", inserted.encode())) == ("top_secret", True)
    ordinary = (f"<office:text><text:p>บันทึกข้อความ{annotation('สลับลำดับข้อ')}</text:p>"
                f"<text:p>เรื่อง แผน{annotation('ไม่ลับ')}</text:p></office:text>")
    assert reading(("2569_0403_57.odt", odf("text", ordinary))) == ("none", True)


def test_opendocument_tracked_deletions_are_read():
    """A deletion was read glued to its author and date, at the top of the body."""
    assert reading(("2569_0403_57.odt", odf("text", tracked("ลับที่สุด")))) == ("top_secret", True)
    # Its last syllable alone deleted: shown ลับที่สุด, struck through from ที่.
    assert reading(("2569_0403_57.odt", odf("text", tracked("ที่สุด", before="ลับ")))) == ("top_secret", True)
    assert reading(("2569_0403_57.odt", odf("text", tracked("ลับ", before="")))) == ("confidential", True)
    # Calc's tracked changes (table:tracked-changes): a cell's previous content.
    calc = (f'<office:spreadsheet><table:tracked-changes><table:cell-content-change table:id="ct1">'
            f'<table:cell-address table:column="0" table:row="0" table:table="0"/><office:change-info {DC}>'
            f'<dc:creator>สมชาย</dc:creator><dc:date>2026-12-01T10:00:00</dc:date></office:change-info>'
            f'<table:previous table:id="ct0"><table:change-track-table-cell><text:p>ลับที่สุด</text:p>'
            f'</table:change-track-table-cell></table:previous></table:cell-content-change></table:tracked-changes>'
            f'{spreadsheet("รายชื่อ")[len("<office:spreadsheet>"):]}')
    assert reading(("2569_0403_57.ods", odf("spreadsheet", calc))) == ("top_secret", True)
    assert reading(("2569_0403_57.ods", odf("spreadsheet", calc.replace("ลับที่สุด", "สลับ")))) == ("none", True)
    assert reading(("2569_0403_57.odt", odf("text", tracked("การปฏิบัติงาน", before="ขอส่งแผน")))) == ("none", True)
    assert reading(("2569_0403_57.odt", odf("text", tracked("สลับ", before="ให้", after="เวร")))) == ("none", True)


def test_opendocument_sheet_and_page_names_are_read():
    assert reading(("2569_0403_57.ods", odf("spreadsheet", spreadsheet("รายชื่อ", "ลับที่สุด")))) \
        == ("top_secret", True)
    assert reading(("2569_0403_57.ods", odf("spreadsheet", spreadsheet("ลับ")))) == ("confidential", True)
    # A Draw drawing's page tabs.
    drawing = ('<office:drawing><draw:page draw:name="ลับมาก" draw:master-page-name="M"><draw:frame><draw:text-box>'
               '<text:p>แผนผังอาคาร</text:p></draw:text-box></draw:frame></draw:page></office:drawing>')
    assert reading(("2569_0403_57.odg", odf("graphics", drawing))) == ("secret", True)
    assert reading(("2569_0403_57.ods", odf("spreadsheet", spreadsheet("สลับเวร", "ไม่ลับ", "Sheet3")))) \
        == ("none", True)


# --------------------------------------------------------------------------- hostile sizes

def test_hostile_numbers_of_comments_deletions_and_names_cost_little():
    """Each kind is found in one pass; past 99 of a kind in a part the rest are one text."""
    many = [f"ความเห็นที่ {n}" for n in range(50_000)]
    comments = commented(*many, "ลับที่สุด")
    tabs = workbook([f"S{n}" for n in range(50_000)] + ["ลับมาก"])
    unclosed_deletions = word_file(paragraphs(LETTER_LINES) + '<w:del w:id="1"><w:r><w:delText>x' * 20_000
                                   + "</w:delText></w:r>")
    big = "แผน " * 50_000
    marks = "".join(f'<text:p>ข้อ {n}<text:change text:change-id="ct9"/></text:p>' for n in range(20_000))
    one_deletion_many_marks = odf("text", tracked(big).replace("<text:p>เรื่อง", marks + "<text:p>เรื่อง"))
    notes = "".join(f"<text:p>ข้อ {n}{annotation('ดี')}</text:p>" for n in range(20_000))
    annotations = odf("text", f"<office:text>{notes}<text:p>แผน{annotation('ลับมาก')}</text:p></office:text>")
    started = time.process_time()
    assert reading(("a.docx", comments)) == ("top_secret", True)  # the 50,001st comment
    assert reading(("a.xlsx", tabs)) == ("secret", True)  # the 50,001st sheet
    assert reading(("a.docx", unclosed_deletions)) == ("none", True)
    assert reading(("a.odt", one_deletion_many_marks)) == ("none", True)
    assert reading(("a.odt", annotations)) == ("secret", True)  # the 20,001st comment
    assert time.process_time() - started < 20
