"""An SVG, XHTML or XML file's own entities are expanded as a browser expands them.

`<!DOCTYPE svg [<!ENTITY m 'ลับมาก'>]>` ... `<text>&m;</text>`: every XML parser (libxml2
in Chrome, expat in Firefox) draws ลับมาก, and until session 42 the file was read as
"&m;", ordinary (session 41's formats red team). A file whose expansion runs past
MAX_EXPANDED characters (a "billion laughs"), or loops, is one whose text cannot be
told: at least ลับ, uncertain (gateway/pipeline/file_texts.py `with_internal_entities`)."""
from __future__ import annotations

import time

import pytest

from gateway.pipeline import file_texts
from gateway.pipeline.unread_words import thai_phrase
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

COVER = ("cover.pdf", make_pdf("cover"))
SVG = "<svg xmlns='http://www.w3.org/2000/svg' width='400' height='100'><text x='10' y='50'>{}</text></svg>"


def _with(name: str, document: str) -> bytes:
    return letter(subject="แจ้งการประชุม", body="โปรดดูไฟล์แนบ", files=[COVER, (name, document.encode())])


@pytest.mark.parametrize("name, document, level", [
    ("a.svg", "<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY m 'ลับมาก'>]>" + SVG.format("&m;"), "secret"),
    ("a.svg", "<!DOCTYPE svg [<!ENTITY m '&#3621;&#3633;&#3610;&#3617;&#3634;&#3585;'>]>" + SVG.format("&m;"),
     "secret"),
    ("a.svg", '<!DOCTYPE svg [<!ENTITY a "ลับ"><!ENTITY b "&a;ที่สุด">]>' + SVG.format("&b;"), "top_secret"),
    ("a.svg", "<!DOCTYPE svg [<!ENTITY m 'ลับ'><!ENTITY m 'ทั่วไป'>]>" + SVG.format("&m;"), "confidential"),
    ("a.xhtml", "<?xml version='1.0' encoding='utf-8'?><!DOCTYPE html [<!ENTITY m 'ลับมาก'>]>"
                "<html xmlns='http://www.w3.org/1999/xhtml'><body><p>&m;</p><p>เรื่อง การประชุม</p></body></html>",
     "secret"),
    ("a.xml", "<?xml version='1.0'?><!DOCTYPE doc [<!ENTITY m 'ลับมาก'>]><doc><p>&m;</p><p>เรื่อง</p></doc>",
     "secret"),
], ids=["svg", "svg, the value in character references", "an entity within an entity",
        "the first declaration binds", "xhtml", "xml"])
def test_an_entity_a_browser_expands_is_read_expanded(name, document, level):
    found = classify_raw(_with(name, document))
    assert (found.level, found.certain, found.where) == (level, True, "file 2"), found


def test_an_illustrator_svg_with_its_namespace_entities_stays_ordinary():
    document = ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
                '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [\n'
                '\t<!ENTITY ns_extend "http://ns.adobe.com/Extensibility/1.0/">\n'
                '\t<!ENTITY ns_svg "http://www.w3.org/2000/svg">\n]>\n'
                '<svg version="1.1" xmlns:x="&ns_extend;" xmlns="&ns_svg;"><text>ตราสัญลักษณ์ กรุงเทพมหานคร</text></svg>')
    found = classify_raw(_with("logo.svg", document))
    assert (found.level, found.certain) == ("none", True), found


def _laughs(levels: int) -> str:
    entities = "<!ENTITY lol0 'lol'>" + "".join(
        f"<!ENTITY lol{n} '{f'&lol{n - 1};' * 10}'>" for n in range(1, levels + 1))
    return f"<?xml version='1.0'?><!DOCTYPE svg [{entities}]>" + SVG.format(f"&lol{levels};&m;")


@pytest.mark.parametrize("document", [
    _laughs(9).replace("]>", "<!ENTITY m 'ลับมาก'>]>", 1),
    "<!DOCTYPE svg [<!ENTITY a '&b;'><!ENTITY b '&a;'>]>" + SVG.format("&a;"),
], ids=["a billion laughs", "a loop"])
def test_an_expansion_past_its_limit_is_not_read_and_fails_closed(document):
    began = time.monotonic()
    found = classify_raw(_with("a.svg", document))
    assert time.monotonic() - began < 10
    phrase = f"file 2: {file_texts.ENTITIES_PAST_LIMIT}"
    assert (found.level, found.certain) == ("confidential", False), found
    assert phrase in found.where
    assert "XML" in thai_phrase(phrase) and thai_phrase(phrase) != phrase


def test_an_expansion_within_its_limit_is_whole():
    document = _laughs(5).replace("&m;", "")  # 300,000 characters: within MAX_EXPANDED
    expanded, whole = file_texts.with_internal_entities(document)
    assert whole and expanded.count("lol") == 10 ** 5 and "<!ENTITY" not in expanded


def test_only_what_an_xml_parser_opens_is_expanded():
    """A browser parses text/html without expanding a DTD's entities (it shows "&m;"),
    and a text editor shows a .txt as it is: a handout quoting a billion laughs is no
    file whose text cannot be told (session 42's second red team)."""
    page = "<!DOCTYPE html [<!ENTITY m 'ลับมาก'>]><html><body><p>&m;</p><p>เรื่อง การประชุม</p></body></html>"
    assert classify_raw(_with("page.html", page)).level == "none"
    handout = "ตัวอย่างการโจมตี XML\n" + _laughs(9) + "\nอย่าเปิดไฟล์ลักษณะนี้\n"
    found = classify_raw(_with("handout.txt", handout))
    assert (found.level, found.certain) == ("none", True), found


def test_many_document_type_declarations_are_read_in_one_pass():
    """Searched from each `<!DOCTYPE` to the text's end: 240 KB took 20 s."""
    began = time.monotonic()
    for document in ("<!ENTITY " + "<!DOCTYPE a[" * 20_000, "<!ENTITY " + "<!DOCTYPE " * 20_000):
        assert classify_raw(_with("a.svg", document)).level == "none"
    assert time.monotonic() - began < 10


def test_a_flat_opendocument_files_entities_are_expanded_as_libreoffice_does():
    """A .fodt is XML that LibreOffice parses (libxml2, entities expanded); its name was
    taken for a text file's, and `&m;` read as written (session 42's review)."""
    document = ('<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE office:document [<!ENTITY m "ลับมาก">]>'
                '<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
                "<text:p>&m;</text:p><text:p>เรื่อง การประชุม</text:p></office:text></office:body></office:document>")
    found = classify_raw(_with("letter.fodt", document))
    assert (found.level, found.where) == ("secret", "file 2"), found
