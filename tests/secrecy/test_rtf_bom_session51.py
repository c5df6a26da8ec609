"""An RTF file behind a UTF-8 byte order mark, or with Word's short `{\\rt` header, is
read both as RTF and as its source (session 51; left alone in session 50's note).

Which program shows such a file as RTF and which as its source text, the gateway cannot
tell: Word looks for `{\\rt`, LibreOffice wants the whole `{\\rtf` at the first byte and
otherwise shows the source. Before, a BOM made the file text alone, so a ลับมาก letter
saved by Word's escapes (`\\'xx`, `\\uN`) behind one was ordinary and certain; and the
short header made it RTF alone, so a marking typed into the source as UTF-8 (which
LibreOffice shows as Thai) was ordinary and certain too."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.secrecy.test_rtf_short_header_session50 import MARKED, as_word_writes

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("name", ["2569_dds_0403_57.rtf", "2569_dds_0403_57.doc"])
@pytest.mark.parametrize("escapes", ["hex", "unicode"])
def test_a_marking_in_word_escapes_behind_a_byte_order_mark_is_read(name, escapes):
    rtf = BOM + as_word_writes(MARKED, "{\\rtf1", escapes)
    assert "ลับมาก".encode() not in rtf and "ลับมาก".encode("cp874") not in rtf  # only as escapes
    found = classify_raw(letter(files=[(name, rtf)]))
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("front, header", [(b"", "{\\rtx"), (BOM, "{\\rtx"), (BOM, "{\\rtf1"), (b"\r\n", "{\\rtf1")],
                         ids=["short", "bom-short", "bom", "blank-line"])
def test_a_marking_typed_into_the_source_of_an_rtf_shown_as_source_is_read(front, header):
    source = front + (header + "\\ansi\\ansicpg874\nลับมาก\n\\par\nเรื่อง ขอเชิญประชุมคณะกรรมการ\n}").encode()
    found = classify_raw(letter(files=[("2569_dds_0403_57.rtf", source)]))
    assert (found.level, found.certain) == ("secret", True), found


def test_the_same_inside_an_archive_is_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annex/2569_dds_0403_58.rtf", BOM + as_word_writes(MARKED, "{\\rtf1", "unicode"))
    found = classify_raw(letter(files=[("2569_dds_0403_57.zip", buf.getvalue())]))
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("header", ["{\\rtf1", "{\\rtx"])
def test_unmarked_ones_stay_ordinary(header):
    for escapes in ("hex", "unicode"):
        rtf = BOM + as_word_writes(MARKED[1:], header, escapes)
        found = classify_raw(letter(files=[("2569_dds_0403_57.doc", rtf)]))
        assert (found.level, found.certain) == ("none", True), (escapes, found)
