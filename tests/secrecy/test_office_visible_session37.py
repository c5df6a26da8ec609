"""What Word, Excel, PowerPoint and LibreOffice show a reader by default that the gateway
did not read (session 37).

Each shape was read as no marking before session 37, so that a letter marked ลับที่สุด
only there was taken in with 250 and filed in plain text, and one marked ลับ went into the
general register (gateway/pipeline/file_texts.py; docs/secrecy.md "Where in the letter"):

1. Word: comments (shown in the margin) and tracked deletions (shown struck through with
   "All Markup", Word's default, and by LibreOffice);
2. Excel: sheet tab names, cell comments (notes) and threaded comments;
3. PowerPoint: comments; a notes or handout master no relationship names;
4. OpenDocument: comments (office:annotation, read glued to their author and date),
   tracked deletions (glued to theirs), sheet names and page names.

Each marking so read counts as the enclosure's own text does (rules/markings.py decides):
ลับ glued after Thai letters is part of a word (a sheet named สลับ, a comment saying
ไม่ลับ), and stays ordinary. Each case is read through the DATA check's reading
(`classify_raw` -> parse_mail -> file_texts.read_texts); two go through the daemon
(tests/hostile/markings_cases.py)."""
from __future__ import annotations

from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _zip
from tests.secrecy.test_office_hidden_session36 import ODF_NS, REL, S, W, docx_with, odf, reading, rels

# --------------------------------------------------------------------------- 0 empty values

def test_an_empty_attribute_value_is_read_not_a_crash():
    """`office:string-value=""` (an empty user field: 38 of the 120 OpenDocument templates and samples LibreOffice ships
    have one) and an empty relationship attribute raised TypeError: the file was "not
    read" and the letter ลับ, uncertain, though it was ordinary."""
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
