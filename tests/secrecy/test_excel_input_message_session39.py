"""Session 39's red team: the input message of an Excel data validation (shown beside
the cell as soon as it is selected, the cell selected on opening too) was not read: a
ลับมาก there left the letter ordinary. Now each prompt title and message is a line."""
from __future__ import annotations

import io
import zipfile

from gateway.secrecy.markings import classify_raw
from tests.letters import letter


def _xlsx(sheet_extra, cell="x"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0"><selection activeCell="A1" sqref="A1"/></sheetView></sheetViews><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>' + cell + '</t></is></c></row></sheetData>' + sheet_extra + '</worksheet>')
    return b.getvalue()

VALIDATION = ('<dataValidations count="1"><dataValidation type="list" allowBlank="1" showInputMessage="1" '
              '{prompt} sqref="A1"><formula1>"a,b"</formula1></dataValidation></dataValidations>')


def _found(sheet_extra: str):
    return classify_raw(letter(subject="ขอส่งแผน", body="ดูไฟล์\n", files=[("2569_dds_0403_57_1.xlsx", _xlsx(sheet_extra))]))


def test_an_input_message_is_read():
    for prompt in ('promptTitle="ลับมาก" prompt="โปรดเลือก"', "prompt='ลับมาก'", 'promptTitle="&#3621;&#3633;&#3610;มาก"'):
        found = _found(VALIDATION.format(prompt=prompt))
        assert (found.level, found.certain) == ("secret", True), (prompt, found)


def test_an_input_message_without_a_marking_leaves_the_sheet_ordinary():
    found = _found(VALIDATION.format(prompt='promptTitle="สถานะ" prompt="เลือกจากรายการ"'))
    assert found.level == "none", found
