"""A CSV file's marking alone in its cell is read as Excel and Calc show it (session
50's red team of files that are not plain PDFs).

A sheet saved "CSV (Comma delimited)" keeps a row's cells on one line: ลับมาก in A1 and
the sheet's title in B1 is `ลับมาก,บัญชีรายชื่อ`. Excel and Calc open the file as a
sheet and show ลับมาก alone in A1; the gateway read it as text, one line with the
marking not alone, and a ลับมาก letter sent as a CSV was ordinary and certain (a sheet
saved as XLSX was read cell by cell). Calc is not installed on the test machines (only
Writer is), so the sheet's reading is the RFC 4180 one Excel and Calc share."""
from __future__ import annotations

import io
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.letters import letter

ROWS = ["ลับมาก,บัญชีรายชื่อผู้เข้าประชุม,,", "ที่ กท ๐๔๐๓/๕๗,เรื่อง ขอเชิญประชุม,,",
        "ลำดับ,ชื่อ,ตำแหน่ง,หน่วยงาน", "1,นายสมชาย ใจดี,ผู้อำนวยการเขต,สำนักงานเขตดินแดง"]
NAME = "2569_dds_0403_57.csv"


def as_excel_saves(rows: list[str], codec: str = "utf-8-sig") -> bytes:
    return "\r\n".join(rows).encode(codec) + b"\r\n"


@pytest.mark.parametrize("codec", ["utf-8-sig", "cp874"])  # Excel's "CSV UTF-8", and its ANSI CSV on Thai Windows
def test_a_marking_alone_in_a_csv_cell_is_read(codec):
    found = classify_raw(letter(files=[(NAME, as_excel_saves(ROWS, codec))]))
    assert (found.level, found.certain) == ("secret", True), found


@pytest.mark.parametrize("first", ['"ลับมาก","บัญชีรายชื่อ ""ฉบับแก้ไข"""', "ลับมาก;บัญชีรายชื่อ"])
def test_quoted_and_semicolon_cells_are_read(first):
    found = classify_raw(letter(files=[(NAME, as_excel_saves([first, *ROWS[1:]]))]))
    assert (found.level, found.certain) == ("secret", True), found


def test_the_same_inside_an_archive_is_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annex/2569_dds_0403_58.csv", as_excel_saves(ROWS))
    found = classify_raw(letter(files=[("2569_dds_0403_57.zip", buf.getvalue())]))
    assert (found.level, found.certain) == ("secret", True), found


def test_a_sheet_that_only_names_a_marking_stays_ordinary():
    rows = ["ระเบียบว่าด้วยการรักษาความลับของทางราชการ,พ.ศ. ๒๕๔๔", *ROWS[1:]]
    found = classify_raw(letter(files=[(NAME, as_excel_saves(rows))]))
    assert (found.level, found.certain) == ("none", True), found
