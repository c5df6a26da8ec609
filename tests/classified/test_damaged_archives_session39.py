"""Session 39's red team: a ZIP-based file (DOCX, XLSX, ODT, ZIP) whose directory is cut
or damaged, and a bzip2/gzip/xz file cut short, were read as holding no marking, certain.

The ZIP reader opens a ZIP by its directory at the end; without one it opens nothing,
and the file was taken as empty. Word offers to recover such a file, 7-Zip and a
streaming unzip show its members from their local headers: a ลับมาก DOCX cut short in
transfer (or by a sender who wanted it through) was registered ordinary and filed in
plain. bzip2 gives nothing before its block's end: a .txt.bz2 cut short read as empty.
Now each is a file that could not be read: the letter is at least ลับ, uncertain."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.classified.test_red_team_session15 import file_letter

SECRET = "ลับมาก\nเรื่อง แผนรักษาความปลอดภัย\n"
PAD = "ข้อความ " * 2000

DOCUMENT = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>ลับมาก</w:t></w:r></w:p><w:p><w:r><w:t>'
            f'{MARKER} ' + "ข้อความ " * 300 + '</w:t></w:r></w:p></w:body></w:document>')
TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
         'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
         'officedocument.wordprocessingml.document.main+xml"/></Types>')


def _zip(members: dict[str, str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return out.getvalue()


def _docx(method: int = zipfile.ZIP_DEFLATED) -> bytes:
    return _zip({"[Content_Types].xml": TYPES, "word/document.xml": DOCUMENT}, method)


def _without_directory(data: bytes) -> bytes:
    return data[:data.find(b"PK\x01\x02")]


def _cut(data: bytes, share: float = 0.85) -> bytes:
    return data[:int(len(data) * share)]


def _garbled_directory(data: bytes) -> bytes:
    at = data.find(b"PK\x01\x02")
    return data[:at] + b"\xff" * (len(data) - at - 22) + data[-22:]


DAMAGED = {
    "docx without its directory": ("2569_dds_0403_57_1.docx", _without_directory(_docx())),
    "docx cut short": ("2569_dds_0403_57_1.docx", _cut(_docx(), 0.9)),
    "docx with its directory garbled": ("2569_dds_0403_57_1.docx", _garbled_directory(_docx())),
    "zip without its directory": ("2569_dds_0403_57_1.zip", _without_directory(_zip({"a.txt": SECRET + PAD}))),
    "zip cut short": ("2569_dds_0403_57_1.zip", _cut(_zip({"a.txt": SECRET + PAD}))),
    "bzip2 cut short": ("2569_dds_0403_57_1.txt.bz2", _cut(bz2.compress((SECRET + PAD).encode()))),
    "tar.gz cut short": ("2569_dds_0403_57_1.txt.gz", _cut(gzip.compress((PAD + SECRET).encode()))),
    "xz cut short": ("2569_dds_0403_57_1.txt.xz", _cut(lzma.compress((PAD + SECRET).encode()))),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_or_cut_archive_is_a_file_not_read_never_certain(case):
    found = classify_raw(file_letter(*DAMAGED[case]))
    assert found.level in ("confidential", "secret"), found
    if found.level == "confidential":
        assert not found.certain and "(damaged)" in found.where, found


@pytest.mark.parametrize("data", [_docx(), _zip({"a.txt": SECRET}), bz2.compress(SECRET.encode())],
                         ids=["docx", "zip", "bzip2"])
def test_the_same_files_whole_are_read_as_before(data):
    name = {b"PK": "2569_dds_0403_57_1.docx", b"BZ": "2569_dds_0403_57_1.txt.bz2"}[data[:2]]
    found = classify_raw(file_letter(name, data))
    assert (found.level, found.certain) == ("secret", True), found


def test_damaged_files_without_a_marking_are_ลับ_uncertain():
    plain = _without_directory(_zip({"a.txt": PAD}))
    found = classify_raw(file_letter("2569_dds_0403_57_1.zip", plain))
    assert (found.level, found.certain) == ("confidential", False), found
    found = classify_raw(file_letter("2569_dds_0403_57_1.txt.bz2", _cut(bz2.compress(PAD.encode()))))
    assert (found.level, found.certain) == ("confidential", False), found


def test_over_smtp_a_docx_without_its_directory_is_sealed_never_filed_in_plain(tmp_path):
    stored = _without_directory(_docx(zipfile.ZIP_STORED))  # its text readable in the bytes
    assert MARKER.encode() in stored
    with sealing_daemon(tmp_path / "gw") as d:
        qid = d.send(file_letter("2569_dds_0403_57_1.docx", stored), LATKRABANG)
        d.wait_idle(timeout=120)
        [(book, secrecy)] = db_rows(d, "select book, secrecy from letters where queue_id = ?", qid)
        assert book == "secret" and secrecy in ("confidential", "secret"), (book, secrecy)
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []
