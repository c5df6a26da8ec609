"""XPS pages and JSON files are read as their viewers show them (session 43's red team).

* A document printed to XPS (Windows' "Microsoft XPS Document Writer", OpenXPS) keeps a
  page's text in the `UnicodeString` attribute of its `<Glyphs>` elements: the element
  text the XML reading kept was empty. A ลับมาก XPS, attached or zipped with the cover
  letter, was ordinary and certain: registered in the general book, filed in plain.
* A .json file was not read at all (a JSON viewer shows `"\\u0e25\\u0e31\\u0e1a"` as ลับ)."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))


def _xps(runs: list[tuple[float, float, str]], page_root: str = "FixedPage") -> bytes:
    """An XPS package of one page drawing each (x, y, text) run, in the order given."""
    glyphs = "".join(f'<Glyphs Fill="#ff000000" FontRenderingEmSize="16" OriginX="{x}" OriginY="{y}" '
                     f'UnicodeString="{text}" FontUri="/Resources/f.odttf"/>' for x, y, text in runs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="fpage" ContentType='
                   '"application/vnd.ms-package.xps-fixedpage+xml"/></Types>')
        z.writestr("FixedDocSeq.fdseq", '<FixedDocumentSequence xmlns="http://schemas.microsoft.com/xps/2005/06">'
                   '<DocumentReference Source="/Documents/1/FixedDoc.fdoc"/></FixedDocumentSequence>')
        z.writestr("Documents/1/FixedDoc.fdoc", '<FixedDocument xmlns="http://schemas.microsoft.com/xps/2005/06">'
                   '<PageContent Source="/Documents/1/Pages/1.fpage"/></FixedDocument>')
        z.writestr("Documents/1/Pages/1.fpage", f'<{page_root} xmlns="http://schemas.microsoft.com/xps/2005/06" '
                   f'Width="816" Height="1056" xml:lang="th-TH">{glyphs}</{page_root}>')
    return out.getvalue()


def _zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, data)
    return out.getvalue()


def _reading(name: str, data: bytes) -> tuple[str, bool]:
    found = classify_raw(letter(subject="แจ้ง", body="โปรดดูไฟล์แนบ", files=[COVER, (name, data)]))
    return found.level, found.certain


BODY = [(96, 160, "เรื่อง ขอส่งแผนการปฏิบัติงาน"), (96, 190, "เรียน ผู้อำนวยการเขต")] + \
    [(96, 220 + 30 * n, "ข้อความของหนังสือ ขอให้ดำเนินการตามแผน") for n in range(20)]


@pytest.mark.parametrize("wrap", ["attached", "zipped"])
@pytest.mark.parametrize(("word", "level"), [("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"), ("", "none")])
def test_an_xps_page_is_read_as_it_is_laid_out(wrap, word, level):
    # The marking drawn last in the markup, at the head and the foot of the page.
    runs = BODY + ([(380, 40, word), (380, 1020, word)] if word else [])
    data = _xps(runs)
    name, data = ("2569_dds_0403_57_1.xps", data) if wrap == "attached" else \
        ("2569_dds_0403_57_1.zip", _zipped("annex.oxps", data))
    assert _reading(name, data) == (level, True)


def test_runs_on_one_baseline_are_one_line_and_escapes_are_undone():
    text = file_texts.xps_page_text(
        '<FixedPage><Glyphs OriginX="300" OriginY="40.5" FontRenderingEmSize="16" UnicodeString="ลับ"/>'
        '<Glyphs OriginX="96" OriginY="40" FontRenderingEmSize="16" UnicodeString="{}{ที่ กท ๐๔๐๗"/>'
        '<Glyphs OriginX="96" OriginY="90" FontRenderingEmSize="16" UnicodeString="&#x0e40;รื่อง"/></FixedPage>')
    assert text == "{ที่ กท ๐๔๐๗ ลับ\nเรื่อง"
    assert file_texts.xps_page_text("<FixedPage><Path Data='M 0 0'/></FixedPage>") is None


def test_a_page_of_more_runs_than_are_read_is_said_unread():
    runs = "".join(f'<Glyphs OriginX="1" OriginY="{n}" UnicodeString="x"/>' for n in range(file_texts._MAX_GLYPHS + 1))
    unread: list[str] = []
    file_texts.xps_page_text(f"<FixedPage>{runs}</FixedPage>", unread, "file 2")
    assert unread == [f"file 2: {file_texts.GLYPHS_PAST_LIMIT}"]
    level, certain = _reading("a.xps", _xps([(1, n, "ข้อความ") for n in range(file_texts._MAX_GLYPHS + 1)]))
    assert level != "none" and not certain


@pytest.mark.parametrize("data", [
    json.dumps({"head": "ลับมาก", "items": [1, 2]}, ensure_ascii=False).encode(),
    json.dumps({"head": "ลับมาก"}).encode(),  # \u escapes
    b'{"head": "\\u0e25\\u0e31\\u0e1a\\u0e21\\u0e32\\u0e01", broken',  # no JSON: its strings still
], ids=["utf-8", "escaped", "broken"])
@pytest.mark.parametrize("wrap", ["attached", "zipped"])
def test_a_json_files_strings_are_read(data, wrap):
    name, data = ("data.json", data) if wrap == "attached" else ("2569_dds_0403_57_1.zip", _zipped("data.json", data))
    assert _reading(name, data) == ("secret", True)
    assert _reading("data.json", json.dumps({"note": "กลับบ้าน"}).encode()) == ("none", True)


def test_a_hostile_json_file_is_read_in_linear_time():
    import time

    started = time.process_time()
    for text in ('"' + '\\"' * 200_000, '"a' * 300_000, '[' * 100_000):
        file_texts.json_text(text)
    assert time.process_time() - started < 20  # quadratic: minutes


def test_an_xps_run_drawn_by_glyph_index_alone_is_said_unread():
    """A variation the red team did not name: XPS lets a run draw its glyphs by index
    with no UnicodeString (`<Glyphs Indices="...">`). A viewer shows the stamp; no text
    says what it is, so the letter is at least ลับ, uncertain (fail closed), as for a PDF
    font without /ToUnicode. It read as ordinary and certain."""
    page = ('<FixedPage><Glyphs OriginX="380" OriginY="40" FontRenderingEmSize="20" Indices="211;187;205;212;223"/>'
            '<Glyphs OriginX="96" OriginY="160" FontRenderingEmSize="16" UnicodeString="เรื่อง ขอส่งแผน"/></FixedPage>')
    unread: list[str] = []
    assert file_texts.xps_page_text(page, unread, "file 2") == "เรื่อง ขอส่งแผน"
    assert unread == [f"file 2: {file_texts.GLYPHS_WITHOUT_TEXT}"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("Documents/1/Pages/1.fpage", page)
    level, certain = _reading("2569_dds_0403_57_1.xps", out.getvalue())
    assert level != "none" and not certain
    # Every run with its text: read, and certain.
    assert _reading("a.xps", _xps(BODY)) == ("none", True)


@pytest.mark.parametrize("name", ["data.jsonl", "map.geojson", "ld.jsonld", "export.ndjson"])
def test_json_by_its_other_names_is_read_too(name):
    """Variations the red team did not name: JSON Lines (each line a document, so the
    whole does not parse) and the other JSON names, escaped."""
    lines = b"\n".join(json.dumps({"n": n, "head": "ลับมาก" if n == 2 else "ปกติ"}).encode() for n in range(4))
    assert _reading(name, lines) == ("secret", True)


def test_a_json_typed_part_is_read_by_its_type():
    from gateway.pipeline.file_texts import _is_json

    assert _is_json("application/ld+json", "x.bin", "") and _is_json("", "x", "application/x-ndjson")
    assert not _is_json("image/svg+xml", "a.svg", "text/xml")
