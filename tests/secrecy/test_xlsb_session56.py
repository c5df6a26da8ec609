"""An Excel binary workbook (.xlsb) is read as Excel shows it (secrecy red team of
session 56).

Excel's "Excel Binary Workbook" (Save As > .xlsb, what large sheets are saved as) is an
OPC package like an .xlsx whose parts are BIFF12 records (MS-XLSB), not XML. Its main
part "could not be read": every .xlsb enclosure made its letter ลับ, uncertain (sealed
for the secret registrar, an ordinary one too), and one whose cell, sheet name or
printed header said ลับที่สุด was taken with a 250 and sealed instead of refused, where
seed 004 says a ลับที่สุด letter never travels electronically. Its strings are now read
as a 97-2003 workbook's are (UTF-16LE, each a line), each record apart."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งบัญชีรายชื่อตามไฟล์แนบ\n"

# MS-XLSB record types
BEGIN_BOOK, END_BOOK, BEGIN_SHEETS, END_SHEETS, SHEET = 131, 132, 143, 144, 156
BEGIN_SHEET, END_SHEET, BEGIN_DATA, END_DATA, ROW, CELL_ISST, CELL_ST = 129, 130, 145, 146, 0, 7, 6
BEGIN_SST, END_SST, SST_ITEM, BEGIN_HEAD_FOOT, END_HEAD_FOOT, DIMENSION = 159, 160, 19, 479, 480, 148


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def record(kind: int, data: bytes = b"") -> bytes:
    return _varint(kind) + _varint(len(data)) + data


def wide(text: str | None) -> bytes:
    if text is None:
        return b"\xff\xff\xff\xff"  # XLNullableWideString: none
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def _row(n: int, cells: int) -> bytes:
    return record(ROW, struct.pack("<IIHBBBI", n, 0, 300, 0, 0, 0, 1) + struct.pack("<II", 0, cells - 1))


def xlsb(shared: list[str], inline: list[list[str]] = (), sheet: str = "Sheet1", head: str | None = None) -> bytes:
    """An .xlsb of one sheet: row 0 the shared strings by index, each further row its
    inline strings (BrtCellSt), the sheet's tab name and its printed header."""
    book = (record(BEGIN_BOOK) + record(BEGIN_SHEETS)
            + record(SHEET, struct.pack("<II", 0, 1) + wide("rId1") + wide(sheet))
            + record(END_SHEETS) + record(END_BOOK))
    rows = _row(0, len(shared)) + b"".join(record(CELL_ISST, struct.pack("<IIi", col, 0, col))
                                           for col in range(len(shared)))
    for n, cells in enumerate(inline, start=1):
        rows += _row(n, len(cells)) + b"".join(record(CELL_ST, struct.pack("<II", col, 0) + wide(text))
                                               for col, text in enumerate(cells))
    width = max([len(shared), *(len(cells) for cells in inline)])
    sheet1 = (record(BEGIN_SHEET) + record(DIMENSION, struct.pack("<IIII", 0, len(inline), 0, max(width - 1, 0)))
              + record(BEGIN_DATA) + rows + record(END_DATA)
              + record(BEGIN_HEAD_FOOT, b"\x00\x00" + wide(head) + wide(None) * 5) + record(END_HEAD_FOOT)
              + record(END_SHEET))
    sst = (record(BEGIN_SST, struct.pack("<II", len(shared), len(shared)))
           + b"".join(record(SST_ITEM, b"\x00" + wide(s)) for s in shared) + record(END_SST))
    ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/'
                   'vnd.ms-excel.sheet.binary.macroEnabled.main"/><Default Extension="rels" ContentType="application/'
                   'vnd.openxmlformats-package.relationships+xml"/></Types>')
        z.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/'
                   f'officeDocument" Target="xl/workbook.bin"/></Relationships>')
        z.writestr("xl/_rels/workbook.bin.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns='
                   f'"http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
                   f'"{ns}/worksheet" Target="worksheets/sheet1.bin"/><Relationship Id="rId2" Type="{ns}/'
                   f'sharedStrings" Target="sharedStrings.bin"/></Relationships>')
        z.writestr("xl/workbook.bin", book)
        z.writestr("xl/worksheets/sheet1.bin", sheet1)
        z.writestr("xl/sharedStrings.bin", sst)
        z.writestr("docProps/core.xml", '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://'
                   'schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/'
                   'elements/1.1/"><dc:creator>สมชาย</dc:creator></cp:coreProperties>')
    return out.getvalue()


ORDINARY = ["ลำดับ", "ชื่อ-สกุล", "ตำแหน่ง", "หน่วยงาน", "นายสมชาย ใจดี", "สำนักงานเขตลาดกระบัง"]


def _reading(data: bytes, name: str = "2569_dds_0403_57_1.xlsb") -> tuple[str, str, bool]:
    found = classify_raw(letter(subject="ขอส่งบัญชีรายชื่อ", body=BODY, files=[COVER, (name, data)]))
    return found.level, found.where, found.certain


