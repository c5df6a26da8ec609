"""A marking in an RTF file's comment or in an older drawing's text box is read
(session 50's red team of files that are not plain PDFs).

Word and Writer show an RTF comment (`{\\*\\annotation ...}`) in the margin, as they
show a DOCX's comments, which the gateway reads since session 37; and they draw the
text box of an older drawing object (`{\\*\\do ... {\\dptxbxtext ...}}`) on the page.
The RTF reading took both for hidden destinations (`{\\*` groups): a ลับมาก comment,
even in the RTF that LibreOffice itself saves, left the letter ordinary and certain."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.secrecy.test_office_hidden_session36 import ODF_NS

LINES = ["ที่ กท ๐๔๐๓/๕๗", "เรื่อง ขอเชิญประชุมคณะกรรมการ", "เรียน ผู้อำนวยการเขต"]
NAME = "2569_dds_0403_57.rtf"


def escaped(text: str) -> str:
    return "".join(f"\\u{ord(c)}?" if ord(c) > 127 else c for c in text)


def rtf(shown_first: str) -> bytes:
    body = "".join(f"\\pard {escaped(line)}\\par\n" for line in LINES)
    return ("{\\rtf1\\ansi\\ansicpg874\\deff0{\\fonttbl{\\f0\\fcharset222 Tahoma;}}\n" + shown_first + body + "}").encode()


COMMENT = ("{\\*\\atnid สช}{\\*\\atnauthor somchai}\\chatn{\\*\\annotation{\\*\\atnref 0}\\pard "
           + escaped("ลับมาก") + "}\n")
TEXT_BOX = "{\\*\\do\\dobxpage\\dobypage\\dptxbx{\\dptxbxtext\\pard " + escaped("ลับมาก") + "\\par}}\n"


def soffice_converts(data: bytes, suffix: str, to: str) -> bytes:
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, f"letter.{suffix}").write_bytes(data)
        subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
                        "--convert-to", to, "--outdir", f"{tmp}/out", f"{tmp}/letter.{suffix}"],
                       check=True, capture_output=True, timeout=180)
        return Path(tmp, "out", f"letter.{to}").read_bytes()


@pytest.mark.parametrize("shown, element", [(COMMENT, "office:annotation"), (TEXT_BOX, "draw:text-box")])
def test_writer_shows_the_marking_and_it_is_read(shown, element):
    data = rtf(shown)
    with zipfile.ZipFile(__import__("io").BytesIO(soffice_converts(data, "rtf", "odt"))) as odt:
        content = odt.read("content.xml").decode()
    start = content.index(f"<{element}")
    assert "ลับมาก" in content[start:content.index(f"</{element}>", start)]  # what Writer shows
    found = classify_raw(letter(files=[(NAME, data)]))
    assert (found.level, found.certain) == ("secret", True), found


def test_a_comment_in_the_rtf_libreoffice_saves_is_read():
    paras = "".join(f"<text:p>{line}</text:p>" for line in LINES)
    comment = "<office:annotation><dc:creator>somchai</dc:creator><text:p>ลับมาก</text:p></office:annotation>"
    content = (f'<office:document-content {ODF_NS} xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3">'
               f"<office:body><office:text><text:p>{comment}บันทึกข้อความ</text:p>{paras}</office:text>"
               "</office:body></office:document-content>")
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as odt:
        odt.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        odt.writestr("META-INF/manifest.xml",
                     '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                     '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                     '"application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path='
                     '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        odt.writestr("content.xml", content)
    saved = soffice_converts(buf.getvalue(), "odt", "rtf")
    assert b"\\*\\annotation" in saved and "ลับมาก".encode() not in saved
    found = classify_raw(letter(files=[(NAME, saved)]))
    assert (found.level, found.certain) == ("secret", True), found


def test_an_unmarked_comment_and_hidden_destinations_stay_ordinary():
    plain = COMMENT.replace(escaped("ลับมาก"), escaped("โปรดตรวจทาน"))
    hidden = "{\\*\\generator " + escaped("ลับมาก") + ";}{\\info{\\title " + escaped("ลับมาก") + "}}\n"
    for data in (rtf(plain), rtf(hidden)):
        found = classify_raw(letter(files=[(NAME, data)]))
        assert (found.level, found.certain) == ("none", True), found
