"""An RTF file whose header is `{\\rt` without the `f` is read as RTF (session 50's red
team of files that are not plain PDFs).

Word decides that a file is RTF by its first four bytes, `{\\rt`, whatever follows
(`{\\rtx`, `{\\rt0`): a trick known from malicious documents, flagged by the YARA rule
SUSP_RTF_Header_Anomaly ("malformed RTF header often used to trick mechanisms that
check for a full RTF header": `{\\rt` at 0 and no `f` at 4). file(1) calls such a file
text/plain and the gateway read it as text: the letter's Thai, which Word writes as
`\\'xx` bytes of code page 874 or as `\\uN` escapes, was read as escapes, and a ลับมาก
letter saved so was ordinary and certain. LibreOffice shows the same file as its RTF
source (it wants the whole `{\\rtf`); the reading follows Word, what the sender and the
clerk open a `.doc` with."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.letters import letter

MARKED = ["ลับมาก", "ที่ กท ๐๔๐๓/๕๗", "เรื่อง ขอเชิญประชุมคณะกรรมการ", "เรียน ผู้อำนวยการเขต"]


def as_word_writes(lines: list[str], header: str = "{\\rtf1", escapes: str = "hex") -> bytes:
    """A Thai RTF as Word saves it: each Thai byte of code page 874 as `\\'xx`, or each
    character as `\\uN` with a `?` for readers without Unicode."""
    def one(line: str) -> str:
        if escapes == "hex":
            return "".join(f"\\'{b:02x}" for b in line.encode("cp874"))
        return "".join(f"\\u{ord(c)}?" if ord(c) > 127 else c for c in line)
    body = "".join(one(line) + "\\par\n" for line in lines)
    return (header + "\\ansi\\ansicpg874\\deff0{\\fonttbl{\\f0\\fcharset222 Tahoma;}}\n\\f0 " + body + "}").encode()


@pytest.mark.parametrize("header", ["{\\rtx", "{\\rt0", "{\\rt"])
@pytest.mark.parametrize("escapes", ["hex", "unicode"])
def test_a_marking_in_an_rtf_word_opens_is_read(header, escapes):
    rtf = as_word_writes(MARKED, header, escapes)
    assert "ลับมาก".encode() not in rtf and "ลับมาก".encode("cp874") not in rtf  # only as escapes
    found = classify_raw(letter(files=[("2569_dds_0403_57.doc", rtf)]))
    assert (found.level, found.certain) == ("secret", True), found


def test_the_same_inside_an_archive_is_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annex/2569_dds_0403_58.rtf", as_word_writes(MARKED, "{\\rtx"))
    found = classify_raw(letter(files=[("2569_dds_0403_57.zip", buf.getvalue())]))
    assert (found.level, found.certain) == ("secret", True), found


def test_an_unmarked_one_and_a_text_about_rtf_stay_ordinary():
    found = classify_raw(letter(files=[("2569_dds_0403_57.doc", as_word_writes(MARKED[1:], "{\\rtx"))]))
    assert (found.level, found.certain) == ("none", True), found
    note = "{\\rtf1 เป็นหัวของไฟล์ RTF}\nที่ กท ๐๔๐๓/๕๗\nเรื่อง ขอเชิญประชุม".encode()
    found = classify_raw(letter(files=[("2569_dds_0403_57.txt", note)]))
    assert (found.level, found.certain) == ("none", True), found