@pytest.mark.parametrize(("book", "level"), [
    (lambda: xlsb(["ลับที่สุด", *ORDINARY]), "top_secret"),  # a cell, shared string
    (lambda: xlsb(ORDINARY, inline=[["ลับมาก", "ก"]]), "secret"),  # inline, a one-letter cell after it
    (lambda: xlsb(ORDINARY, sheet="ลับมาก"), "secret"),  # the sheet's tab
    (lambda: xlsb(ORDINARY, head='&C&"TH SarabunPSK,Bold"&18ลับที่สุด&R&P'), "top_secret"),  # printed header
    (lambda: xlsb(ORDINARY, inline=[["ชั้นความลับ: ลับ"]]), "confidential"),
], ids=["shared string", "inline string", "sheet name", "header", "labelled"])
def test_a_marking_in_an_excel_binary_workbook_is_read(book, level):
    assert _reading(book()) == (level, "file 2", True)


def test_an_ordinary_binary_workbook_is_ordinary_and_certain():
    """It was ลับ, uncertain, every one: sealed for the secret registrar."""
    assert _reading(xlsb(ORDINARY, inline=[["กลับบ้าน ๑๖.๓๐ น.", "ความลับของทางราชการ"]], sheet="รายชื่อ",
                         head="&Cบัญชีรายชื่อ&R&P")) == ("none", "", True)


def test_a_record_is_never_read_into_the_next():
    """A one-letter inline cell's record header after ลับมาก reads, as UTF-16, ฆ: read
    through the records, the cell showed "ลับมากฆ", a word (the 97-2003 scan's way)."""
    part = record(CELL_ST, struct.pack("<II", 0, 0) + wide("ลับมาก")) + \
        record(CELL_ST, struct.pack("<II", 1, 0) + wide("ก"))
    assert "ลับมากฆ" in file_texts._wide_runs(part)[0]
    strings = file_texts._biff12_strings(part, [100])
    assert any(line == "ลับมาก" for text in file_texts._wide_runs(strings) for line in text.splitlines())


def test_a_damaged_or_endless_binary_workbook_is_said_unread(monkeypatch):
    def cut(data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as z:
            for info in src.infolist():
                part = src.read(info)
                z.writestr(info.filename, part[:-4] if info.filename.endswith("sharedStrings.bin") else part)
        return out.getvalue()

    # What was cut cannot be told: at least ลับ, uncertain; what it still shows is read.
    assert _reading(cut(xlsb(ORDINARY)))[::2] == ("confidential", False)
    assert _reading(cut(xlsb(["ลับที่สุด", *ORDINARY])))[::2] == ("top_secret", True)
    # Past the records read (5,000,000 a file; 2,000 here): at least ลับ, uncertain.
    monkeypatch.setattr(file_texts, "MAX_BIFF12_RECORDS", 2_000)
    level, _, certain = _reading(xlsb(ORDINARY[:1], inline=[["ก"]] * 1_000))
    assert (level, certain) == ("confidential", False)
    assert _reading(xlsb(ORDINARY[:1], inline=[["ก"]] * 100)) == ("none", "", True)


def test_over_smtp_a_top_secret_workbook_is_refused_a_secret_one_sealed_an_ordinary_one_held_in_plain(tmp_path):
    """An .xlsb may carry macros, so the rules hold its letter for the clerk
    (`executable`) either way: a marked one sealed, its reason kept for the secret
    registrar; an ordinary one, sealed as ลับ before (its reason hidden from the clerk
    too), now held in plain with the reason the clerk can act on."""
    from tests.classified.helpers import MARKER, assert_held_sealed, db_rows, sealing_daemon

    held = "select subject, reasons from quarantine where queue_id = ?"
    with sealing_daemon(tmp_path / "gw") as d:
        code, text = d.data_reply(letter(subject="ขอส่งบัญชีรายชื่อ", body=BODY,
                                         files=[COVER, ("2569_dds_0403_57_1.xlsb", xlsb(["ลับที่สุด", *ORDINARY]))]),
                                  LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)

        secret = letter(subject=f"ขอส่งบัญชีรายชื่อ {MARKER}", body=f"{BODY}{MARKER}\n",
                        files=[COVER, ("2569_dds_0403_57_1.xlsb", xlsb([*ORDINARY, MARKER], sheet="ลับมาก"))])
        qid = d.send(secret, LAT)
        assert_held_sealed(d, qid)

        ordinary = letter(subject="ขอส่งบัญชีรายชื่อ", body=BODY,
                          files=[COVER, ("2569_dds_0403_57_1.xlsb", xlsb(ORDINARY, sheet="รายชื่อ"))])
        qid = d.send(ordinary, LAT)
        d.wait_idle()
        [(subject, reasons)] = db_rows(d, held, qid)
        assert subject == "ขอส่งบัญชีรายชื่อ" and "2569_dds_0403_57_1.xlsb" in reasons, reasons
        assert not (d.data_dir / "secret" / qid).exists()
