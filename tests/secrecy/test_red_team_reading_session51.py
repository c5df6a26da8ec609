"""Session 51's reading red team: what a clerk sees in a file that the gateway read as
ordinary and certain.

1. A list's label. A numbered list whose number format is text (Word's Define New
   Number Format with the number deleted, LibreOffice's Bullets and Numbering "Before" or
   "After") shows that text at the head of each of its paragraphs, an empty paragraph
   too: a list level labelled ลับมาก on the letter's first line shows ลับมาก there, in
   Word and LibreOffice alike. The label is kept in the numbering part (Word's
   `word/numbering.xml` `w:lvlText`, OpenDocument's `style:num-prefix`/`num-suffix` and
   `loext:num-list-format` in its automatic styles, Word 97-2003's table stream), which
   the gateway read as holding nothing shown: ordinary and certain, filed in plain."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.letters import letter

W = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
     'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
ORDINARY = ["บันทึกข้อความ", "ส่วนราชการ สำนักงานเขตบางรัก", "เรื่อง ขอเชิญประชุมคณะกรรมการ",
            "เรียน ผู้อำนวยการเขต", "ด้วยสำนักงานเขตบางรักขอเชิญประชุมคณะกรรมการ ในวันจันทร์"]


def docx(label: str, numbered_paragraph_text: str = "") -> bytes:
    """A Word letter whose first paragraph is of a list level labelled `label`."""
    numbering = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:numbering {W}>'
                 f'<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
                 f'<w:numFmt w:val="decimal"/><w:lvlText w:val="{label}"/><w:lvlJc w:val="center"/></w:lvl>'
                 f'</w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>')
    first = ('<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>'
             f'<w:r><w:t>{numbered_paragraph_text}</w:t></w:r></w:p>')
    body = first + "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in ORDINARY)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                   'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
                   '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override '
                   'PartName="/word/numbering.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.wordprocessingml.numbering+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
                   'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                   'Target="word/document.xml"/></Relationships>')
        z.writestr("word/_rels/document.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
                   'org/package/2006/relationships"><Relationship Id="rId9" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/numbering" '
                   'Target="numbering.xml"/></Relationships>')
        z.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                                        f'<w:document {W}><w:body>{body}</w:body></w:document>')
        z.writestr("word/numbering.xml", numbering)
    return out.getvalue()


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:loext="urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0"')


def odf_content(attributes: str, flat: bool = False) -> str:
    """An OpenDocument text whose first paragraph is of a list whose level 1 has
    `attributes` (LibreOffice writes a text label as num-suffix and num-list-format)."""
    paragraphs = "".join(f'<text:p>{t}</text:p>' for t in ORDINARY)
    root = "office:document" if flat else "office:document-content"
    mime = ' office:mimetype="application/vnd.oasis.opendocument.text"' if flat else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><{root} {ODF_NS} office:version="1.3"{mime}>'
            '<office:automatic-styles><text:list-style style:name="L1">'
            f'<text:list-level-style-number text:level="1" {attributes} style:num-format=""/>'
            '</text:list-style></office:automatic-styles><office:body><office:text>'
            '<text:list text:style-name="L1"><text:list-item><text:p/></text:list-item></text:list>'
            f'{paragraphs}</office:text></office:body></{root}>')


def odt(attributes: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
                   'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry '
                   'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                   '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                   '</manifest:manifest>')
        z.writestr("content.xml", odf_content(attributes))
    return out.getvalue()


def read(name: str, data: bytes):
    found = classify_raw(letter(files=[(name, data)]))
    return found.level, found.certain


@pytest.mark.parametrize("label, level", [("ลับมาก", "secret"), ("ลับ", "confidential"),
                                          ("ลับที่สุด", "top_secret"), ("(ลับมาก)", "secret")])
def test_a_word_list_labelled_with_a_marking_is_read(label, level):
    assert read("2569_bangrak_memo.docx", docx(label)) == (level, True)


def test_a_word_list_label_with_its_number_is_read():
    # "ลับมาก %1" shows "ลับมาก 1" before the paragraph: a marking starting the first line.
    assert read("2569_bangrak_memo.docx", docx("ลับมาก %1", "เรื่อง แผนรักษาความปลอดภัย")) == ("secret", True)


@pytest.mark.parametrize("attributes", ['style:num-suffix="ลับมาก" loext:num-list-format="ลับมาก"',
                                        'style:num-prefix="ลับมาก"', 'style:num-suffix="ลับมาก"'])
def test_an_opendocument_list_labelled_with_a_marking_is_read(attributes):
    assert read("2569_bangrak_memo.odt", odt(attributes)) == ("secret", True)
    flat = odf_content(attributes, flat=True).encode()
    assert read("2569_bangrak_memo.fodt", flat) == ("secret", True)


@pytest.mark.parametrize("label", ["%1.", "ข้อ %1", "(%1)", "%1.%2.", "\uf0b7", "ความลับ %1", "สลับ"])
def test_ordinary_list_labels_stay_ordinary(label):
    assert read("2569_bangrak_memo.docx", docx(label, "ข้อมูลทั่วไป")) == ("none", True)
    attributes = f'style:num-prefix="{label.replace("%1", "")}" style:num-suffix="."'
    assert read("2569_bangrak_memo.odt", odt(attributes)) == ("none", True)


def rtf_list(label_escapes: str, with_listtext: bool = False) -> bytes:
    """An RTF letter whose first paragraph is of a list level with no number
    (`\\levelnfc255`) labelled by `label_escapes`: what a writer other than Word saves
    (Word writes the label again in the paragraph as {\\listtext}); LibreOffice shows it."""
    listtext = f"{{\\listtext {label_escapes}\\tab}}" if with_listtext else ""
    return ("{\\rtf1\\ansi\\ansicpg874\\deff0{\\fonttbl{\\f0\\fcharset222 Tahoma;}}"
            "{\\*\\listtable{\\list\\listtemplateid1{\\listlevel\\levelnfc255\\levelstartat1"
            f"{{\\leveltext\\'06{label_escapes};}}{{\\levelnumbers;}}\\fi-360\\li720}}\\listid1}}}}"
            "{\\*\\listoverridetable{\\listoverride\\listid1\\listoverridecount0\\ls1}}"
            f"\\pard\\ls1\\ilvl0 {listtext}\\par\\pard "
            + "\\par ".join(ORDINARY) + "\\par}").encode("cp874")


MARKED_ESCAPES = "\\u3621?\\u3633?\\u3610?\\u3617?\\u3634?\\u3585?"  # ลับมาก


@pytest.mark.parametrize("escapes", [MARKED_ESCAPES, "ลับมาก", "\\'c5\\'d1\\'ba\\'c1\\'d2\\'a1"],
                         ids=["unicode", "code-page", "hex"])
def test_an_rtf_list_labelled_with_a_marking_is_read(escapes):
    assert read("2569_bangrak_memo.rtf", rtf_list(escapes)) == ("secret", True)


@pytest.mark.parametrize("escapes", ["\\'02\\'00.", "\\u3586?\\u3657?\\u3629? \\'00", "\\'01\\u-3913 ?"],
                         ids=["number", "thai-word-number", "bullet"])
def test_ordinary_rtf_list_labels_stay_ordinary(escapes):
    rtf = rtf_list(escapes).replace(b"\\'06", b"", 1)  # the label's own length byte is in `escapes`
    assert read("2569_bangrak_memo.rtf", rtf) == ("none", True)


def test_word_97_list_labels_are_read_from_the_table_stream():
    """A .doc keeps each list level's label in its table stream (1Table, the LVL's xst),
    not in the WordDocument stream that was read: LibreOffice's .doc of a list labelled
    ลับมาก held the marking only there."""
    from tests.classified.test_unreadable_files import word_stream
    from tests.secrecy.test_encrypted_files_fail_closed import cfb

    def lvl(label: str) -> bytes:  # LVLF (28 bytes), empty grpprls, then the xst
        return b"\x00" * 28 + b"\x05" + b"\x00" * 3 + len(label).to_bytes(2, "little") + label.encode("utf-16-le")

    table = b"\x00" * 64 + lvl("ลับมาก") + b"\x00" * 64
    assert read("2569_bangrak_memo.doc", cfb({"WordDocument": word_stream(""), "1Table": table})) == ("secret", True)
    table = b"\x00" * 64 + lvl("ข้อ \x00") + "TH SarabunPSK\x00ความลับของทางราชการ".encode("utf-16-le") + b"\x00" * 64
    assert read("2569_bangrak_memo.doc", cfb({"WordDocument": word_stream(""), "0Table": table})) == ("none", True)


def excel_with_a_string_cut(text: str, cut: int) -> bytes:
    """An Excel 97-2003 workbook whose shared strings run past one record: Excel goes on
    in a CONTINUE record (MS-XLS 2.4.58), cutting `text` after `cut` characters, the
    rest behind the CONTINUE's header and an option byte."""
    import struct

    from tests.secrecy.test_encrypted_files_fail_closed import cfb
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 5, 0x1F4B, 0x07CC, 0, 0x0106)
    first = struct.pack("<HB", len(ORDINARY[2]), 1) + ORDINARY[2].encode("utf-16-le")
    second = struct.pack("<HB", len(text), 1) + text[:cut].encode("utf-16-le")
    sst = struct.pack("<HHII", 0x00FC, 8 + len(first) + len(second), 2, 2) + first + second
    rest = b"\x01" + text[cut:].encode("utf-16-le")
    return cfb({"Workbook": bof + sst + struct.pack("<HH", 0x003C, len(rest)) + rest + struct.pack("<HH", 0x000A, 0)})


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5])
def test_an_excel_97_string_cut_by_a_continue_record_is_read_whole(cut):
    assert read("2569_bangrak_report.xls", excel_with_a_string_cut("ลับมาก", cut)) == ("secret", True)
    assert read("2569_bangrak_report.xls", excel_with_a_string_cut("สลับเวร", cut)) == ("none", True)


def test_a_flat_opendocument_field_shows_the_value_of_its_declaration():
    """A user field with no text of its own in a flat .fodt: LibreOffice shows its
    declaration's value (ลับมาก) where it stands; read in a zipped .odt since session 33."""
    content = odf_content('style:num-suffix="."', flat=True).replace(
        "<office:text>", '<office:text><text:user-field-decls><text:user-field-decl office:value-type="string" '
        'office:string-value="ลับมาก" text:name="c"/></text:user-field-decls>'
        '<text:p><text:user-field-get text:name="c"/></text:p>', 1)
    assert read("2569_bangrak_memo.fodt", content.encode()) == ("secret", True)
    ordinary = content.replace('office:string-value="ลับมาก"', 'office:string-value="ความลับของทางราชการ"')
    assert read("2569_bangrak_memo.fodt", ordinary.encode()) == ("none", True)
